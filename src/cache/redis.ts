import { createClient } from 'redis';
import { withDeadline } from '../shared/deadline.js';
import type { Logger } from '../shared/logger.js';
import { ThrottledLog } from '../shared/throttled-log.js';
import { HSET_UNLESS_FENCED, SET_UNLESS_FENCED } from './fenced-store-scripts.js';
import { FIXED_WINDOW_RATELIMITER } from './fixed-window-ratelimiter.js';

/**
 * Pulse's Lua scripts, as commands of the client: node-redis runs them by SHA1 (EVALSHA)
 * and sends the source again when Redis does not know it (first use, or a restarted Redis).
 */
const SCRIPTS = {
  ratelimiter: FIXED_WINDOW_RATELIMITER,
  setUnlessFenced: SET_UNLESS_FENCED,
  hSetUnlessFenced: HSET_UNLESS_FENCED,
};

export type RedisClient = ReturnType<typeof createRedis>;

/**
 * A node-redis client that fails fast while Redis is away (no offline queue, so callers
 * fall back instead of waiting) and reconnects on its own with capped backoff.
 */
export function createRedis(url: string, log: Logger) {
  const client = createClient({
    url,
    scripts: SCRIPTS,
    disableOfflineQueue: true,
    socket: {
      connectTimeout: 2000,
      reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 1000),
    },
  });
  // Reconnect attempts raise an error each: each kind in full once, then counted.
  const errors = new ThrottledLog(log, 'warn');
  client.on('error', (error: Error) => errors.record(error.message, 'redis error', { err: error }));
  return client;
}

export async function pingRedis(client: RedisClient, timeoutMs: number): Promise<boolean> {
  if (!client.isReady) return false;
  try {
    return (await withDeadline(client.ping(), timeoutMs, 'redis ping')) === 'PONG';
  } catch {
    return false;
  }
}

/** Closes the client whatever state it is in; never throws. */
export async function closeRedis(client: RedisClient): Promise<void> {
  try {
    if (client.isOpen) await client.close();
  } catch {
    client.destroy();
  }
}
