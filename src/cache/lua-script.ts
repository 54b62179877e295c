import crypto from 'node:crypto';
import { ErrorReply } from 'redis';
import type { RedisClient } from './redis.js';

/**
 * A Lua script run by its SHA1 (EVALSHA), loaded with EVAL when Redis does not know it
 * yet (first use, or after a Redis restart flushed the script cache), as ioredis does.
 */
export class LuaScript {
  readonly sha1: string;

  constructor(
    readonly source: string,
    readonly numberOfKeys: number,
  ) {
    this.sha1 = crypto.createHash('sha1').update(source).digest('hex');
  }

  async run(redis: RedisClient, keys: string[], args: Array<string | number>): Promise<unknown> {
    if (keys.length !== this.numberOfKeys) {
      throw new Error(`script expects ${this.numberOfKeys} keys, got ${keys.length}`);
    }
    const options = { keys, arguments: args.map(String) };
    try {
      return await redis.evalSha(this.sha1, options);
    } catch (error) {
      if (!(error instanceof ErrorReply && error.message.startsWith('NOSCRIPT'))) throw error;
      return redis.eval(this.source, options);
    }
  }
}
