import type { Database } from '../db/database.js';
import type { PrimaryRateLimitStore } from '../cache/ratelimit-primary-adapter.js';
import type { RedisClient } from '../cache/redis.js';
import type { Config } from '../shared/config.js';
import type { HealthAnswer } from '../shared/health-types.js';
import type { Logger } from '../shared/logger.js';
import type { AppMetrics } from './metrics.js';

/** Everything the Koa app needs from the process that hosts it. */
export interface AppDeps {
  config: Config;
  db: Database;
  /** Absent without REDIS_URL: the primary then counts the rate limits (primaryStore) and the entry list cache is off. */
  redis: RedisClient | undefined;
  /** The primary's rate-limit windows (the single-host store), used when there is no Redis. */
  primaryStore?: PrimaryRateLimitStore;
  log: Logger;
  metrics: AppMetrics;
  /** The primary's combined health, asked over IPC; undefined if it did not answer. */
  health: () => Promise<HealthAnswer | undefined>;
}
