import ratelimit from 'koa-ratelimit';
import type { Context, Middleware } from 'koa';
import { FIXED_WINDOW_RATELIMITER } from '../cache/fixed-window-ratelimiter.js';
import { RateLimitRedisAdapter } from '../cache/ratelimit-redis-adapter.js';
import type { AppDeps } from './context.js';
import { sendError } from './errors.js';
import { requestLogger } from './request-log.js';

export const RATE_LIMIT_MESSAGE = 'Rate limit exceeded. Try again later.';

/** Redis answers in well under a millisecond; past this deadline the request goes through. */
const REDIS_DEADLINE_MS = 500;
const FAIL_OPEN_LOG_INTERVAL_MS = 5000;

/** Load balancers probe /health: never refuse it (matched as loosely as the router matches it). */
function isExempt(path: string): boolean {
  return /^\/health\/?$/i.test(path);
}

/**
 * RATE_LIMIT_MAX requests per RATE_LIMIT_WINDOW_MS per client IP, counted in Redis so that
 * every worker and machine shares the count (fixed window: see fixed-window-ratelimiter.ts).
 * Every limited response carries X-RateLimit-Limit/Remaining/Reset; a blocked one is a 429
 * with Retry-After. When Redis cannot answer, requests go through: logged (throttled) and
 * counted, never a 500 and never a wait beyond a short deadline.
 */
export function rateLimit(deps: AppDeps): Middleware {
  const { config, metrics, log } = deps;
  const db = new RateLimitRedisAdapter(deps.redis, REDIS_DEADLINE_MS);
  db.defineCommand('ratelimiter', FIXED_WINDOW_RATELIMITER);
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

  let lastFailOpenLog = 0;
  let unloggedFailOpens = 0;
  const failOpen = (ctx: Context, error: unknown) => {
    metrics.rateLimitDecisions.inc({ decision: 'failed_open' });
    const now = Date.now();
    if (now - lastFailOpenLog < FAIL_OPEN_LOG_INTERVAL_MS) {
      unloggedFailOpens += 1;
      return;
    }
    requestLogger(ctx, log).warn(
      { err: error, alsoLetThroughSinceLastLog: unloggedFailOpens },
      'rate limiter cannot reach redis, request let through',
    );
    lastFailOpenLog = now;
    unloggedFailOpens = 0;
  };

  const block = (ctx: Context) => {
    metrics.rateLimitDecisions.inc({ decision: 'blocked' });
    // koa-ratelimit truncates Retry-After (0 in the window's last second). Count whole seconds
    // up to X-RateLimit-Reset instead, so that a client waiting that long is never refused.
    const resetSeconds = Number(ctx.response.get('X-RateLimit-Reset'));
    ctx.set('Retry-After', String(Math.max(1, Math.ceil(resetSeconds - Date.now() / 1000))));
    sendError(ctx, 429, RATE_LIMIT_MESSAGE);
  };

  return async (ctx, next) => {
    if (isExempt(ctx.path)) return next();
    let admitted = false;
    try {
      await limiter(ctx, () => {
        admitted = true;
        metrics.rateLimitDecisions.inc({ decision: 'allowed' });
        return next();
      });
    } catch (error) {
      // An error from downstream is not the limiter's: let the error envelope answer it.
      if (admitted) throw error;
      failOpen(ctx, error);
      return next();
    }
    if (!admitted) block(ctx);
  };
}
