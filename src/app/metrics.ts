import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type Aggregator } from 'prom-client';
import { connectionsGivenUpCount, type Database } from '../db/database.js';
import type { RedisClient } from '../cache/redis.js';
import { createRedisBreakerMetrics, type RedisBreakerMetrics } from '../cache/redis-breaker.js';

/** Label used for requests that matched no route, so raw URLs never become labels. */
export const UNMATCHED_ROUTE = '<unmatched>';

export const RATE_LIMIT_DECISIONS = ['allowed', 'blocked', 'failed_open'] as const;

/**
 * How the primary merges each default metric across workers where a sum means nothing
 * (AggregatorRegistry sums the rest: CPU seconds, memory, handles, GC). Per-process
 * limits and levels take the highest worker, so they compare with each other
 * (open fds / max fds) and a single lagging worker shows; the start time is the newest
 * worker's (it changes whenever a worker is replaced).
 */
export const DEFAULT_METRIC_AGGREGATORS: Record<string, Aggregator> = {
  process_max_fds: 'max',
  process_open_fds: 'max',
  process_start_time_seconds: 'max',
  nodejs_eventloop_lag_seconds: 'max',
  nodejs_eventloop_lag_max_seconds: 'max',
  nodejs_eventloop_lag_p90_seconds: 'max',
  nodejs_eventloop_lag_p99_seconds: 'max',
};

export interface AppMetrics {
  registry: Registry;
  httpRequestsTotal: Counter<'method' | 'route' | 'status'>;
  httpRequestDuration: Histogram<'method' | 'route' | 'status'>;
  rateLimitDecisions: Counter<'decision'>;
  cacheLookups: Counter<'cache' | 'result'>;
  cacheWriteFailures: Counter<'write' | 'reason'>;
  redisBreaker: RedisBreakerMetrics;
}

/** Where a worker counts rate limits: Redis (shared by every host), or the primary (no REDIS_URL). */
export type RateLimitStore = 'redis' | 'primary';

export function createAppMetrics(deps: { db: Database; redis: RedisClient | undefined }): AppMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  for (const [name, aggregator] of Object.entries(DEFAULT_METRIC_AGGREGATORS)) {
    const metric = registry.getSingleMetric(name);
    if (!metric) throw new Error(`prom-client no longer registers the default metric ${name}`);
    Object.assign(metric, { aggregator });
  }

  const httpRequestsTotal = new Counter({
    name: 'http_requests_total',
    help: 'HTTP requests answered, by method, route pattern and status code',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  const httpRequestDuration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration in seconds, by method, route pattern and status code',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const rateLimitDecisions = new Counter({
    name: 'pulse_rate_limit_decisions_total',
    help: 'Rate limiter decisions (allowed, blocked, failed_open: let through because its store, Redis or the primary, could not answer)',
    labelNames: ['decision'] as const,
    registers: [registry],
  });
  // Every decision exists from the start, so that rate() and alerts see the first one.
  for (const decision of RATE_LIMIT_DECISIONS) rateLimitDecisions.inc({ decision }, 0);
  const cacheLookups = new Counter({
    name: 'pulse_cache_lookups_total',
    help: 'Entry list cache lookups by cache and result (hit; miss; error: Redis failed; bypassed: skipped while the Redis breaker is open)',
    labelNames: ['cache', 'result'] as const,
    registers: [registry],
  });
  const cacheWriteFailures = new Counter({
    name: 'pulse_cache_write_failures_total',
    help: 'Entry list cache writes Redis did not take, by write (store_count, store_first_page, invalidate) and reason (error, bypassed)',
    labelNames: ['write', 'reason'] as const,
    registers: [registry],
  });
  const { redis } = deps;
  new Gauge({
    name: 'pulse_rate_limit_store',
    help: 'Where the workers count rate limits (always 1): redis, shared by every host; primary, without REDIS_URL, shared by the workers of this host only',
    labelNames: ['store'] as const,
    registers: [registry],
    aggregator: 'max',
  }).set({ store: (redis ? 'redis' : 'primary') satisfies RateLimitStore }, 1);
  // Without Redis, no Redis series: nothing to alert on for a dependency never configured.
  if (redis) {
    new Gauge({
      name: 'pulse_redis_up',
      help: '1 when this worker\'s Redis client is connected and ready',
      registers: [registry],
      aggregator: 'min',
      collect() {
        this.set(redis.isReady ? 1 : 0);
      },
    });
  }
  new Counter({
    name: 'pulse_db_connections_given_up_total',
    help: 'Database connections destroyed because a statement on them got no answer within its deadline',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(connectionsGivenUpCount(deps.db));
    },
  });
  new Gauge({
    name: 'pulse_db_pool_connections',
    help: 'knex (tarn) pool connections by state',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      const pool = deps.db.client.pool as
        | { numUsed(): number; numFree(): number; numPendingAcquires(): number; numPendingCreates(): number }
        | undefined;
      if (!pool) return;
      this.set({ state: 'used' }, pool.numUsed());
      this.set({ state: 'free' }, pool.numFree());
      this.set({ state: 'pending_acquire' }, pool.numPendingAcquires());
      this.set({ state: 'pending_create' }, pool.numPendingCreates());
    },
  });

  const redisBreaker = createRedisBreakerMetrics(redis ? registry : new Registry());

  return { registry, httpRequestsTotal, httpRequestDuration, rateLimitDecisions, cacheLookups, cacheWriteFailures, redisBreaker };
}
