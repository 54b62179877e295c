import path from 'node:path';
import { expect } from 'chai';
import { RATE_LIMIT_MESSAGE } from '../../src/app/rate-limit.js';
import { runCtl } from '../support/ctl.js';
import { TEST_REDIS_URL } from '../support/databases.js';
import { requestOnNewConnection, type Answer } from '../support/new-connection.js';
import { PinnedConnection, pinOneConnectionPerWorker } from '../support/pinned-connection.js';
import { PROMETHEUS_DIR, shippedAlerts } from '../support/prometheus-rules.js';
import { PrometheusServer } from '../support/prometheus-server.js';
import { labelValues, parseExposition, sampleValue, type Sample } from '../support/prometheus-text.js';
import { startPulse, type PulseProcess } from '../support/pulse-process.js';
import { tcpRemotePorts } from '../support/socket-owner.js';
import { waitFor } from '../support/wait.js';

const WINDOW_S = 60;

describe('without REDIS_URL: rate limits counted by the primary, no entry cache (real cluster, 2 workers)', function () {
  this.timeout(120_000);
  let pulse: PulseProcess;
  let workerPids: number[];
  const connections: PinnedConnection[] = [];

  before(async () => {
    // TRUST_PROXY: each test limits a client of its own (X-Forwarded-For).
    pulse = await startPulse({ workers: 2, env: { REDIS_URL: '', TRUST_PROXY: 'true' } });
    workerPids = await pulse.workerPids();
    expect(workerPids).to.have.length(2);
  });
  afterEach(function () {
    if (this.currentTest?.state === 'failed') console.log(pulse.tail(60));
  });
  after(async () => {
    for (const connection of connections) connection.close();
    await pulse?.stop();
  });

  const scrape = async (): Promise<Sample[]> => parseExposition(await (await fetch(`${pulse.adminUrl}/metrics`)).text());
  const decisions = async () => {
    const samples = await scrape();
    const count = (decision: string) => sampleValue(samples, 'pulse_rate_limit_decisions_total', { decision })!;
    return { allowed: count('allowed'), blocked: count('blocked'), failedOpen: count('failed_open') };
  };
  const ping = (client: string) => requestOnNewConnection(pulse, '/ping', workerPids, { headers: { 'X-Forwarded-For': client } });

  it('admits 100 requests in the window whichever worker answers, then the 101st is a 429 with the headers Redis gives', async () => {
    const startedS = Date.now() / 1000;
    const admitted: Answer[] = [];
    for (let i = 0; i < 100; i += 1) admitted.push(await ping('198.51.100.1'));
    const blocked = await ping('198.51.100.1');
    const elapsedS = Date.now() / 1000 - startedS;

    expect(new Set(admitted.map((a) => a.workerPid)), 'both workers answered').to.have.members(workerPids);
    expect(admitted.map((a) => a.status)).to.deep.equal(Array(100).fill(200));
    expect(admitted.map((a) => a.headers['x-ratelimit-remaining'])).to.deep.equal(Array.from({ length: 100 }, (_, i) => String(99 - i)));
    const resets = [...admitted, blocked].map((a) => Number(a.headers['x-ratelimit-reset']));
    // The primary's clock announces one window end (rounding to the second may differ by one).
    expect(Math.max(...resets) - Math.min(...resets)).to.be.at.most(1);
    expect(resets[0]).to.be.within(Math.floor(startedS) + WINDOW_S, Math.ceil(startedS + elapsedS) + WINDOW_S + 1);

    expect(blocked.status).to.equal(429);
    expect(JSON.parse(blocked.body)).to.deep.equal({ success: false, message: RATE_LIMIT_MESSAGE });
    expect(blocked.headers['content-type']).to.match(/^application\/json/);
    expect(blocked.headers['x-ratelimit-limit']).to.equal('100');
    expect(blocked.headers['x-ratelimit-remaining']).to.equal('0');
    // What is left of the window in whole seconds, rounded up: never above the window.
    expect(Number(blocked.headers['retry-after'])).to.be.within(Math.floor(WINDOW_S - elapsedS), WINDOW_S);
    expect((await ping('198.51.100.1')).status, 'still blocked').to.equal(429);
  });

  it('never admits more than RATE_LIMIT_MAX, even when 150 requests of one client race across both workers', async () => {
    const before = await decisions();
    const answers = await Promise.all(Array.from({ length: 150 }, () => ping('198.51.100.2')));
    expect(new Set(answers.map((a) => a.workerPid)), 'both workers answered').to.have.members(workerPids);
    const admitted = answers.filter((a) => a.status === 200);
    expect(admitted).to.have.length(100);
    expect(answers.filter((a) => a.status === 429)).to.have.length(50);
    // Every count was given exactly once.
    expect(admitted.map((a) => Number(a.headers['x-ratelimit-remaining'])).sort((a, b) => a - b)).to.deep.equal(Array.from({ length: 100 }, (_, i) => i));
    const after = await decisions();
    expect({ allowed: after.allowed - before.allowed, blocked: after.blocked - before.blocked, failedOpen: after.failedOpen - before.failedOpen }).to.deep.equal({
      allowed: 100,
      blocked: 50,
      failedOpen: 0,
    });
  });

  it('/health is 200 with redis "not configured" on both ports; metrics and `ctl status` name the store; no Redis connection, no Redis series', async () => {
    const admin = await fetch(`${pulse.adminUrl}/health`);
    const body = (await admin.json()) as { status: string; redis: string; details: { redis: string }[] };
    expect(admin.status).to.equal(200);
    expect(body).to.include({ status: 'healthy', database: 'connected', redis: 'not configured' });
    expect(body.details.map((d) => d.redis)).to.deep.equal(['not configured', 'not configured']);
    const api = await requestOnNewConnection(pulse, '/health', workerPids);
    expect(api.status).to.equal(200);
    expect(JSON.parse(api.body)).to.deep.equal({ status: 'healthy', database: 'connected', redis: 'not configured' });

    const samples = await scrape();
    expect(sampleValue(samples, 'pulse_rate_limit_store', { store: 'primary' })).to.equal(1);
    expect(labelValues(samples, 'pulse_rate_limit_store', 'store')).to.deep.equal(['primary']);
    expect(sampleValue(samples, 'pulse_healthy')).to.equal(1);
    expect(sampleValue(samples, 'pulse_dependency_up', { dependency: 'database' })).to.equal(1);
    expect(sampleValue(samples, 'pulse_dependency_up', { dependency: 'redis' })).to.equal(undefined);
    expect([...new Set(samples.map((s) => s.name).filter((name) => name.startsWith('pulse_redis_')))]).to.deep.equal([]);

    const status = await runCtl(['status'], pulse.env);
    expect(status.code, status.stderr).to.equal(0);
    const lines = status.stdout.trimEnd().split('\n');
    expect(lines[0]).to.match(/^pulse healthy: 2\/2 workers ready, database connected, redis not configured \(rate limits counted by the primary\); primary pid \d+/);
    for (const row of lines.slice(2)) expect(row).to.match(/\sok$/);
    const json = JSON.parse((await runCtl(['status', '--json'], pulse.env)).stdout) as { health: { body: { redis: string } } };
    expect(json.health.body.redis).to.equal('not configured');

    // No Redis client was made: no process of the service talks to the Redis this machine runs.
    const redisPort = Number(new URL(TEST_REDIS_URL).port || 6379);
    for (const pid of [pulse.pid, ...workerPids]) expect(tcpRemotePorts(pid), `pid ${pid}`).to.not.include(redisPort);
    expect(pulse.logs.filter((line) => line.role === 'primary' && /^no REDIS_URL: the primary counts the rate limits/.test(line.msg))).to.have.length(1);
  });

  it('the shipped alert rules stay quiet on a deliberately absent Redis (a real Prometheus scraping this Pulse)', async () => {
    const instance = `127.0.0.1:${pulse.adminPort}`;
    const prometheus = await PrometheusServer.start({ targets: [instance], ruleFiles: [path.join(PROMETHEUS_DIR, 'pulse-alerts.yml')] });
    try {
      // Enough scrapes for the rate() and increase() windows to have two samples.
      await waitFor(async () => (await prometheus.query('count_over_time(pulse_healthy{job="pulse"}[1m]) >= 3')).length === 1, 'three scrapes', 20_000, 200);
      expect((await prometheus.query('pulse_dependency_up{dependency="redis"}')).length).to.equal(0);
      for (const { alert, expr } of shippedAlerts()) expect(await prometheus.query(expr), alert).to.deep.equal([]);
      expect(await prometheus.query('ALERTS')).to.deep.equal([]);
    } finally {
      await prometheus.stop();
    }
  });

  it('GET /entries reads the database on every worker: a write on one worker is seen at once by a read on the other', async () => {
    const [first, second] = (await pinOneConnectionPerWorker(pulse, workerPids, connections)) as [PinnedConnection, PinnedConnection];
    const before = sampleValue(await scrape(), 'pulse_cache_lookups_total') ?? 0;
    const credentials = { email: `single-host-${Date.now()}@example.com`, password: 'secret-password' };
    expect((await first.send('POST', '/register', credentials)).status).to.equal(201);
    const token = (await first.send('POST', '/login', credentials)).body.token as string;

    for (const [reader, writer, text] of [[first, second, 'written on the second'], [second, first, 'written on the first']] as const) {
      const listed = await reader.send('GET', '/entries', undefined, token);
      expect(listed.status).to.equal(200);
      const created = await writer.send('POST', '/entries', { text, mood: 7, category: 'test' }, token);
      expect(created.status).to.equal(201);
      const after = await reader.send('GET', '/entries', undefined, token);
      expect(after.body.total, 'the reader sees the write at once').to.equal((listed.body.total as number) + 1);
      expect((after.body.entries as { text: string }[])[0]!.text).to.equal(text);
    }
    // The cache is off, not failing: nothing looked up, nothing bypassed.
    expect(sampleValue(await scrape(), 'pulse_cache_lookups_total') ?? 0).to.equal(before);
  });

  it('lets a request through when the primary does not answer within the deadline (counted, logged), and limits again once it does', async () => {
    const [connection] = await pinOneConnectionPerWorker(pulse, workerPids.slice(0, 1), connections);
    const client = { 'X-Forwarded-For': '198.51.100.4' };
    const limited = await connection!.send('GET', '/no-such-path', undefined, undefined, client);
    expect(limited.status).to.equal(404);
    expect(limited.headers['x-ratelimit-remaining']).to.equal('99');
    const before = await decisions();

    // A stopped primary answers nothing (the connection is already the worker's).
    process.kill(pulse.pid, 'SIGSTOP');
    let unlimited;
    try {
      unlimited = await connection!.send('GET', '/no-such-path', undefined, undefined, client);
    } finally {
      process.kill(pulse.pid, 'SIGCONT');
    }
    expect(unlimited.status).to.equal(404);
    expect(unlimited.headers['x-ratelimit-limit'], 'no made-up headers').to.equal(undefined);
    await pulse.waitForLog((line) => line.role === 'worker' && line.msg === 'rate limiter cannot reach the primary, request let through');
    const after = await decisions();
    expect(after.failedOpen - before.failedOpen).to.equal(1);

    const again = await connection!.send('GET', '/no-such-path', undefined, undefined, client);
    expect(again.headers['x-ratelimit-limit']).to.equal('100');
  });
});
