import { defineScript, type CommandParser } from 'redis';

/**
 * The entry list cache's stores: each writes only while none of the user's write fences
 * exists (see EntryListCache), in one script so that no invalidation can land between the
 * check and the write. Both reply 1 when stored, 0 when fenced.
 */

/** KEYS: value, then the fences. ARGV: value, TTL in seconds. */
export const SET_UNLESS_FENCED = defineScript({
  NUMBER_OF_KEYS: 3,
  SCRIPT: `
    if redis.call('EXISTS', KEYS[2], KEYS[3]) > 0 then return 0 end
    redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
    return 1
  `,
  parseCommand(parser: CommandParser, key: string, fenceKeys: readonly [string, string], value: string | number, ttlSeconds: number) {
    parser.pushKey(key);
    for (const fenceKey of fenceKeys) parser.pushKey(fenceKey);
    parser.push(String(value), String(ttlSeconds));
  },
  transformReply: (reply: unknown) => reply === 1,
});

/** KEYS: hash, then the fences. ARGV: field, value, TTL in seconds (of the whole hash). */
export const HSET_UNLESS_FENCED = defineScript({
  NUMBER_OF_KEYS: 3,
  SCRIPT: `
    if redis.call('EXISTS', KEYS[2], KEYS[3]) > 0 then return 0 end
    redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
    redis.call('EXPIRE', KEYS[1], ARGV[3])
    return 1
  `,
  parseCommand(parser: CommandParser, key: string, fenceKeys: readonly [string, string], field: string | number, value: string, ttlSeconds: number) {
    parser.pushKey(key);
    for (const fenceKey of fenceKeys) parser.pushKey(fenceKey);
    parser.push(String(field), value, String(ttlSeconds));
  },
  transformReply: (reply: unknown) => reply === 1,
});
