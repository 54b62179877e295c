import type { RateLimitHit } from '../shared/ipc-protocol.js';
import type { FixedWindowReply } from './fixed-window-ratelimiter.js';
import { ObservableCommands } from './observable-commands.js';

/** The primary's side of the single-host store, as a worker reaches it (its IPC channel). */
export interface PrimaryRateLimitStore {
  /** Counts the hit in the primary's window; undefined when the primary did not answer in time. */
  countRateLimit(hit: RateLimitHit, timeoutMs: number): Promise<FixedWindowReply | undefined>;
}

/**
 * koa-ratelimit's `db` without Redis: async-ratelimiter calls `db.ratelimiter(key, now,
 * duration, max, peek)` per request (and defines no command of its own, since this one
 * exists); it is answered by the primary's fixed window (src/primary/rate-limit-windows.ts)
 * with the reply FIXED_WINDOW_RATELIMITER gives on Redis, so everything above the store is
 * shared. `now` is ignored: the primary's clock times the window. A primary that does not
 * answer within `deadlineMs` fails the call, and the limiter lets the request through.
 */
export class RateLimitPrimaryAdapter extends ObservableCommands {
  constructor(
    private readonly primary: PrimaryRateLimitStore,
    private readonly deadlineMs: number,
  ) {
    super();
  }

  ratelimiter(key: string, _now: number, duration: number | string, max: number | string, peek: string): Promise<FixedWindowReply> {
    const hit = { key, windowMs: Number(duration), max: Number(max), peek: peek === '1' };
    return this.observed(async () => {
      const reply = await this.primary.countRateLimit(hit, this.deadlineMs);
      if (!reply) throw new Error(`the primary did not answer the rate limiter within ${this.deadlineMs} ms`);
      return reply;
    });
  }
}
