import { expect } from 'chai';
import { getFresh, healthUntil, readHealth, scrapeMetrics, sendMany } from '../support/observe.js';
import { sampleValue } from '../support/prometheus-text.js';
import { isAlive, pulsePerTest } from '../support/pulse-process.js';
import { SlowRequest } from '../support/raw-http.js';
import { waitFor } from '../support/wait.js';

const BODY_KEYS = ['database', 'details', 'redis', 'status', 'workers'];
const DETAIL_KEYS = ['database', 'event_loop_lag_ms', 'generation', 'id', 'inflight', 'last_report_age_ms', 'pid', 'redis', 'status', 'uptime_s'];

function resume(pids: number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGCONT');
    } catch {
      // already gone
    }
  }
}

describe('health (end to end)', function () {
  this.timeout(40_000);
  let stopped: number[] = [];
  afterEach(async () => {
    resume(stopped);
    stopped = [];
  });
  // Registered after the hook above: stopped workers are resumed before their Pulse is stopped.
  const pulses = pulsePerTest();

  it("GET /health: the documented JSON, 200 when all is well; the API port answers the original's shape only, never rate limited", async () => {
    const rateLimitMax = 3;
    const pulse = await pulses.start({ workers: 2, env: { RATE_LIMIT_MAX: String(rateLimitMax) } });
    const admin = await readHealth(pulse);
    expect(admin.httpStatus).to.equal(200);
    expect(Object.keys(admin.body).sort()).to.deep.equal(BODY_KEYS);
    expect(admin.body).to.include({ status: 'healthy', database: 'connected', redis: 'connected' });
    expect(admin.body.workers).to.deep.equal({ expected: 2, ready: 2 });
    expect(admin.body.details).to.have.length(2);
    for (const detail of admin.body.details) {
      expect(Object.keys(detail).sort()).to.deep.equal(DETAIL_KEYS);
      expect(detail).to.include({ status: 'ready', database: 'connected', redis: 'connected' });
      expect(isAlive(detail.pid)).to.equal(true);
      expect(detail.uptime_s).to.be.a('number').and.at.least(0);
      expect(detail.event_loop_lag_ms).to.be.a('number').and.at.least(0);
      expect(detail.inflight).to.be.a('number').and.at.least(0);
      // Reports are fresh: one is due every second.
      expect(detail.last_report_age_ms).to.be.a('number').and.at.most(2500);
    }

    for (let i = 0; i < rateLimitMax * 3; i += 1) {
      const api = await readHealth(pulse, 'api');
      expect(api.httpStatus, `API /health #${i + 1}`).to.equal(200);
      // No worker pids, counts or internals on the public port.
      expect(api.body).to.deep.equal({ status: 'healthy', database: 'connected', redis: 'connected' });
    }
    // The limiter is really on for the API (so /health was exempt, not unlimited by accident).
    const pings = await sendMany(`${pulse.url}/ping`, rateLimitMax + 2);
    expect(pings.get(429) ?? 0).to.be.at.least(1);
  });

  it('a SIGSTOPped worker is unresponsive within a few seconds (503, ready drops); SIGCONT brings it back', async () => {
    const pulse = await pulses.start({ workers: 2, env: { WORKER_HEARTBEAT_TIMEOUT_MS: '120000' } });
    const [victim, other] = (await readHealth(pulse)).body.details;
    process.kill(victim!.pid, 'SIGSTOP');
    stopped.push(victim!.pid);

    const stoppedAt = Date.now();
    const down = await healthUntil(pulse, (r) => r.httpStatus === 503, '/health to turn 503', 5000);
    expect(Date.now() - stoppedAt).to.be.at.least(1000, 'one late report is not enough to call a worker unresponsive');
    expect(down.body).to.include({ status: 'unhealthy', database: 'connected', redis: 'connected' });
    expect(down.body.workers).to.deep.equal({ expected: 2, ready: 1 });
    const detail = down.body.details.find((d) => d.pid === victim!.pid)!;
    expect(detail).to.include({ status: 'unresponsive', database: 'unknown', redis: 'unknown' });
    expect(detail.last_report_age_ms).to.be.above(2000);
    expect(down.body.details.find((d) => d.pid === other!.pid)).to.include({ status: 'ready' });
    // Liveness and readiness are about the service, and one worker still serves.
    expect((await getFresh(`${pulse.adminUrl}/health/live`)).status).to.equal(200);
    expect((await getFresh(`${pulse.adminUrl}/health/ready`)).status).to.equal(200);
    const metrics = await scrapeMetrics(pulse);
    expect(sampleValue(metrics.samples, 'pulse_healthy')).to.equal(0);
    expect(sampleValue(metrics.samples, 'pulse_workers_unresponsive')).to.equal(1);

    process.kill(victim!.pid, 'SIGCONT');
    stopped = [];
    const back = await healthUntil(pulse, (r) => r.httpStatus === 200, '/health to turn 200 again', 3000);
    expect(back.body.workers).to.deep.equal({ expected: 2, ready: 2 });
    expect(back.body.details.map((d) => d.pid).sort()).to.deep.equal([victim!.pid, other!.pid].sort());
    expect(pulse.logs.some((l) => l.msg === 'worker exited')).to.equal(false);
  });

  it('/health/live answers while the primary runs; /health/ready needs one responsive worker', async () => {
    const pulse = await pulses.start({ workers: 2, env: { WORKER_HEARTBEAT_TIMEOUT_MS: '120000' } });
    const live = await getFresh(`${pulse.adminUrl}/health/live`);
    expect(live.status).to.equal(200);
    expect(JSON.parse(live.text)).to.deep.equal({ status: 'alive' });
    const ready = await getFresh(`${pulse.adminUrl}/health/ready`);
    expect(ready.status).to.equal(200);
    expect(JSON.parse(ready.text)).to.deep.equal({ status: 'ready' });

    stopped = (await readHealth(pulse)).body.details.map((d) => d.pid);
    for (const pid of stopped) process.kill(pid, 'SIGSTOP');
    await waitFor(async () => (await getFresh(`${pulse.adminUrl}/health/ready`)).status === 503, '/health/ready to turn 503', 5000);
    expect((await getFresh(`${pulse.adminUrl}/health/live`)).status).to.equal(200);

    resume(stopped);
    stopped = [];
    await waitFor(async () => (await getFresh(`${pulse.adminUrl}/health/ready`)).status === 200, '/health/ready to turn 200 again', 3000);
  });

  it('a hung worker is killed after WORKER_HEARTBEAT_TIMEOUT_MS and replaced (reason hung, counted)', async () => {
    const heartbeatTimeoutMs = 2000;
    const pulse = await pulses.start({ workers: 2, env: { WORKER_HEARTBEAT_TIMEOUT_MS: String(heartbeatTimeoutMs) } });
    const victim = (await readHealth(pulse)).body.details[0]!.pid;
    const stoppedAt = Date.now();
    process.kill(victim, 'SIGSTOP');
    stopped.push(victim);

    const hung = await pulse.waitForLog((l) => l.msg === 'worker hung: no heartbeat, killing it' && l.workerPid === victim, 8000);
    expect(Date.now() - stoppedAt).to.be.at.least(heartbeatTimeoutMs - 1000);
    expect(hung.lastReportAgeMs).to.be.above(heartbeatTimeoutMs);
    const exited = await pulse.waitForLog((l) => l.msg === 'worker exited' && l.workerPid === victim);
    expect(exited).to.include({ reason: 'hung', signal: 'SIGKILL' });
    stopped = [];
    expect(isAlive(victim)).to.equal(false);

    const healthy = await healthUntil(pulse, (r) => r.httpStatus === 200, 'a healthy replacement', 10_000);
    expect(healthy.body.details.map((d) => d.pid)).to.not.include(victim);
    const metrics = await scrapeMetrics(pulse);
    expect(sampleValue(metrics.samples, 'pulse_worker_restarts_total', { reason: 'hung' })).to.equal(1);
    expect(sampleValue(metrics.samples, 'pulse_worker_restarts_total', { reason: 'crash' })).to.equal(0);
    expect(sampleValue(metrics.samples, 'pulse_worker_forced_kills_total', { reason: 'hung' })).to.equal(1);
    expect(sampleValue(metrics.samples, 'pulse_worker_forced_kills_total')).to.equal(1);
  });

  it('turns 503 "draining" at the very start of a shutdown, while a slow request keeps a worker busy', async () => {
    const pulse = await pulses.start({ workers: 2, env: { SHUTDOWN_TIMEOUT_MS: '5000' } });
    const body = JSON.stringify({ email: `draining-${Date.now()}@example.com`, password: 'secret-password' });
    const slow = new SlowRequest(pulse.port, 'POST', '/register', body);
    await slow.connected();
    slow.sendPart(10);
    await healthUntil(pulse, (r) => r.body.details.some((d) => (d.inflight ?? 0) >= 1), 'the slow request to be in flight', 5000);

    const from = pulse.logs.length;
    pulse.signal('SIGTERM');
    // The signal and this request race by a millisecond; once the primary has logged that
    // the shutdown started (the first thing it does), nothing may answer 200 any more.
    await pulse.waitForLog((l) => l.msg === 'shutdown started', 5000, from);
    const first = await readHealth(pulse);
    expect(first.httpStatus).to.equal(503);
    expect(first.body.status).to.equal('draining');
    expect((await getFresh(`${pulse.adminUrl}/health/ready`)).status).to.equal(503);
    expect((await getFresh(`${pulse.adminUrl}/health/live`)).status).to.equal(200);
    // Still the start of the drain: the slow request holds its worker.
    expect(pulse.logs.slice(from).filter((l) => l.msg === 'drain finished')).to.have.length.below(2);
    expect((await readHealth(pulse)).body.status).to.equal('draining');

    slow.sendRest(10);
    const response = await slow.response();
    expect(response).to.include({ status: 201 });
    expect((await pulse.waitExit(8000)).code).to.equal(0);
  });
});
