import { Registry } from 'prom-client';
import { createRedisBreakerMetrics, RedisBreaker, type RedisBreakerMetrics } from '../../src/cache/redis-breaker.js';
import { createLogger, type Logger } from '../../src/shared/logger.js';

export interface TestBreakerOptions {
  /** Default 5, as in production. */
  threshold?: number;
  coolOffMs?: number;
  metrics?: RedisBreakerMetrics;
  log?: Logger;
}

/** A Redis breaker for a test that builds its Redis users by hand (the app builds its own). */
export function testBreaker(options: TestBreakerOptions = {}): RedisBreaker {
  return new RedisBreaker(
    { redisBreakerThreshold: options.threshold ?? 5, redisBreakerCoolOffMs: options.coolOffMs ?? 1000 },
    options.metrics ?? createRedisBreakerMetrics(new Registry()),
    options.log ?? createLogger('test', 'silent'),
  );
}
