import type { LuaCommandDefinition } from './ratelimit-redis-adapter.js';

/**
 * A fixed-window counter that speaks async-ratelimiter's script contract, so that
 * koa-ratelimit can run it in place of async-ratelimiter's sliding log (async-ratelimiter
 * exports its script as `defineCommand.ratelimiter` and defines it only when the db has
 * no `ratelimiter` command yet).
 * KEYS[1] = the client's counter; ARGV = now (epoch ms), window (ms), max, peek ('1' = do
 * not count). Reply: {requests left before this one (0 = blocked), window end (epoch s,
 * rounded up), max}.
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
 * found without an expiry gets one, so no client can be blocked forever.
 */
export const FIXED_WINDOW_RATELIMITER: LuaCommandDefinition = {
  numberOfKeys: 1,
  lua: `
    local now = tonumber(ARGV[1])
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
    if ttl < 0 then
      ttl = window
      if not peek then redis.call('PEXPIRE', KEYS[1], window) end
    end
    local remaining = max - count + 1
    if remaining < 0 then remaining = 0 end
    return {remaining, math.ceil((now + ttl) / 1000), max}
  `,
};
