import { expect } from 'chai';
import RateLimiter from 'async-ratelimiter';
import { FIXED_WINDOW_RATELIMITER } from '../../src/cache/fixed-window-ratelimiter.js';
import { RateLimitRedisAdapter } from '../../src/cache/ratelimit-redis-adapter.js';
import { closeRedis, createRedis, type RedisClient } from '../../src/cache/redis.js';
import { createLogger } from '../../src/shared/logger.js';
import { TEST_REDIS_URL, uniqueRedisPrefix } from '../support/databases.js';
import { testBreaker } from '../support/redis-breaker.js';
import { RedisServerProcess } from '../support/redis-server.js';
import { waitFor } from '../support/wait.js';

type Command = (...keysAndArgs: Array<string | number>) => Promise<unknown>;
const command = (adapter: RateLimitRedisAdapter, name: string) => (adapter as unknown as Record<string, Command>)[name]!;

describe('rate limit redis adapter (ioredis custom commands on node-redis v5)', function () {
  let redis: RedisClient;
  let prefix: string;

  before(async () => {
    redis = createRedis(TEST_REDIS_URL, createLogger('test', 'silent'));
    await redis.connect();
  });
  beforeEach(() => {
    prefix = uniqueRedisPrefix('adapter');
  });
  after(async () => {
    for await (const keys of redis.scanIterator({ MATCH: 'pulse-test:adapter:*', COUNT: 1000 })) {
      if (keys.length > 0) await redis.del(keys);
    }
    await closeRedis(redis);
  });

  it('runs a defined command with ioredis calling conventions: keys first, numbers as strings', async () => {
    const adapter = new RateLimitRedisAdapter(redis, testBreaker(), 1000);
    adapter.defineCommand('setAndEcho', {
      numberOfKeys: 2,
      lua: `redis.call('SET', KEYS[1], ARGV[1]); redis.call('SET', KEYS[2], ARGV[2]); return {KEYS[1], ARGV[1], tonumber(ARGV[2]) * 2}`,
    });
    const reply = await command(adapter, 'setAndEcho')(`${prefix}a`, `${prefix}b`, 'x', 21);
    expect(reply).to.deep.equal([`${prefix}a`, 'x', 42]);
    expect(await redis.get(`${prefix}b`)).to.equal('21');
    expect(await adapter.call('setAndEcho', `${prefix}a`, `${prefix}b`, 'y', 1)).to.deep.equal([`${prefix}a`, 'y', 2]);
  });

  it('loads the script again after Redis forgot it (SCRIPT FLUSH, as after a restart)', async () => {
    // A private server: flushing the shared one's script cache would disturb other tests.
    const server = await RedisServerProcess.start();
    const privateRedis = createRedis(server.url, createLogger('test', 'silent'));
    try {
      await privateRedis.connect();
      const adapter = new RateLimitRedisAdapter(privateRedis, testBreaker(), 1000);
      adapter.defineCommand('incrBy', { numberOfKeys: 1, lua: `return redis.call('INCRBY', KEYS[1], ARGV[1])` });
      expect(await adapter.call('incrBy', 'n', 2)).to.equal(2);
      await privateRedis.scriptFlush();
      expect(await adapter.call('incrBy', 'n', 3)).to.equal(5);
    } finally {
      await closeRedis(privateRedis);
      await server.close();
    }
  });

  it('rejects with the Redis error of a failing script, and for unknown commands', async () => {
    const adapter = new RateLimitRedisAdapter(redis, testBreaker(), 1000);
    adapter.defineCommand('broken', { numberOfKeys: 1, lua: `return redis.call('INCR', KEYS[1], 'extra')` });
    let failure: unknown;
    await adapter.call('broken', `${prefix}k`).catch((error: unknown) => (failure = error));
    expect(String(failure)).to.match(/wrong number of arg/i);
    await adapter.call('missing', 'k').catch((error: unknown) => (failure = error));
    expect(String(failure)).to.match(/not defined/);
  });

  it('hands the reply of the command called synchronously in observeReply to the observer too, and of no later one', async () => {
    const adapter = new RateLimitRedisAdapter(redis, testBreaker(), 1000);
    adapter.defineCommand('echo', { numberOfKeys: 0, lua: 'return ARGV[1]' });
    const observed: unknown[] = [];
    const first = adapter.observeReply(() => adapter.call('echo', 'first'), (reply) => observed.push(reply));
    const later = adapter.call('echo', 'later');
    expect(await first).to.equal('first');
    expect(await later).to.equal('later');
    let laterInside: Promise<unknown> | undefined;
    await adapter.observeReply(
      async () => {
        await Promise.resolve();
        laterInside = adapter.call('echo', 'after an await');
      },
      (reply) => observed.push(reply),
    );
    expect(await laterInside).to.equal('after an await');
    expect(observed).to.deep.equal(['first']);
  });

  it('refuses a command name that would shadow one of its own members', () => {
    const adapter = new RateLimitRedisAdapter(redis, testBreaker(), 1000);
    expect(() => adapter.defineCommand('call', { numberOfKeys: 0, lua: 'return 1' })).to.throw(/member/);
    expect(() => adapter.defineCommand('defineCommand', { numberOfKeys: 0, lua: 'return 1' })).to.throw(/member/);
  });

  it("serves async-ratelimiter's own sliding-log script unchanged (the driver defines it when missing)", async () => {
    const adapter = new RateLimitRedisAdapter(redis, testBreaker(), 1000);
    const limiter = new RateLimiter({ db: adapter as never, max: 3, duration: 60_000, namespace: `${prefix}sliding` });
    const remaining: number[] = [];
    for (let i = 0; i < 5; i += 1) remaining.push((await limiter.get({ id: 'client' })).remaining);
    expect(remaining).to.deep.equal([3, 2, 1, 0, 0]);
    expect(await redis.zCard(`${prefix}sliding:client`)).to.equal(3);
  });

  describe('the fixed-window script through async-ratelimiter', () => {
    const fixedWindowLimiter = (max: number, duration: number) => {
      const adapter = new RateLimitRedisAdapter(redis, testBreaker(), 1000);
      adapter.defineCommand('ratelimiter', FIXED_WINDOW_RATELIMITER);
      return new RateLimiter({ db: adapter as never, max, duration, namespace: `${prefix}fixed` });
    };

    it('lets max requests through, blocks the next ones and still counts them', async () => {
      const limiter = fixedWindowLimiter(3, 60_000);
      const before = Date.now();
      const answers = [];
      for (let i = 0; i < 5; i += 1) answers.push(await limiter.get({ id: 'client' }));
      expect(answers.map((a) => a.remaining)).to.deep.equal([3, 2, 1, 0, 0]);
      expect(answers.every((a) => a.total === 3)).to.equal(true);
      // Blocked requests count too (as in the original), in one integer counter.
      expect(await redis.get(`${prefix}fixed:client`)).to.equal('5');
      const ttl = await redis.pTTL(`${prefix}fixed:client`);
      expect(ttl).to.be.within(1, 60_000);
      // The reset is the window's end, fixed at the first request, rounded up to a second.
      for (const answer of answers) {
        expect(answer.reset * 1000).to.be.within(before + 60_000 - 1000, Date.now() + 60_000 + 1000);
        expect(answer.reset).to.equal(answers[0]!.reset);
      }
    });

    it('gives the whole quota back when the window ends', async () => {
      const limiter = fixedWindowLimiter(2, 300);
      const first = [await limiter.get({ id: 'c' }), await limiter.get({ id: 'c' }), await limiter.get({ id: 'c' })];
      expect(first.map((a) => a.remaining)).to.deep.equal([2, 1, 0]);
      await waitFor(async () => (await redis.exists(`${prefix}fixed:c`)) === 0, 'the window to expire', 5000, 25);
      expect((await limiter.get({ id: 'c' })).remaining).to.equal(2);
    });

    it('peeks without counting', async () => {
      const limiter = fixedWindowLimiter(3, 60_000);
      expect((await limiter.get({ id: 'p', peek: true })).remaining).to.equal(3);
      expect(await redis.exists(`${prefix}fixed:p`)).to.equal(0);
      await limiter.get({ id: 'p' });
      expect((await limiter.get({ id: 'p', peek: true })).remaining).to.equal(2);
      expect(await redis.get(`${prefix}fixed:p`)).to.equal('1');
    });

    it('replies the time left in the window as well, and shortens an expiry longer than the window', async () => {
      const adapter = new RateLimitRedisAdapter(redis, testBreaker(), 1000);
      adapter.defineCommand('ratelimiter', FIXED_WINDOW_RATELIMITER);
      const key = `${prefix}fixed:long`;
      await redis.set(key, '1', { PX: 3_600_000 });
      const [remaining, reset, max, windowLeftMs] = (await adapter.call('ratelimiter', key, 0, 60_000, 3, '0')) as number[];
      expect([remaining, max]).to.deep.equal([2, 3]);
      expect(windowLeftMs).to.equal(60_000);
      expect(await redis.pTTL(key)).to.be.within(59_000, 60_000);
      expect(reset! * 1000).to.be.within(Date.now() + 59_000, Date.now() + 61_000);
    });

    it('gives a counter left without expiry one, so nobody stays blocked forever', async () => {
      await redis.set(`${prefix}fixed:stuck`, '1000');
      const limiter = fixedWindowLimiter(3, 60_000);
      expect((await limiter.get({ id: 'stuck' })).remaining).to.equal(0);
      expect(await redis.pTTL(`${prefix}fixed:stuck`)).to.be.within(1, 60_000);
    });
  });
});
