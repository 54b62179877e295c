import Koa from 'koa';
import Router from '@koa/router';
import { EntryListCache, NO_ENTRY_LIST_CACHE } from '../cache/entry-list-cache.js';
import { RedisBreaker } from '../cache/redis-breaker.js';
import { EntriesRepository } from '../db/entries-repository.js';
import { StatsRepository } from '../db/stats-repository.js';
import { UsersRepository } from '../db/users-repository.js';
import { authenticate } from './authenticate.js';
import type { AppDeps } from './context.js';
import { EntryService } from './entry-service.js';
import { errorEnvelope } from './errors.js';
import { IdempotentRequests } from './idempotency.js';
import { rateLimit } from './rate-limit.js';
import { requestLog, requestLogger } from './request-log.js';
import { requestMetrics } from './request-metrics.js';
import { routeFallbacks } from './route-fallbacks.js';
import { authRoutes } from './routes/auth.js';
import { entryRoutes } from './routes/entries.js';
import { healthRoutes } from './routes/health.js';
import { pingRoutes } from './routes/ping.js';
import { statsRoutes } from './routes/stats.js';

/** The pattern of the route that serves this path and method, if any. */
function matchedPattern(router: Router, path: string, method: string): string | undefined {
  const layers = router.match(path, method).pathAndMethod;
  const layer = layers.findLast((candidate) => candidate.methods.length > 0);
  return layer ? String(layer.path) : undefined;
}

export function createApp(deps: AppDeps): Koa {
  const app = new Koa({ proxy: deps.config.trustProxy });
  app.silent = true;
  app.on('error', (error: Error, ctx: Koa.Context | undefined) => (ctx ? requestLogger(ctx, deps.log) : deps.log).debug({ err: error }, 'koa error'));

  // No OPTIONS: like the original, every method a path does not serve gets the 405 envelope.
  const router = new Router({ methods: ['HEAD', 'GET', 'PUT', 'PATCH', 'POST', 'DELETE'] });
  healthRoutes(router, deps);
  pingRoutes(router, deps);
  const users = new UsersRepository(deps.db);
  const requireUser = authenticate(deps.config.jwtSecret, (userId) => users.exists(userId));
  // One breaker for the worker's Redis client: the limiter and the cache see the same outage.
  // Without Redis the primary counts the rate limits and there is no entry list cache.
  const redisBreaker = deps.redis && new RedisBreaker(deps.config, deps.metrics.redisBreaker, deps.log);
  const entryLists = deps.redis && redisBreaker
    ? new EntryListCache(deps.redis, redisBreaker, deps.config.redisKeyPrefix, deps.metrics)
    : NO_ENTRY_LIST_CACHE;
  authRoutes(router, users, deps.config.jwtSecret);
  entryRoutes(router, requireUser, new EntryService(new EntriesRepository(deps.db), entryLists, new IdempotentRequests(deps.db)));
  statsRoutes(router, requireUser, new StatsRepository(deps.db));

  const patternOf = (ctx: Koa.Context) => matchedPattern(router, ctx.path, ctx.method);
  app.use(requestLog(deps.log, { accessLog: deps.config.accessLog, patternOf }));
  app.use(requestMetrics(deps.metrics, patternOf));
  app.use(errorEnvelope(deps.log));
  app.use(rateLimit(deps, redisBreaker));
  app.use(routeFallbacks());
  app.use(router.routes());
  app.use(router.allowedMethods());
  return app;
}
