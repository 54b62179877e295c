import { monitorEventLoopDelay } from 'node:perf_hooks';
import { pingDatabase, type Database } from '../db/database.js';
import { pingRedis, type RedisClient } from '../cache/redis.js';
import { HEALTH_PING_TIMEOUT_MS, NOT_CONFIGURED, type WorkerHealthReport } from '../shared/health-types.js';

/**
 * Measures this worker's own health: dependencies pinged with short timeouts, event
 * loop lag over the last interval, in-flight requests, memory.
 */
export class HealthProbe {
  private readonly loopDelay = monitorEventLoopDelay({ resolution: 10 });
  private readonly startedAt = Date.now();

  constructor(
    private readonly db: Database,
    /** Absent without REDIS_URL: reported `not configured`. */
    private readonly redis: RedisClient | undefined,
    private readonly counters: { inflight: number; requestsServed: number },
  ) {
    this.loopDelay.enable();
  }

  async measure(): Promise<WorkerHealthReport> {
    const [database, redis] = await Promise.all([
      pingDatabase(this.db, HEALTH_PING_TIMEOUT_MS),
      this.redis && pingRedis(this.redis, HEALTH_PING_TIMEOUT_MS),
    ]);
    // The histogram's max minus the sampling resolution is how late timers fired.
    const lagMs = Math.max(0, this.loopDelay.max / 1e6 - 10);
    this.loopDelay.reset();
    return {
      database: database ? 'connected' : 'disconnected',
      redis: this.redis === undefined ? NOT_CONFIGURED : redis ? 'connected' : 'disconnected',
      eventLoopLagMs: Math.round(lagMs * 10) / 10,
      inflight: this.counters.inflight,
      rssBytes: process.memoryUsage.rss(),
      uptimeS: Math.round((Date.now() - this.startedAt) / 100) / 10,
      requestsServed: this.counters.requestsServed,
    };
  }

  stop(): void {
    this.loopDelay.disable();
  }
}
