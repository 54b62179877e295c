import { createRequire } from 'node:module';
import { expect } from 'chai';
import Koa from 'koa';
import { errorEnvelope } from '../../src/app/errors.js';
import { RATE_LIMIT_MESSAGE, rateLimit } from '../../src/app/rate-limit.js';
import { uniqueRedisPrefix } from '../support/databases.js';
import { testBreaker } from '../support/redis-breaker.js';
import { sleep, waitFor } from '../support/wait.js';
import { startLimitedApp, type LimitedApp } from './rate-limit-harness.js';

const statuses = async (app: LimitedApp, count: number, path = '/ping', headers: Record<string, string> = {}) => {
  const answers: Response[] = [];
  for (let i = 0; i < count; i += 1) {
    const res = await app.get(path, headers);
    await res.arrayBuffer();
    answers.push(res);
  }
  return answers;
};

describe('rate limiting (koa-ratelimit on Redis, fixed window)', function () {
  const apps: LimitedApp[] = [];
  const start = async (...args: Parameters<typeof startLimitedApp>) => {
    const app = await startLimitedApp(...args);
    apps.push(app);
    return app;
  };
  afterEach(async () => {
    for (const app of apps.splice(0)) await app.close();
  });

  it('lets RATE_LIMIT_MAX requests through with X-RateLimit headers, then answers 429 with Retry-After', async () => {
    const app = await start({ RATE_LIMIT_MAX: '3' });
    const before = Math.floor(Date.now() / 1000);
    const answers = await statuses(app, 3);
    const blocked = await app.get('/ping');
    const body = await blocked.json();

    expect(answers.map((r) => r.status)).to.deep.equal([200, 200, 200]);
    expect(answers.map((r) => r.headers.get('x-ratelimit-remaining'))).to.deep.equal(['2', '1', '0']);
    for (const res of [...answers, blocked]) {
      expect(res.headers.get('x-ratelimit-limit')).to.equal('3');
      const reset = Number(res.headers.get('x-ratelimit-reset'));
      expect(reset).to.be.within(before + 59, Math.ceil(Date.now() / 1000) + 60);
      expect(reset).to.equal(Number(answers[0]!.headers.get('x-ratelimit-reset')));
    }
    expect(blocked.status).to.equal(429);
    expect(body).to.deep.equal({ success: false, message: RATE_LIMIT_MESSAGE });
    expect(blocked.headers.get('content-type')).to.match(/^application\/json/);
    expect(blocked.headers.get('x-ratelimit-remaining')).to.equal('0');
    // What is left of the window, in whole seconds rounded up: never more than the window.
    expect(Number(blocked.headers.get('retry-after'))).to.be.within(1, 60);
    expect(await app.counter('rateLimitDecisions', { decision: 'allowed' })).to.equal(3);
    expect(await app.counter('rateLimitDecisions', { decision: 'blocked' })).to.equal(1);
    // The limiter answers before the router runs; the request still carries its route pattern.
    const { values } = await app.deps.metrics.httpRequestsTotal.get();
    const blockedSeries = values.filter((v) => v.labels.status === '429');
    expect(blockedSeries.map((v) => [v.labels.route, v.value])).to.deep.equal([['/ping', 1]]);
    // A 429 is a request like any other: it has an id, returned and logged.
    const requestId = blocked.headers.get('x-request-id');
    expect(requestId).to.match(/^[0-9a-f-]{36}$/);
    const line = await waitFor(() => app.logs.find((l) => l.msg === 'request' && l.requestId === requestId), 'the access line of the 429');
    expect(line).to.include({ status: 429, route: '/ping', method: 'GET' });
  });

  it('keeps one counter per client under REDIS_KEY_PREFIX, blocked requests included', async () => {
    const app = await start({ RATE_LIMIT_MAX: '2' });
    await statuses(app, 5);
    const { redis, config } = app.deps;
    const keys = [];
    for await (const batch of redis.scanIterator({ MATCH: `${config.redisKeyPrefix}*` })) keys.push(...batch);
    expect(keys).to.deep.equal([`${config.redisKeyPrefix}ratelimit:127.0.0.1`]);
    expect(await redis.get(keys[0]!)).to.equal('5');
    expect(await redis.pTTL(keys[0]!)).to.be.within(1, 60_000);
  });

  it('limits every route and unknown paths, but never /health', async () => {
    const app = await start({ RATE_LIMIT_MAX: '2' });
    const [ping, unknown] = [await app.get('/ping'), await app.get('/no-such-path')];
    expect([ping.status, unknown.status]).to.deep.equal([200, 404]);
    expect(unknown.headers.get('x-ratelimit-remaining')).to.equal('0');
    const register = await fetch(`${app.url}/register`, { method: 'POST', body: '{}' });
    expect(register.status).to.equal(429);

    for (const path of ['/health', '/health/', '/HEALTH', '/health', '/health']) {
      const res = await app.get(path);
      expect(res.status, path).to.equal(503); // the test app's supervisor never answers
      expect(await res.json()).to.deep.equal({ status: 'unhealthy', database: 'unknown', redis: 'unknown' });
      expect(res.headers.get('x-ratelimit-limit'), path).to.equal(null);
    }
    expect(await app.counter('rateLimitDecisions')).to.equal(3);
  });

  it('starts a fresh window after RATE_LIMIT_WINDOW_MS', async () => {
    const app = await start({ RATE_LIMIT_MAX: '2', RATE_LIMIT_WINDOW_MS: '600' });
    expect((await statuses(app, 3)).map((r) => r.status)).to.deep.equal([200, 200, 429]);
    const fresh = await waitFor(
      async () => {
        const res = await app.get('/ping');
        await res.arrayBuffer();
        return res.status === 200 ? res : undefined;
      },
      'the next window',
      10_000,
      100,
    );
    expect(fresh!.headers.get('x-ratelimit-remaining')).to.equal('1');
  });

  it('ignores X-Forwarded-For unless TRUST_PROXY is on', async () => {
    const app = await start({ RATE_LIMIT_MAX: '2' });
    const answers = [];
    for (const ip of ['203.0.113.1', '203.0.113.2', '203.0.113.3']) {
      answers.push((await statuses(app, 1, '/ping', { 'X-Forwarded-For': ip }))[0]!.status);
    }
    expect(answers).to.deep.equal([200, 200, 429]);
  });

  it('with TRUST_PROXY, limits each X-Forwarded-For client on its own', async () => {
    const app = await start({ RATE_LIMIT_MAX: '2', TRUST_PROXY: 'true' });
    const first = await statuses(app, 3, '/ping', { 'X-Forwarded-For': '203.0.113.7, 10.0.0.1' });
    const second = await statuses(app, 1, '/ping', { 'X-Forwarded-For': '203.0.113.8' });
    const direct = await statuses(app, 1);
    expect(first.map((r) => r.status)).to.deep.equal([200, 200, 429]);
    expect(second[0]!.status).to.equal(200);
    expect(direct[0]!.status).to.equal(200);
    const prefix = app.deps.config.redisKeyPrefix;
    expect(await app.deps.redis.get(`${prefix}ratelimit:203.0.113.7`)).to.equal('3');
    expect(await app.deps.redis.get(`${prefix}ratelimit:203.0.113.8`)).to.equal('1');
    // The access log names the client as the limiter sees it.
    const ipOf = async (res: Response) => {
      const requestId = res.headers.get('x-request-id');
      return (await waitFor(() => app.logs.find((l) => l.msg === 'request' && l.requestId === requestId), 'an access line'))!.ip;
    };
    expect(await ipOf(first[2]!)).to.equal('203.0.113.7');
    expect(await ipOf(second[0]!)).to.equal('203.0.113.8');
    expect(await ipOf(direct[0]!)).to.equal('127.0.0.1');
  });

  it("leaves an error thrown downstream to the error envelope (not a limiter failure)", async () => {
    const app = await start(
      { RATE_LIMIT_MAX: '5' },
      {
        build: (deps) => {
          const koa = new Koa();
          koa.silent = true;
          koa.use(errorEnvelope(deps.log));
          koa.use(rateLimit(deps, testBreaker()));
          koa.use(() => {
            throw new Error('downstream bug');
          });
          return koa;
        },
      },
    );
    const res = await app.get('/anything');
    expect(res.status).to.equal(500);
    expect(await res.json()).to.deep.equal({ success: false, message: 'Internal server error' });
    // The stack goes to the log, never to the client.
    const logged = app.logs.find((line) => line.msg === 'request failed');
    expect((logged?.err as { message?: string; stack?: string } | undefined)?.message).to.equal('downstream bug');
    expect((logged?.err as { stack?: string }).stack).to.include('downstream bug');
    expect(await app.counter('rateLimitDecisions', { decision: 'allowed' })).to.equal(1);
    expect(await app.counter('rateLimitDecisions', { decision: 'failed_open' })).to.equal(0);
  });

  describe("the announced reset is Redis' window, whatever the workers' clocks say", () => {
    // koa-ratelimit passes the script async-ratelimiter's clock: the wall clock read when the
    // module loaded plus a monotonic offset. Moving it here is what a wall-clock step does to
    // a long-running worker (its clock stays where the step left it).
    const microtime = createRequire(import.meta.url)('async-ratelimiter/src/microtime.js') as { now: () => number };
    const trueNow = microtime.now;
    const workerClockOff = (ms: number) => {
      microtime.now = () => trueNow() + ms;
    };
    afterEach(() => {
      microtime.now = trueNow;
    });

    /** The window's end by Redis' clock: TIME + PTTL of the counter, read in one script. */
    const redisWindowEndMs = async (app: LimitedApp, key: string) => {
      const [[seconds, micros], pttl] = (await app.deps.redis.eval("return {redis.call('TIME'), redis.call('PTTL', KEYS[1])}", {
        keys: [key],
      })) as [[string, string], number];
      return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000) + pttl;
    };

    it('X-RateLimit-Reset is TIME + PTTL of the window key on every worker; a client that waits Retry-After is admitted', async function () {
      this.timeout(15_000);
      const windowMs = 2000;
      const env = { RATE_LIMIT_MAX: '2', RATE_LIMIT_WINDOW_MS: String(windowMs), REDIS_KEY_PREFIX: uniqueRedisPrefix('reset') };
      const [workerA, workerB] = [await start(env), await start(env)];
      const answers: Response[] = [];
      let blockedAt = 0;
      for (const [worker, clockOffMs] of [[workerA, -1500], [workerB, 4000], [workerA, -1500], [workerB, -1500]] as const) {
        workerClockOff(clockOffMs);
        const res = await worker.get('/ping');
        await res.arrayBuffer();
        blockedAt = performance.now();
        answers.push(res);
      }
      expect(answers.map((r) => r.status)).to.deep.equal([200, 200, 429, 429]);

      const windowEndMs = await redisWindowEndMs(workerA, `${env.REDIS_KEY_PREFIX}ratelimit:127.0.0.1`);
      for (const res of answers) {
        // Rounded up to the second (TIME has microseconds, PTTL milliseconds: allow 1 ms).
        const resetMs = Number(res.headers.get('x-ratelimit-reset')) * 1000;
        expect(resetMs - windowEndMs).to.be.within(-1, 999);
      }
      const retryAfterS = Number(answers[3]!.headers.get('retry-after'));
      expect(retryAfterS).to.be.within(1, windowMs / 1000);
      expect(retryAfterS * 1000).to.be.at.least(windowEndMs - Date.now() - 1);

      // The client does exactly what Retry-After says.
      await sleep(retryAfterS * 1000 - (performance.now() - blockedAt));
      const retried = await workerB.get('/ping');
      await retried.arrayBuffer();
      expect(retried.status).to.equal(200);
      expect(retried.headers.get('x-ratelimit-remaining')).to.equal('1');
    });

    it('Retry-After never exceeds the window, even in the first second of one', async () => {
      const app = await start({ RATE_LIMIT_MAX: '1', TRUST_PROXY: 'true' });
      for (let client = 1; client <= 5; client += 1) {
        const headers = { 'X-Forwarded-For': `198.51.100.${client}` };
        const [admitted, blocked] = await statuses(app, 2, '/ping', headers);
        expect([admitted!.status, blocked!.status]).to.deep.equal([200, 429]);
        expect(Number(blocked!.headers.get('retry-after')), `client ${client}`).to.be.within(58, 60);
      }
    });
  });
});
