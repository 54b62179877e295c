import type { Database } from '../db/database.js';
import type { RedisClient } from '../cache/redis.js';
import type { Config } from '../shared/config.js';
import type { HealthAnswer } from '../shared/health-types.js';
import type { Logger } from '../shared/logger.js';
import type { AppMetrics } from './metrics.js';

/** Everything the Koa app needs from the process that hosts it. */
export interface AppDeps {
  config: Config;
  db: Database;
  redis: RedisClient;
  log: Logger;
  metrics: AppMetrics;
  /** The primary's combined health, asked over IPC; undefined if it did not answer. */
  health: () => Promise<HealthAnswer | undefined>;
}
