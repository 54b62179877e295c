import ratelimit from 'koa-ratelimit';
import type { Context, Middleware } from 'koa';
import { isFixedWindowReply } from '../cache/fixed-window-ratelimiter.js';
import type { ObservableCommands } from '../cache/observable-commands.js';
import { RateLimitPrimaryAdapter } from '../cache/ratelimit-primary-adapter.js';
import { RateLimitRedisAdapter } from '../cache/ratelimit-redis-adapter.js';
import { ThrottledLog } from '../shared/throttled-log.js';
import { isBreakerOpen, type RedisBreaker } from '../cache/redis-breaker.js';
import type { AppDeps } from './context.js';
import { sendError } from './errors.js';
import { requestLogger } from './request-log.js';

export const RATE_LIMIT_MESSAGE = 'Rate limit exceeded. Try again later.';

/** Redis and the primary answer in well under a millisecond; past this deadline the request goes through. */
const STORE_DEADLINE_MS = 500;

/** Load balancers probe /health: never refuse it (matched as loosely as the router matches it). */
function isExempt(path: string): boolean {
  return /^\/health\/?$/i.test(path);
}

/** Where the counts live: Redis (shared by every host), else the primary (this host's workers). */
function limiterStore(deps: AppDeps, breaker: RedisBreaker | undefined): { db: ObservableCommands; name: string } {
  if (deps.redis) {
    if (!breaker) throw new Error("the Redis rate limiter needs the worker's Redis breaker");
    return { db: new RateLimitRedisAdapter(deps.redis, breaker, STORE_DEADLINE_MS), name: 'redis' };
  }
  if (!deps.primaryStore) throw new Error('no rate-limit store: neither a Redis client nor the primary');
  return { db: new RateLimitPrimaryAdapter(deps.primaryStore, STORE_DEADLINE_MS), name: 'the primary' };
}

/**
 * RATE_LIMIT_MAX requests per RATE_LIMIT_WINDOW_MS per client IP, counted in Redis so that
 * every worker and machine shares the count, or without Redis by the primary so that every
 * worker of the host does (fixed window: see fixed-window-ratelimiter.ts).
 * Every limited response carries X-RateLimit-Limit/Remaining/Reset; a blocked one is a 429
 * with Retry-After. When the store cannot answer, requests go through: counted, never a 500
 * and never a wait beyond a short deadline (none while the Redis breaker is open); store
 * failures are logged (throttled), skips by the open breaker only counted (the breaker
 * logs when it opens and closes).
 */
export function rateLimit(deps: AppDeps, breaker: RedisBreaker | undefined): Middleware {
  const { config, metrics, log } = deps;
  const store = limiterStore(deps, breaker);
  const { db } = store;
  const limiter = ratelimit({
    driver: 'redis',
    // The typings name an ioredis client; the driver only calls what the adapter provides.
    db: db as unknown as ratelimit.MiddlewareOptions['db'],
    max: config.rateLimitMax,
    duration: config.rateLimitWindowMs,
    namespace: `${config.redisKeyPrefix}ratelimit`,
    // Koa reads X-Forwarded-For for ctx.ip only when app.proxy (TRUST_PROXY) is on.
    id: (ctx) => ctx.ip,
    errorMessage: RATE_LIMIT_MESSAGE,
  });

  const failOpenLog = new ThrottledLog(log, 'warn');
  const failOpen = (ctx: Context, error: unknown) => {
    metrics.rateLimitDecisions.inc({ decision: 'failed_open' });
    if (isBreakerOpen(error)) return;
    const { message } = error as Error;
    failOpenLog.record(message, `rate limiter cannot reach ${store.name}, request let through`, { err: error }, { err: { message } }, requestLogger(ctx, log));
  };

  /**
   * koa-ratelimit's Retry-After is the reset minus this worker's clock, truncated (0 in the
   * window's last second, 60 or 61 at its start, early after a clock step). Announce what
   * the store said is left of the window instead, in whole seconds rounded up: a client that
   * waits that long is admitted, and it never exceeds the window.
   */
  const block = (ctx: Context, windowLeftMs: number) => {
    metrics.rateLimitDecisions.inc({ decision: 'blocked' });
    ctx.set('Retry-After', String(Math.ceil(Math.min(windowLeftMs, config.rateLimitWindowMs) / 1000)));
    sendError(ctx, 429, RATE_LIMIT_MESSAGE);
  };

  return async (ctx, next) => {
    if (isExempt(ctx.path)) return next();
    let admitted = false;
    let windowLeftMs = config.rateLimitWindowMs;
    const admit = () => {
      admitted = true;
      metrics.rateLimitDecisions.inc({ decision: 'allowed' });
      return next();
    };
    try {
      await db.observeReply(
        () => limiter(ctx, admit),
        (reply) => {
          if (isFixedWindowReply(reply)) windowLeftMs = reply[3];
        },
      );
    } catch (error) {
      // An error from downstream is not the limiter's: let the error envelope answer it.
      if (admitted) throw error;
      failOpen(ctx, error);
      return next();
    }
    if (!admitted) block(ctx, windowLeftMs);
  };
}
