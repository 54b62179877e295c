import { expect } from 'chai';
import RateLimiter from 'async-ratelimiter';
import { RateLimitRedisAdapter } from '../../src/cache/ratelimit-redis-adapter.js';
import { closeRedis, createRedis, type RedisClient } from '../../src/cache/redis.js';
import { createLogger } from '../../src/shared/logger.js';
import { TEST_REDIS_URL, uniqueRedisPrefix } from '../support/databases.js';
import { testBreaker } from '../support/redis-breaker.js';
import { RedisServerProcess } from '../support/redis-server.js';
import { waitFor } from '../support/wait.js';

describe('rate limit redis adapter (koa-ratelimit db on node-redis v5)', function () {
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

  it('runs the fixed-window script again after Redis forgot it (SCRIPT FLUSH, as after a restart)', async () => {
    // A private server: flushing the shared one's script cache would disturb other tests.
    const server = await RedisServerProcess.start();
    const privateRedis = createRedis(server.url, createLogger('test', 'silent'));
    try {
      await privateRedis.connect();
      const adapter = new RateLimitRedisAdapter(privateRedis, testBreaker(), 1000);
      expect((await adapter.ratelimiter('n', 0, 60_000, 3, '0'))[0]).to.equal(3);
      await privateRedis.scriptFlush();
      expect((await adapter.ratelimiter('n', 0, 60_000, 3, '0'))[0]).to.equal(2);
    } finally {
      await closeRedis(privateRedis);
      await server.close();
    }
  });

  it('hands the reply of the command called synchronously in observeReply to the observer too, and of no later one', async () => {
    const adapter = new RateLimitRedisAdapter(redis, testBreaker(), 1000);
    const observed: unknown[] = [];
    const call = (id: string) => adapter.ratelimiter(`${prefix}${id}`, 0, 60_000, 5, '0');
    const first = adapter.observeReply(() => call('first'), (reply) => observed.push(reply));
    const later = call('later');
    expect((await first)[0]).to.equal(5);
    expect((await later)[0]).to.equal(5);
    let laterInside: Promise<unknown> | undefined;
    await adapter.observeReply(
      async () => {
        await Promise.resolve();
        laterInside = call('after-an-await');
      },
      (reply) => observed.push(reply),
    );
    await laterInside;
    expect(observed).to.have.length(1);
    expect(observed[0]).to.deep.equal(await first);
  });

  describe('the fixed-window script through async-ratelimiter', () => {
    // The driver would define its own sliding-log script (ioredis defineCommand) if the db had no `ratelimiter`.
    const fixedWindowLimiter = (max: number, duration: number) =>
      new RateLimiter({ db: new RateLimitRedisAdapter(redis, testBreaker(), 1000) as never, max, duration, namespace: `${prefix}fixed` });

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
      const key = `${prefix}fixed:long`;
      await redis.set(key, '1', { PX: 3_600_000 });
      const [remaining, reset, max, windowLeftMs] = await adapter.ratelimiter(key, 0, 60_000, 3, '0');
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
