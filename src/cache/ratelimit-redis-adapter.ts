import { withDeadline } from '../shared/deadline.js';
import type { FixedWindowReply } from './fixed-window-ratelimiter.js';
import { ObservableCommands } from './observable-commands.js';
import type { RedisBreaker } from './redis-breaker.js';
import type { RedisClient } from './redis.js';

/**
 * koa-ratelimit's `db` on Redis. Its driver (async-ratelimiter) calls `db.ratelimiter(key,
 * now, duration, max, peek)` per request, and defines a command of its own (ioredis'
 * defineCommand) only when the db has no `ratelimiter`: this one runs the client's
 * FIXED_WINDOW_RATELIMITER script, registered in createRedis. Each call is bounded by
 * `deadlineMs` and goes through the worker's Redis breaker, so that a hung Redis holds a
 * request for one deadline at most, and none once the breaker is open.
 */
export class RateLimitRedisAdapter extends ObservableCommands {
  constructor(
    private readonly redis: RedisClient,
    private readonly breaker: RedisBreaker,
    private readonly deadlineMs: number,
  ) {
    super();
  }

  ratelimiter(key: string, now: number, duration: number | string, max: number | string, peek: string): Promise<FixedWindowReply> {
    return this.observed(() =>
      this.breaker.run('rate_limit', () => {
        // The client types a script's array reply as number[]; the script replies four numbers.
        const reply = this.redis.ratelimiter(key, now, duration, max, peek) as Promise<FixedWindowReply>;
        return withDeadline(reply, this.deadlineMs, 'redis rate limiter');
      }),
    );
  }
}
