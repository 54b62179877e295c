import { defineScript, type CommandParser } from 'redis';

/** The reply of FIXED_WINDOW_RATELIMITER. */
export type FixedWindowReply = [remaining: number, resetEpochSeconds: number, max: number, windowLeftMs: number];

export function isFixedWindowReply(reply: unknown): reply is FixedWindowReply {
  return Array.isArray(reply) && reply.length === 4 && reply.every((value) => typeof value === 'number');
}

/**
 * A fixed-window counter that speaks async-ratelimiter's script contract, so that
 * koa-ratelimit can run it in place of async-ratelimiter's sliding log (async-ratelimiter
 * exports its script as `defineCommand.ratelimiter` and defines it only when the db has
 * no `ratelimiter` command yet).
 * KEYS[1] = the client's counter; ARGV = now (ignored, see below), window (ms), max, peek
 * ('1' = do not count). Reply: {requests left before this one (0 = blocked), window end
 * (epoch s, rounded up), max, time left in the window (ms)}; async-ratelimiter reads the
 * first three, the fourth is for Retry-After.
 *
 * Why a fixed window rather than the sliding log:
 * - it is the original service's contract: INCR with the expiry set on the first hit,
 *   the 101st request of a window blocked, blocked requests still counted, and the
 *   whole quota back when the window ends, which is what X-RateLimit-Reset announces;
 * - Redis alone times the window (PEXPIRE/PTTL); the sliding log scores each request
 *   with the app server's clock, so clock skew between machines moves the window;
 * - one integer per client and O(1) per request, instead of a sorted set of up to
 *   `max` entries per client.
 * The known cost of any fixed window stays, as in the original: a client can fit up to
 * 2×max requests around a window boundary.
 * Unlike the original, the INCR and the expiry are one atomic script, and a counter
 * found without an expiry (or with one longer than the window, after the window was
 * shortened) gets the window's, so no client can be blocked forever or beyond a window.
 *
 * The announced window end is Redis' own clock (TIME) plus the counter's PTTL, not the
 * `now` koa-ratelimit passes: that is async-ratelimiter's `microtime`, the wall clock read
 * once when the module loaded plus a monotonic offset, so a worker that started before a
 * clock correction announces an early reset for its whole life. With TIME every worker and
 * machine announces the same instant, the one at which Redis drops the counter.
 */
export const FIXED_WINDOW_RATELIMITER = defineScript({
  NUMBER_OF_KEYS: 1,
  SCRIPT: `
    local window = tonumber(ARGV[2])
    local max = tonumber(ARGV[3])
    local peek = ARGV[4] == '1'
    local count
    if peek then
      count = tonumber(redis.call('GET', KEYS[1]) or '0') + 1
    else
      count = redis.call('INCR', KEYS[1])
    end
    local ttl = redis.call('PTTL', KEYS[1])
    if ttl < 0 or ttl > window then
      ttl = window
      if not peek then redis.call('PEXPIRE', KEYS[1], window) end
    end
    local time = redis.call('TIME')
    local nowMs = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
    local remaining = max - count + 1
    if remaining < 0 then remaining = 0 end
    return {remaining, math.ceil((nowMs + ttl) / 1000), max, ttl}
  `,
  /** async-ratelimiter's arguments: key, now, window (ms), max, peek ('1' or '0'). */
  parseCommand(parser: CommandParser, key: string, now: number | string, windowMs: number | string, max: number | string, peek: string) {
    parser.pushKey(key);
    parser.push(String(now), String(windowMs), String(max), peek);
  },
  transformReply: (reply: unknown) => reply as FixedWindowReply,
});
