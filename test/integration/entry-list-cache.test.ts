import { expect } from 'chai';
import { createAppMetrics, type AppMetrics } from '../../src/app/metrics.js';
import { EntryListCache } from '../../src/cache/entry-list-cache.js';
import { closeRedis, createRedis, type RedisClient } from '../../src/cache/redis.js';
import { createDatabase, type Database } from '../../src/db/database.js';
import { createLogger } from '../../src/shared/logger.js';
import { POSTGRES_ADMIN_URL, TEST_REDIS_URL, uniqueRedisPrefix } from '../support/databases.js';
import { testBreaker } from '../support/redis-breaker.js';
import { RedisServerProcess } from '../support/redis-server.js';
import { waitFor } from '../support/wait.js';

const log = createLogger('test', 'silent');

describe('entry count cache (Redis, shared by workers)', function () {
  const clients: RedisClient[] = [];
  let db: Database;
  let prefix: string;

  const connect = async (url = TEST_REDIS_URL) => {
    const client = createRedis(url, log);
    clients.push(client);
    await client.connect();
    return client;
  };
  const metricsFor = (redis: RedisClient) => createAppMetrics({ db, redis });
  const lookups = async (metrics: AppMetrics) => {
    const counts: Record<string, number> = {};
    for (const v of (await metrics.cacheLookups.get()).values) {
      expect(v.labels.cache).to.equal('entry_count');
      counts[String(v.labels.result)] = v.value;
    }
    return counts;
  };
  /** Failed writes as `<write>:<reason>` -> count. */
  const writeFailures = async (metrics: AppMetrics) => {
    const counts: Record<string, number> = {};
    for (const v of (await metrics.cacheWriteFailures.get()).values) counts[`${v.labels.write}:${v.labels.reason}`] = v.value;
    return counts;
  };

  before(() => {
    // Only the metrics' pool gauge refers to it; never queried.
    db = createDatabase(POSTGRES_ADMIN_URL, { poolMax: 1 });
  });
  beforeEach(() => {
    prefix = uniqueRedisPrefix('count');
  });
  afterEach(async () => {
    for (const client of clients.splice(0)) await closeRedis(client);
  });
  after(async () => {
    await db.destroy();
  });

  it('misses, then stores under <prefix>count:user:<id> for 60 s, then hits', async () => {
    const redis = await connect();
    const metrics = metricsFor(redis);
    const cache = new EntryListCache(redis, testBreaker(), prefix, metrics);
    expect(await cache.getCount(42)).to.equal(undefined);
    await cache.setCount(42, 7);
    expect(await cache.getCount(42)).to.equal(7);
    expect(await redis.get(`${prefix}count:user:42`)).to.equal('7');
    expect(await redis.ttl(`${prefix}count:user:42`)).to.be.within(1, 60);
    expect(await lookups(metrics)).to.deep.equal({ miss: 1, hit: 1 });
  });

  it('an invalidation by one worker is seen by every other', async () => {
    const [redisA, redisB] = [await connect(), await connect()];
    const workerA = new EntryListCache(redisA, testBreaker(), prefix, metricsFor(redisA));
    const workerB = new EntryListCache(redisB, testBreaker(), prefix, metricsFor(redisB));
    await workerA.setCount(1, 3);
    expect(await workerB.getCount(1)).to.equal(3);
    await workerB.invalidate(1);
    expect(await workerA.getCount(1)).to.equal(undefined);
  });

  it('a count taken before a write never lands after the write invalidated it', async () => {
    const [redisA, redisB] = [await connect(), await connect()];
    const reader = new EntryListCache(redisA, testBreaker(), prefix, metricsFor(redisA), 60, { writeFenceMs: 400 });
    const writer = new EntryListCache(redisB, testBreaker(), prefix, metricsFor(redisB), 60, { writeFenceMs: 400 });

    // Reader: miss, counts 3 rows in the database...
    expect(await reader.getCount(5)).to.equal(undefined);
    const countedBeforeWrite = 3;
    // ...meanwhile a writer commits a 4th row and invalidates...
    await writer.invalidate(5);
    // ...then the reader stores what it counted: refused, it predates the write.
    await reader.setCount(5, countedBeforeWrite);
    expect(await reader.getCount(5)).to.equal(undefined);
    expect(await writer.getCount(5)).to.equal(undefined);

    // Once the write fence is gone, counts are cached again.
    await waitFor(async () => (await redisA.exists(`${prefix}write-fence:user:5`)) === 0, 'the fence to expire', 5000, 25);
    await reader.setCount(5, 4);
    expect(await writer.getCount(5)).to.equal(4);
  });

  it("fences with the previous release's workers (a rolling deploy runs both): its fence refuses stores, and an invalidation sets it too", async () => {
    const redis = await connect();
    const cache = new EntryListCache(redis, testBreaker(), prefix, metricsFor(redis));
    // A worker of the previous release wrote an entry of user 6: only its fence, `count-fence:`, is set.
    await redis.set(`${prefix}count-fence:user:6`, '1', { PX: 60_000 });
    await cache.setCount(6, 3);
    await cache.setFirstPage(6, 10, '{"entries":[]}');
    expect(await redis.exists([`${prefix}count:user:6`, `${prefix}first-page:user:6`]), 'nothing stored').to.equal(0);
    // This release's invalidation fences the previous release's stores as well.
    await cache.invalidate(9);
    expect(await redis.pTTL(`${prefix}count-fence:user:9`)).to.be.within(1, 10_000);
    expect(await redis.pTTL(`${prefix}write-fence:user:9`)).to.be.within(1, 10_000);
  });

  it('a count stored just before an invalidation is dropped by it', async () => {
    const redis = await connect();
    const cache = new EntryListCache(redis, testBreaker(), prefix, metricsFor(redis));
    await cache.setCount(9, 1);
    await cache.invalidate(9);
    expect(await cache.getCount(9)).to.equal(undefined);
    expect(await redis.exists(`${prefix}count:user:9`)).to.equal(0);
  });

  it('takes a value that is not a count for a miss', async () => {
    const redis = await connect();
    const metrics = metricsFor(redis);
    const cache = new EntryListCache(redis, testBreaker(), prefix, metrics);
    for (const junk of ['abc', '-1', '1.5', '']) {
      await redis.set(`${prefix}count:user:3`, junk, { EX: 60 });
      expect(await cache.getCount(3), junk).to.equal(undefined);
    }
    expect(await lookups(metrics)).to.deep.equal({ miss: 4 });
  });

  it('never throws when its Redis client is not connected: misses and skipped writes, counted', async () => {
    const redis = createRedis(TEST_REDIS_URL, log);
    const metrics = metricsFor(redis);
    const cache = new EntryListCache(redis, testBreaker(), prefix, metrics);
    expect(await cache.getCount(1)).to.equal(undefined);
    await cache.setCount(1, 2);
    await cache.invalidate(1);
    // The failed invalidation is redone first on the next lookup (which fails again).
    expect(await cache.getCount(1)).to.equal(undefined);
    expect(await lookups(metrics)).to.deep.equal({ error: 2 });
    expect(await writeFailures(metrics)).to.deep.equal({ 'store_count:error': 1, 'invalidate:error': 2 });
  });

  describe('with its own redis-server', function () {
    this.timeout(30_000);
    let server: RedisServerProcess;

    beforeEach(async () => {
      server = await RedisServerProcess.start();
    });
    afterEach(async () => {
      for (const client of clients.splice(0)) await closeRedis(client);
      await server.close();
    });

    it('falls back while Redis is killed and caches again once it is back on the same port', async () => {
      const redis = await connect(server.url);
      const metrics = metricsFor(redis);
      const cache = new EntryListCache(redis, testBreaker(), prefix, metrics);
      await cache.setCount(1, 10);
      await server.kill();
      await waitFor(() => !redis.isReady, 'the client to notice');
      expect(await cache.getCount(1)).to.equal(undefined);
      await cache.setCount(1, 11);

      await server.restart();
      await waitFor(() => redis.isReady, 'the client to reconnect');
      expect(await cache.getCount(1)).to.equal(undefined); // nothing persisted
      await cache.setCount(1, 12);
      expect(await cache.getCount(1)).to.equal(12);
      expect(await lookups(metrics)).to.deep.equal({ error: 1, miss: 1, hit: 1 });
      expect(await writeFailures(metrics)).to.deep.equal({ 'store_count:error': 1 });
    });

    it('does not wait on a frozen Redis beyond its short deadline', async () => {
      const redis = await connect(server.url);
      const metrics = metricsFor(redis);
      const cache = new EntryListCache(redis, testBreaker(), prefix, metrics);
      await cache.setCount(1, 10);
      server.freeze();
      const waits: number[] = [];
      const timed = async <T>(call: () => Promise<T>): Promise<T> => {
        const startedAt = performance.now();
        try {
          return await call();
        } finally {
          waits.push(performance.now() - startedAt);
        }
      };
      try {
        expect(await timed(() => cache.getCount(1))).to.equal(undefined);
        await timed(() => cache.setCount(1, 11));
      } finally {
        server.unfreeze();
      }
      expect(await lookups(metrics)).to.deep.equal({ error: 1 });
      expect(await writeFailures(metrics)).to.deep.equal({ 'store_count:error': 1 });
      // Each call waited for its 250 ms deadline (Redis was asked), and not much longer.
      for (const waitedMs of waits) expect(waitedMs).to.be.within(200, 1000);
    });

    it('redoes an invalidation that failed while Redis was away, before its stale count is used', async () => {
      const redis = await connect(server.url);
      const cache = new EntryListCache(redis, testBreaker(), prefix, metricsFor(redis));
      await cache.setCount(7, 5);
      await cache.setCount(8, 1); // never invalidated: shows that the data came back
      await server.shutdownSaving();
      await waitFor(() => !redis.isReady, 'the client to notice');

      await cache.invalidate(7); // the entry was written, the count is now stale
      expect(await cache.getCount(7)).to.equal(undefined);

      await server.restart();
      const direct = await connect(server.url);
      expect(await direct.get(`${prefix}count:user:8`)).to.equal('1');
      // Retried as soon as the client is back, without waiting for a lookup of user 7.
      await waitFor(async () => (await direct.exists(`${prefix}count:user:7`)) === 0, 'the invalidation to be redone');
      expect(await direct.exists([`${prefix}write-fence:user:7`, `${prefix}count-fence:user:7`]), 'both fences set').to.equal(2);
      expect(await cache.getCount(7)).to.equal(undefined);
      expect(await cache.getCount(8)).to.equal(1);
    });
  });
});
