import { withDeadline } from '../shared/deadline.js';
import { LuaScript } from './lua-script.js';
import { ObservableCommands } from './observable-commands.js';
import type { RedisBreaker } from './redis-breaker.js';
import type { RedisClient } from './redis.js';

/** A custom command as ioredis' `defineCommand` takes it. */
export interface LuaCommandDefinition {
  numberOfKeys: number;
  lua: string;
}

/**
 * The part of the ioredis client API that koa-ratelimit's `redis` driver
 * (async-ratelimiter 1.6) calls on its `db`, on top of a node-redis v5 client.
 *
 * async-ratelimiter only uses ioredis custom commands: `db.defineCommand(name,
 * {numberOfKeys, lua})` unless `db[name]` already exists, then `db[name](...keys,
 * ...args)` per request, resolving to the script's reply or rejecting. Each call is
 * bounded by `deadlineMs` and goes through the worker's Redis breaker, so that a hung
 * Redis holds a request for one deadline at most, and none once the breaker is open.
 */
export class RateLimitRedisAdapter extends ObservableCommands {
  private readonly commands = new Map<string, LuaScript>();

  constructor(
    private readonly redis: RedisClient,
    private readonly breaker: RedisBreaker,
    private readonly deadlineMs: number,
  ) {
    super();
  }

  defineCommand(name: string, definition: LuaCommandDefinition): void {
    if (name in this && !this.commands.has(name)) {
      throw new Error(`cannot define command "${name}": the adapter has a member of that name`);
    }
    this.commands.set(name, new LuaScript(definition.lua, definition.numberOfKeys));
    Object.defineProperty(this, name, {
      value: (...keysAndArgs: Array<string | number>) => this.call(name, ...keysAndArgs),
      configurable: true,
    });
  }

  /** Runs a defined command: the first `numberOfKeys` values are keys, the rest arguments. */
  call(name: string, ...keysAndArgs: Array<string | number>): Promise<unknown> {
    return this.observed(() => {
      const script = this.commands.get(name);
      if (!script) return Promise.reject(new Error(`command "${name}" is not defined`));
      const keys = keysAndArgs.slice(0, script.numberOfKeys).map(String);
      const args = keysAndArgs.slice(script.numberOfKeys);
      return this.breaker.run('rate_limit', () => withDeadline(script.run(this.redis, keys, args), this.deadlineMs, `redis command ${name}`));
    });
  }
}
