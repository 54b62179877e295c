import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import pg from 'pg';
import { runCtl } from '../support/ctl.js';
import { uniqueDatabaseUrl } from '../support/databases.js';
import { faultsPerTest } from '../support/fault-fixtures.js';
import { readHealth, scrapeMetrics } from '../support/observe.js';
import { freePort } from '../support/ports.js';
import { sampleValue } from '../support/prometheus-text.js';
import { type PulseProcess, pulsePerTest } from '../support/pulse-process.js';
import { makeRelease, prependToModule, releaseEntry } from '../support/release.js';
import { sleep, waitFor } from '../support/wait.js';

const registerBody = () => JSON.stringify({ email: `start-${Date.now()}-${Math.random()}@example.com`, password: 'secret-password' });

async function post(pulse: PulseProcess, route: string, body: string, headers: Record<string, string> = {}) {
  const started = Date.now();
  const res = await fetch(`${pulse.url}${route}`, { method: 'POST', body, headers: { 'Content-Type': 'application/json', ...headers }, signal: AbortSignal.timeout(10_000) });
  return { status: res.status, body: (await res.json()) as Record<string, unknown>, elapsedMs: Date.now() - started };
}

/** Far above a worker's boot (code loading plus up to 2 s trying its dependencies) on a busy machine. */
const READY_TIMEOUT_MS = 10_000;

const exits = (pulse: PulseProcess) => pulse.logs.filter((l) => l.msg === 'worker exited');

describe('a dependency that is down at start (end to end)', function () {
  this.timeout(60_000);
  const pulses = pulsePerTest();
  const faults = faultsPerTest();

  it('Redis: workers become ready (degraded), /health says so, the API serves, no churn, wait-ready succeeds; Redis arriving heals it', async () => {
    const redisPort = await freePort();
    const startedAt = Date.now();
    const pulse = await pulses.start({ workers: 2, waitHealthy: false, env: { REDIS_URL: `redis://127.0.0.1:${redisPort}`, WORKER_READY_TIMEOUT_MS: String(READY_TIMEOUT_MS) } });
    const waited = await runCtl(['wait-ready', '--timeout', '20000'], pulse.env);
    expect(waited.code, waited.stderr).to.equal(0);
    expect(waited.stdout).to.equal('pulse is ready: 2/2 workers, degraded, /health 503: database connected, redis disconnected\n');

    const health = await readHealth(pulse);
    expect(health.httpStatus).to.equal(503);
    expect(health.body).to.include({ status: 'unhealthy', database: 'connected', redis: 'disconnected' });
    expect(health.body.workers).to.deep.equal({ expected: 2, ready: 2 });
    expect((await fetch(`${pulse.url}/ping`)).status).to.equal(200);
    expect((await post(pulse, '/register', registerBody())).status, 'the limiter fails open, the database works').to.equal(201);

    const pids = await pulse.workerPids();
    // Beyond WORKER_READY_TIMEOUT_MS since the start: nothing is killed for being degraded.
    await sleep(startedAt + READY_TIMEOUT_MS + 1000 - Date.now());
    expect(await pulse.workerPids()).to.have.members(pids);
    expect(exits(pulse)).to.deep.equal([]);
    const metrics = await scrapeMetrics(pulse);
    expect(sampleValue(metrics.samples, 'pulse_dependency_up', { dependency: 'redis' })).to.equal(0);
    expect(sampleValue(metrics.samples, 'pulse_dependency_up', { dependency: 'database' })).to.equal(1);
    expect(sampleValue(metrics.samples, 'pulse_worker_restarts_total')).to.equal(0);

    await faults.redis(redisPort);
    await pulse.waitHealthy(15_000);
    expect(await pulse.workerPids()).to.have.members(pids);
  });

  it('Postgres: starts without it, database routes answer 503 at once, migrations run as soon as it answers', async () => {
    const port = await freePort();
    const url = new URL(uniqueDatabaseUrl());
    url.port = String(port);
    const pulse = await pulses.start({ workers: 2, waitHealthy: false, env: { DATABASE_URL: url.toString(), WORKER_READY_TIMEOUT_MS: String(READY_TIMEOUT_MS) } });
    await pulse.waitForLog((l) => l.msg === 'database unreachable at start: starting without it; migrations run as soon as it answers', 10_000);
    const waited = await runCtl(['wait-ready', '--timeout', '20000'], pulse.env);
    expect(waited.code, waited.stderr).to.equal(0);
    expect(waited.stdout).to.include('degraded, /health 503: database disconnected, redis connected');

    const refused = await post(pulse, '/register', registerBody());
    expect(refused.status).to.equal(503);
    expect(refused.body).to.deep.equal({ success: false, message: 'Service temporarily unavailable' });
    expect(refused.elapsedMs, 'a fast 503, as during a runtime outage').to.be.below(2000);
    expect((await fetch(`${pulse.url}/ping`)).status).to.equal(200);
    const pids = await pulse.workerPids();

    await faults.proxy('127.0.0.1', 5432).start(port);
    await pulse.waitForLog((l) => l.msg === 'migrations applied', 20_000);
    await pulse.waitHealthy(15_000);
    expect((await post(pulse, '/register', registerBody())).status).to.equal(201);
    expect(await pulse.workerPids()).to.have.members(pids);
    expect(exits(pulse)).to.deep.equal([]);
  });
});

describe('a drain that overruns while the database pool is busy (end to end)', function () {
  this.timeout(40_000);
  const pulses = pulsePerTest();
  let locker: pg.Client | undefined;
  afterEach(async () => {
    await locker?.query('rollback').catch(() => undefined);
    await locker?.end().catch(() => undefined);
    locker = undefined;
  });

  it('closes the pools within its own budget, reports the cut request and exits 75 before the primary would SIGKILL it', async () => {
    // The statement deadline far away: the stuck query keeps its pool connection busy through the drain.
    const pulse = await pulses.start({ workers: 1, env: { SHUTDOWN_TIMEOUT_MS: '1000', DATABASE_STATEMENT_TIMEOUT_MS: '60000' } });
    const credentials = registerBody();
    expect((await post(pulse, '/register', credentials)).status).to.equal(201);
    const { token } = (await post(pulse, '/login', credentials)).body as { token: string };
    // Every query on entries now waits for this lock: the request below holds a pool connection.
    locker = new pg.Client({ connectionString: pulse.env.DATABASE_URL });
    await locker.connect();
    await locker.query('begin');
    await locker.query('lock table entries in access exclusive mode');
    const stuck = fetch(`${pulse.url}/entries`, { headers: { Authorization: `Bearer ${token}` } }).then(
      (res) => `answered ${res.status}`,
      () => 'cut',
    );
    await waitFor(async () => (await readHealth(pulse)).body.details[0]?.inflight === 1, 'the request to wait on the lock');

    pulse.signal('SIGTERM');
    const exit = await pulse.waitExit(10_000);
    expect(await stuck).to.equal('cut');
    expect(exit.code).to.equal(1);
    expect(pulse.logs.find((l) => l.msg === 'worker exited')).to.include({ code: 75, signal: null });
    expect(pulse.logs.some((l) => l.msg === 'worker did not stop in time, SIGKILL')).to.equal(false);
    expect(pulse.logs.find((l) => l.msg === 'pools closed')).to.include({ database: 'timeout' });
    expect(pulse.logs.some((l) => l.msg === 'stopped' && l.role === 'worker'), 'the worker reported and exited by itself').to.equal(true);
    expect(String(pulse.logs.find((l) => l.msg === 'shutdown was not clean')?.problem)).to.match(/worker 1 \(pid \d+\) cut 1 request\(s\) still in flight after 1000 ms/);
  });
});

describe('a worker that cannot boot (end to end)', function () {
  this.timeout(60_000);
  const pulses = pulsePerTest();
  let root: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'pulse-boot-'));
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));
  const breakWorkers = (release: string) =>
    prependToModule(release, 'src/worker/worker-runtime.js', "throw new Error('broken release: cannot load');");

  it('during a rollout: ctl reload exits 70 naming the error, the rollout stops, old workers keep serving, no retry loop', async () => {
    const release = makeRelease(path.join(root, 'app'));
    const pulse = await pulses.start({ workers: 2, entry: releaseEntry(release) });
    const pids = await pulse.workerPids();
    breakWorkers(release);
    const from = pulse.logs.length;

    const reload = await runCtl(['reload'], pulse.env);
    expect(reload.code).to.equal(70);
    expect(reload.stderr).to.match(
      /rolling restart failed: new worker \d+ exited before it was ready \(code 70\): broken release: cannot load \(0\/2 workers replaced; the remaining old workers keep serving\)/,
    );
    await sleep(2000);
    expect(pulse.logs.slice(from).filter((l) => l.msg === 'worker forked'), 'one attempt, no loop').to.have.length(1);
    expect(pulse.logs.slice(from).find((l) => l.msg === 'worker exited')).to.include({ reason: 'boot_error', bootError: 'broken release: cannot load' });
    expect(await pulse.workerPids()).to.have.members(pids);
    expect((await readHealth(pulse)).httpStatus).to.equal(200);
    const metrics = await scrapeMetrics(pulse);
    expect(sampleValue(metrics.samples, 'pulse_rolling_restarts_total', { result: 'failed' })).to.equal(1);
    expect(sampleValue(metrics.samples, 'pulse_worker_restarts_total', { reason: 'boot_error' })).to.equal(1);
  });

  it('at start, when no worker ever booted: the primary stops with exit 70 and the cause, instead of respawning forever', async () => {
    const release = makeRelease(path.join(root, 'app'));
    breakWorkers(release);
    const pulse = await pulses.start({ workers: 2, entry: releaseEntry(release), waitHealthy: false });
    const exit = await pulse.waitExit(20_000);
    expect(exit.code).to.equal(70);
    const fatal = pulse.logs.find((l) => l.level === 60);
    expect(fatal?.msg).to.equal('a worker cannot boot and none ever has: stopping instead of respawning it forever');
    expect(JSON.stringify(fatal)).to.include('broken release: cannot load');
    expect(pulse.logs.filter((l) => l.msg === 'worker forked')).to.have.length(2);
  });
});
