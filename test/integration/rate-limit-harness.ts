import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type Koa from 'koa';
import { pino } from 'pino';
import { createApp } from '../../src/app/app.js';
import type { AppDeps } from '../../src/app/context.js';
import { createAppMetrics } from '../../src/app/metrics.js';
import { closeRedis, createRedis, type RedisClient } from '../../src/cache/redis.js';
import { createDatabase } from '../../src/db/database.js';
import { loadConfig } from '../../src/shared/config.js';
import { POSTGRES_ADMIN_URL, TEST_REDIS_URL, uniqueRedisPrefix } from '../support/databases.js';

export interface LimitedApp {
  url: string;
  deps: AppDeps & { redis: RedisClient };
  /** Log lines the app wrote, parsed. */
  logs: Array<{ level: number; msg: string; [key: string]: unknown }>;
  get(path: string, headers?: Record<string, string>): Promise<Response>;
  /** The current value of a labelled app counter. */
  counter(name: 'rateLimitDecisions' | 'cacheLookups', labels?: Record<string, string>): Promise<number>;
  close(): Promise<void>;
}

/**
 * An app in-process on a free port with its own Redis prefix, for rate limit tests. The
 * routes these tests call (/ping, /health, unknown paths) never touch the database, so
 * none is created: knex connects lazily. `build` swaps the real createApp for a test app.
 */
export async function startLimitedApp(
  env: Record<string, string>,
  options: { redisUrl?: string; build?: (deps: AppDeps) => Koa } = {},
): Promise<LimitedApp> {
  const redisUrl = options.redisUrl ?? TEST_REDIS_URL;
  const config = loadConfig({
    DATABASE_URL: POSTGRES_ADMIN_URL,
    REDIS_URL: redisUrl,
    REDIS_KEY_PREFIX: uniqueRedisPrefix('ratelimit'),
    ...env,
  });
  const logs: LimitedApp['logs'] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line)) });
  const db = createDatabase(config.databaseUrl, { poolMax: 1 });
  const redis = createRedis(redisUrl, log);
  await redis.connect();
  const metrics = createAppMetrics({ db, redis });
  const deps: LimitedApp['deps'] = { config, db, redis, log, metrics, health: async () => undefined };
  const app = (options.build ?? createApp)(deps);
  const server = http.createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    deps,
    logs,
    get: (path, headers = {}) => fetch(`${url}${path}`, { headers }),
    async counter(name, labels = {}) {
      const { values } = await metrics[name].get();
      const matching = values.filter((v) => Object.entries(labels).every(([k, want]) => String(v.labels[k as never]) === want));
      return matching.reduce((sum, v) => sum + v.value, 0);
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await db.destroy();
      await closeRedis(redis);
    },
  };
}
