import { expect } from 'chai';
import { RedisServerProcess } from '../support/redis-server.js';
import { waitFor } from '../support/wait.js';
import { startLimitedApp, type LimitedApp } from './rate-limit-harness.js';

const FAIL_OPEN_LOG = 'rate limiter cannot reach redis, request let through';

async function ping(app: LimitedApp): Promise<Response> {
  const res = await app.get('/ping');
  await res.arrayBuffer();
  return res;
}

describe('rate limiting while Redis is away (own redis-server, killed and restarted)', function () {
  this.timeout(30_000);
  let server: RedisServerProcess;
  let app: LimitedApp;

  before(async () => {
    server = await RedisServerProcess.start();
    app = await startLimitedApp({ RATE_LIMIT_MAX: '3' }, { redisUrl: server.url });
  });
  after(async () => {
    await app?.close();
    await server?.close();
  });

  it('limits while Redis is up', async () => {
    const answers = [await ping(app), await ping(app), await ping(app), await ping(app)];
    expect(answers.map((r) => r.status)).to.deep.equal([200, 200, 200, 429]);
  });

  it('lets every request through once Redis is killed, logging (throttled) and counting it', async () => {
    await server.kill();
    await waitFor(() => !app.deps.redis.isReady, 'the client to notice');
    const answers = [];
    const started = Date.now();
    for (let i = 0; i < 10; i += 1) answers.push(await ping(app));
    const elapsedMs = Date.now() - started;

    expect(answers.map((r) => r.status)).to.deep.equal(Array(10).fill(200));
    // No headers rather than made-up ones: the count is unknown.
    expect(answers.every((r) => r.headers.get('x-ratelimit-limit') === null)).to.equal(true);
    expect(await app.counter('rateLimitDecisions', { decision: 'failed_open' })).to.equal(10);
    // After 5 failures in a row the breaker opened: the other 5 did not even try Redis.
    const { values } = await app.deps.metrics.redisBreaker.shortCircuits.get();
    expect(values.find((v) => v.labels.caller === 'rate_limit')?.value).to.equal(5);
    const warnings = app.logs.filter((line) => line.msg === FAIL_OPEN_LOG);
    // At most one line per 5 s.
    expect(warnings.length).to.be.within(1, 1 + Math.floor(elapsedMs / 5000));
    expect(warnings[0]!.level).to.equal(40);
  });

  it('limits again when Redis is back on the same port (script cache empty, window fresh)', async () => {
    await server.restart();
    await waitFor(() => app.deps.redis.isReady, 'the client to reconnect');
    // The breaker opened while Redis was gone: the first request after its cool-off probes.
    const first = await waitFor(async () => {
      const res = await ping(app);
      return res.headers.get('x-ratelimit-limit') === null ? undefined : res;
    }, 'the limiter to use Redis again');
    expect(first!.headers.get('x-ratelimit-remaining')).to.equal('2');
    const answers = [await ping(app), await ping(app), await ping(app)];
    expect(answers.map((r) => r.status)).to.deep.equal([200, 200, 429]);
  });

  it('does not wait on a frozen Redis beyond its short deadline: the request goes through', async () => {
    const failOpenBefore = await app.counter('rateLimitDecisions', { decision: 'failed_open' });
    server.freeze();
    try {
      const startedAt = performance.now();
      const res = await ping(app);
      const waitedMs = performance.now() - startedAt;
      expect(res.status).to.equal(200);
      // The limiter waited for its 500 ms deadline (Redis was asked), and not much longer.
      expect(waitedMs).to.be.within(450, 1500);
      expect(res.headers.get('x-ratelimit-limit')).to.equal(null);
      expect(await app.counter('rateLimitDecisions', { decision: 'failed_open' })).to.equal(failOpenBefore + 1);
    } finally {
      server.unfreeze();
    }
    // Once Redis answers again, so does the limiter (this client is still over its limit).
    await waitFor(async () => (await ping(app)).status === 429, 'the limiter to answer again');
  });
});
