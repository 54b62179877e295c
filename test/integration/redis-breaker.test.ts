import { expect } from 'chai';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import type { Counter, Gauge } from 'prom-client';
import { createRedisBreakerMetrics, RedisBreakerOpenError, type RedisBreaker, type RedisBreakerMetrics } from '../../src/cache/redis-breaker.js';
import { closeRedis, createRedis, type RedisClient } from '../../src/cache/redis.js';
import { DeadlineError, withDeadline } from '../../src/shared/deadline.js';
import { testBreaker } from '../support/redis-breaker.js';
import { RedisServerProcess } from '../support/redis-server.js';
import { waitFor } from '../support/wait.js';
import { signUp, startApi, type ApiHarness } from './api-harness.js';

/** The shortest deadline of a Redis call on a request's path (the cache's; the limiter's is 500 ms). */
const SHORTEST_REDIS_DEADLINE_MS = 250;

async function valueOf(metric: Counter<string> | Gauge<string>, labels: Record<string, string>): Promise<number> {
  const { values } = await metric.get();
  return values.find((v) => Object.entries(labels).every(([key, want]) => String(v.labels[key]) === want))?.value ?? 0;
}

const stateOf = async (metrics: RedisBreakerMetrics) => {
  for (const state of ['closed', 'open', 'half_open']) if ((await valueOf(metrics.state, { state })) === 1) return state;
  return 'none';
};

/** Settles with how long it took and what it gave. */
async function timed<T>(operation: () => Promise<T>): Promise<{ ms: number; value?: T; error?: unknown }> {
  const started = performance.now();
  try {
    const value = await operation();
    return { ms: performance.now() - started, value };
  } catch (error) {
    return { ms: performance.now() - started, error };
  }
}

describe('Redis breaker (own redis-server, frozen with SIGSTOP)', function () {
  this.timeout(40_000);
  let server: RedisServerProcess;

  beforeEach(async () => {
    server = await RedisServerProcess.start();
  });
  afterEach(async () => {
    await server.close();
  });

  describe('on its own', () => {
    const DEADLINE_MS = 100;
    let redis: RedisClient;
    let metrics: RedisBreakerMetrics;
    let logs: Array<{ level: number; msg: string; [key: string]: unknown }>;
    let breaker: RedisBreaker;
    const ping = () => breaker.run('rate_limit', () => withDeadline(redis.ping(), DEADLINE_MS, 'redis ping'));

    beforeEach(async () => {
      redis = createRedis(server.url, pino({ level: 'silent' }));
      await redis.connect();
      metrics = createRedisBreakerMetrics(new Registry());
      logs = [];
      const log = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line)) });
      breaker = testBreaker({ threshold: 3, coolOffMs: 300, metrics, log });
    });
    afterEach(async () => {
      server.unfreeze();
      await closeRedis(redis);
    });

    it('opens after 3 failures in a row, skips without waiting, probes alone after each cool-off, closes when Redis answers; logs the outage once', async () => {
      expect(await ping()).to.equal('PONG');
      server.freeze();
      for (let i = 0; i < 3; i += 1) expect((await timed(ping)).error).to.be.instanceOf(DeadlineError);
      expect(breaker.state).to.equal('open');
      expect(await stateOf(metrics)).to.equal('open');

      const skipped = await timed(ping);
      expect(skipped.error).to.be.instanceOf(RedisBreakerOpenError);
      expect(skipped.ms, 'a skipped call does not wait for the deadline').to.be.below(DEADLINE_MS / 2);

      // After the cool-off one call probes (and waits out its deadline); calls meanwhile are skipped.
      let probe: Promise<{ ms: number; error?: unknown }> | undefined;
      await waitFor(() => {
        if (breaker.state !== 'open') return true;
        probe = timed(ping);
        return (breaker.state as string) === 'half_open';
      }, 'the cool-off to end', 5000, 20);
      expect(await stateOf(metrics)).to.equal('half_open');
      const duringProbe = await timed(ping);
      expect(duringProbe.error).to.be.instanceOf(RedisBreakerOpenError);
      expect(duringProbe.ms).to.be.below(DEADLINE_MS / 2);
      expect((await probe!).error).to.be.instanceOf(DeadlineError);
      expect(breaker.state).to.equal('open');

      server.unfreeze();
      const answered = await waitFor(async () => {
        const attempt = await timed(ping);
        return attempt.error instanceof RedisBreakerOpenError ? undefined : attempt;
      }, 'a probe after Redis answers again', 5000, 20);
      expect(answered!.value).to.equal('PONG');
      expect(breaker.state).to.equal('closed');
      expect(await stateOf(metrics)).to.equal('closed');

      const opened = logs.filter((line) => line.msg.startsWith('redis breaker opened'));
      const closed = logs.filter((line) => line.msg.startsWith('redis breaker closed'));
      expect(opened).to.have.length(1);
      expect(opened[0]).to.include({ level: 40, failuresInARow: 3, coolOffMs: 300 });
      expect((opened[0]!.err as { message: string }).message).to.match(/did not answer within 100 ms/);
      expect(closed).to.have.length(1);
      expect(closed[0]!.failedProbes).to.be.at.least(1);
      expect(closed[0]!.skippedCalls).to.be.at.least(2);
      expect(logs).to.have.length(2);
      expect(await valueOf(metrics.transitions, { to: 'open' })).to.equal(1 + Number(closed[0]!.failedProbes));
      expect(await valueOf(metrics.transitions, { to: 'closed' })).to.equal(1);
      expect(await valueOf(metrics.shortCircuits, { caller: 'rate_limit' })).to.equal(closed[0]!.skippedCalls);
    });

    it('a success in between resets the count: failures must be in a row', async () => {
      for (let round = 0; round < 3; round += 1) {
        server.freeze();
        for (let i = 0; i < 2; i += 1) expect((await timed(ping)).error).to.be.instanceOf(DeadlineError);
        server.unfreeze();
        expect(await ping()).to.equal('PONG');
      }
      expect(breaker.state).to.equal('closed');
      expect(logs).to.deep.equal([]);
    });
  });

  describe('in the app: rate limiter and entry list cache', () => {
    const COOL_OFF_MS = 5000;
    let api: ApiHarness;
    let token: string;
    let clients = 0;
    /** Every phase is its own client for the limiter (TRUST_PROXY), so quotas do not mix. */
    const newClient = () => ({ 'X-Forwarded-For': `203.0.113.${++clients}` });
    const breakerState = () => stateOf(api.metrics.redisBreaker);

    beforeEach(async () => {
      api = await startApi({
        label: 'redis_breaker',
        env: { REDIS_URL: server.url, RATE_LIMIT_MAX: '5', TRUST_PROXY: 'true', REDIS_BREAKER_COOL_OFF_MS: String(COOL_OFF_MS) },
      });
      ({ token } = await signUp(api));
    });
    afterEach(async () => {
      server.unfreeze();
      await api?.close();
    });

    it('while open, requests do not wait for Redis: the limiter fails open (counted), the cache is bypassed; after Redis answers it closes and the limit applies again', async () => {
      const setup = newClient();
      for (const text of ['one', 'two', 'three']) {
        expect((await api.request('POST', '/entries', { token, headers: setup, body: { text, mood: 5, category: 'c' } })).status).to.equal(201);
      }
      const cached = await api.request('GET', '/entries', { token, headers: setup });
      expect(cached.json.total).to.equal(3);
      expect(await valueOf(api.metrics.cacheLookups, { cache: 'entry_first_page', result: 'miss' })).to.equal(1);

      server.freeze();
      // Each request now waits for its Redis deadlines until the breaker opens.
      const opening = newClient();
      await waitFor(async () => {
        await api.request('GET', '/ping', { headers: opening });
        return (await breakerState()) === 'open';
      }, 'the breaker to open', 15_000, 0);

      const failOpenBefore = await valueOf(api.metrics.rateLimitDecisions, { decision: 'failed_open' });
      const during = newClient();
      const ping = await timed(() => api.request('GET', '/ping', { headers: during }));
      expect(ping.value!.status).to.equal(200);
      expect(ping.value!.headers.get('x-ratelimit-limit'), 'no limiter headers: the limiter did not answer').to.equal(null);
      expect(ping.ms, 'the request did not wait for a Redis deadline').to.be.below(SHORTEST_REDIS_DEADLINE_MS);

      const list = await timed(() => api.request('GET', '/entries', { token, headers: during }));
      expect(list.value!.status).to.equal(200);
      expect(list.value!.json.entries.map((e: { text: string }) => e.text)).to.deep.equal(['three', 'two', 'one']);
      expect(list.ms, 'the list did not wait for a Redis deadline').to.be.below(SHORTEST_REDIS_DEADLINE_MS);

      const written = await timed(() => api.request('POST', '/entries', { token, headers: during, body: { text: 'four', mood: 5, category: 'c' } }));
      expect(written.value!.status).to.equal(201);
      expect(written.ms).to.be.below(SHORTEST_REDIS_DEADLINE_MS);

      expect(await breakerState(), 'still within the cool-off').to.equal('open');
      expect(await valueOf(api.metrics.rateLimitDecisions, { decision: 'failed_open' })).to.equal(failOpenBefore + 3);
      expect(await valueOf(api.metrics.redisBreaker.shortCircuits, { caller: 'rate_limit' })).to.be.at.least(3);
      expect(await valueOf(api.metrics.redisBreaker.shortCircuits, { caller: 'entry_list_cache' })).to.be.at.least(3);
      expect(await valueOf(api.metrics.cacheLookups, { cache: 'entry_first_page', result: 'bypassed' })).to.equal(1);
      // The write's invalidation was skipped (and its retry too, if one came due).
      expect(await valueOf(api.metrics.cacheWriteFailures, { write: 'invalidate', reason: 'bypassed' })).to.be.at.least(1);

      server.unfreeze();
      // The first request after the cool-off probes; Redis answers, the breaker closes.
      const probing = newClient();
      await waitFor(async () => {
        await api.request('GET', '/ping', { headers: probing });
        return (await breakerState()) === 'closed';
      }, 'the breaker to close', COOL_OFF_MS + 5000, 50);

      const after = newClient();
      const answers = [];
      for (let i = 0; i < 6; i += 1) answers.push(await api.request('GET', '/ping', { headers: after }));
      expect(answers.map((r) => r.status)).to.deep.equal([200, 200, 200, 200, 200, 429]);
      expect(answers[0]!.headers.get('x-ratelimit-remaining')).to.equal('4');

      // The page cached before the outage is stale (an entry was written while the cache was
      // bypassed): its invalidation is redone before the cache is used again.
      const fresh = await api.request('GET', '/entries', { token, headers: newClient() });
      expect(fresh.json.total).to.equal(4);
      expect(fresh.json.entries.map((e: { text: string }) => e.text)).to.deep.equal(['four', 'three', 'two', 'one']);
    });
  });
});
