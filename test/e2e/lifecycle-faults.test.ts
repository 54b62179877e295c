import fs from 'node:fs';
import { expect } from 'chai';
import { KeepAliveLoad } from '../support/keepalive-load.js';
import { healthUntil, scrapeMetrics } from '../support/observe.js';
import { sampleValue } from '../support/prometheus-text.js';
import { type PulseProcess, pulsePerTest } from '../support/pulse-process.js';
import { RecordedHttpLoad } from '../support/recorded-http-load.js';
import { sleep, waitFor } from '../support/wait.js';

const NO_RATE_LIMIT = { RATE_LIMIT_MAX: '1000000000' };
/** After the thaw: time for a worker wrongly judged hung to have been killed. */
const HEARTBEAT_GRACE_CHECK_MS = 2000;

function openDescriptors(pid: number): number {
  return fs.readdirSync(`/proc/${pid}/fd`).length;
}

async function readyWorkerPids(pulse: PulseProcess, count: number): Promise<number[]> {
  const reading = await healthUntil(
    pulse,
    (r) => r.body.details.length === count && r.body.details.every((d) => d.status === 'ready'),
    `${count} ready workers`,
    20_000,
  );
  return reading.body.details.map((d) => d.pid);
}

function signalAll(pids: number[], signal: NodeJS.Signals): void {
  for (const pid of pids) process.kill(pid, signal);
}

describe('lifecycle under faults: pauses, silence, crashes (end to end)', function () {
  this.timeout(90_000);
  const pulses = pulsePerTest();
  let frozen: number[] = [];
  afterEach(() => {
    for (const pid of frozen.splice(0)) {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        // gone
      }
    }
  });

  it('a whole-service pause (SIGSTOP primary and workers 12 s, SIGCONT workers then primary) kills no worker and fails no request', async () => {
    const pulse = await pulses.start({ workers: 2, env: NO_RATE_LIMIT });
    const workers = await pulse.workerPids();
    const keepAlive = new RecordedHttpLoad({ port: pulse.port, path: '/ping', concurrency: 16, timeoutMs: 30_000 });
    const fresh = new RecordedHttpLoad({ port: pulse.port, path: '/ping', concurrency: 4, headers: { Connection: 'close' }, timeoutMs: 30_000 });
    // Frozen as soon as load is served: the first worker to speak after the thaw must not get its peers judged hung.
    await waitFor(() => keepAlive.answered >= 16 && fresh.answered > 0, 'the load to be served');

    frozen = [pulse.pid, ...workers];
    signalAll(frozen, 'SIGSTOP');
    await sleep(12_000);
    signalAll(workers, 'SIGCONT');
    await sleep(100);
    signalAll([pulse.pid], 'SIGCONT');
    frozen = [];

    await pulse.waitForLog((l) => l.msg.startsWith('the primary was paused'), 5000);
    await healthUntil(pulse, (r) => r.httpStatus === 200, 'healthy after the thaw', 5000);
    await sleep(HEARTBEAT_GRACE_CHECK_MS);
    await Promise.all([keepAlive.stop(), fresh.stop()]);

    expect(pulse.logs.filter((l) => /hung|silent/.test(l.msg)), 'nothing judged hung').to.deep.equal([]);
    expect(await pulse.workerPids()).to.have.members(workers);
    for (const load of [keepAlive, fresh]) {
      const report = load.window();
      expect(Object.fromEntries(report.errors), 'client errors').to.deep.equal({});
      expect(Object.fromEntries(report.non2xx), 'non-2xx').to.deep.equal({});
      expect(report.ok, 'served, before and after the pause').to.be.above(0);
    }
  });

  it('with no worker responsive, /health says database and redis `unknown` and exports no pulse_dependency_up', async () => {
    const pulse = await pulses.start({ workers: 2, env: NO_RATE_LIMIT });
    const workers = await pulse.workerPids();
    frozen = workers;
    signalAll(workers, 'SIGSTOP');
    const reading = await healthUntil(pulse, (r) => r.body.workers.ready === 0, 'no responsive worker', 6000);
    expect(reading.httpStatus).to.equal(503);
    expect(reading.body).to.include({ status: 'unhealthy', database: 'unknown', redis: 'unknown' });
    const metrics = await scrapeMetrics(pulse);
    expect(sampleValue(metrics.samples, 'pulse_dependency_up', { dependency: 'database' })).to.equal(undefined);
    expect(sampleValue(metrics.samples, 'pulse_dependency_up', { dependency: 'redis' })).to.equal(undefined);
    expect(sampleValue(metrics.samples, 'pulse_healthy')).to.equal(0);

    signalAll(workers, 'SIGCONT');
    frozen = [];
    const back = await healthUntil(pulse, (r) => r.httpStatus === 200, 'healthy again', 6000);
    expect(back.body).to.include({ database: 'connected', redis: 'connected' });
    expect(sampleValue((await scrapeMetrics(pulse)).samples, 'pulse_dependency_up', { dependency: 'redis' })).to.equal(1);
  });

  it('kill -9 of workers under connection-per-request load: no client is left waiting, no descriptor leaks in the primary', async function () {
    this.timeout(150_000);
    const rounds = 10;
    const pulse = await pulses.start({ workers: 3, env: { ...NO_RATE_LIMIT, WORKER_RESPAWN_BACKOFF_MAX_MS: '100' } });
    let pids = await readyWorkerPids(pulse, 3);
    const descriptorsBefore = openDescriptors(pulse.pid);
    const load = new RecordedHttpLoad({ port: pulse.port, path: '/ping', concurrency: 12, headers: { Connection: 'close' }, timeoutMs: 8000 });
    const servedMore = async (what: string) => {
      const before = load.answered;
      await waitFor(() => load.answered > before, what);
    };
    await servedMore('the load to be served');

    for (let round = 0; round < rounds; round += 1) {
      const victims = pids.slice(0, 2);
      const from = pulse.logs.length;
      signalAll(victims, 'SIGKILL');
      await waitFor(
        () => victims.every((pid) => pulse.logs.slice(from).some((l) => l.msg === 'worker exited' && l.workerPid === pid)),
        'both exits seen by the primary',
      );
      await servedMore('requests served between the kills');
      pids = await readyWorkerPids(pulse, 3);
    }
    await servedMore('requests served after the last kill');
    await load.stop();

    const slowest = Math.max(...load.records.map((r) => r.end - r.start));
    const timedOut = load.records.filter((r) => r.error === 'TIMEOUT');
    expect(timedOut, 'requests left waiting for an answer').to.deep.equal([]);
    expect(slowest, 'the longest any request waited (ms)').to.be.below(4000);
    const metrics = await scrapeMetrics(pulse);
    expect(sampleValue(metrics.samples, 'pulse_worker_restarts_total', { reason: 'crash' })).to.equal(rounds * 2);
    expect(sampleValue(metrics.samples, 'pulse_stranded_connections_total', { outcome: 'closed' })).to.equal(0);
    await waitFor(() => openDescriptors(pulse.pid) <= descriptorsBefore, `the primary's descriptors back to ${descriptorsBefore}`, 5000);
  });
});

describe('a shutdown that overlaps a worker start (end to end)', function () {
  this.timeout(60_000);
  const pulses = pulsePerTest();

  it('SIGHUP, then SIGTERM while the replacement boots, under keep-alive load: nothing reset, exit 0 and the log says so', async () => {
    const pulse = await pulses.start({ workers: 2, env: NO_RATE_LIMIT });
    const keepAlive = new KeepAliveLoad(pulse.port, '/ping', 32);
    const fresh = new RecordedHttpLoad({ port: pulse.port, path: '/ping', concurrency: 4, headers: { Connection: 'close' }, timeoutMs: 8000 });
    await waitFor(() => keepAlive.answered >= 32 && fresh.answered > 0, 'the load to be served');
    const from = pulse.logs.length;
    pulse.signal('SIGHUP');
    const forked = await pulse.waitForLog((l) => l.msg === 'worker forked' && l.replacement === true, 5000, from);
    pulse.signal('SIGTERM');
    const exit = await pulse.waitExit(15_000);
    const [report] = await Promise.all([keepAlive.stop(), fresh.stop()]);

    expect(exit.code, pulse.tail()).to.equal(0);
    expect(pulse.logs.some((l) => l.msg === 'shutdown complete: every worker drained')).to.equal(true);
    expect(pulse.logs.some((l) => l.msg === 'ready' && l.worker === forked.worker), 'the replacement never listened').to.equal(false);
    // Once the listener is closed, refused connections are the expected answer; nothing may be reset.
    const { ECONNREFUSED: _refused, ...keepAliveErrors } = Object.fromEntries(report.errors);
    expect(keepAliveErrors, 'keep-alive clients').to.deep.equal({});
    // A client connecting at the very instant the listener closes can be reset by the kernel
    // (its connection was still in the accept queue); what must never happen is a client left waiting.
    expect(fresh.records.filter((r) => r.error === 'TIMEOUT'), 'connection-per-request clients left waiting').to.deep.equal([]);
    expect(report.answered).to.be.above(0);
  });

  it('kill -9 of a worker, then SIGTERM while its respawn boots: the booting replacement stops before listening, nobody waits, exit 0', async () => {
    const pulse = await pulses.start({ workers: 2, env: NO_RATE_LIMIT });
    const [victim] = await pulse.workerPids();
    const fresh = new RecordedHttpLoad({ port: pulse.port, path: '/ping', concurrency: 8, headers: { Connection: 'close' }, timeoutMs: 8000 });
    await waitFor(() => fresh.answered > 0, 'the load to be served');
    const from = pulse.logs.length;
    process.kill(victim!, 'SIGKILL');
    await pulse.waitForLog((l) => l.msg === 'worker forked' && l.worker === 3, 10_000, from);
    expect(pulse.logs.some((l) => l.msg === 'ready' && l.worker === 3), 'the respawn is still booting').to.equal(false);
    pulse.signal('SIGTERM');
    const exit = await pulse.waitExit(15_000);
    await fresh.stop();

    expect(exit.code, pulse.tail()).to.equal(0);
    expect(pulse.logs.some((l) => l.msg === 'shutdown complete: every worker drained')).to.equal(true);
    expect(fresh.records.filter((r) => r.error === 'TIMEOUT'), 'requests left waiting').to.deep.equal([]);
    const replacement = pulse.logs.find((l) => l.msg === 'worker forked' && l.worker === 3);
    expect(replacement, 'the respawn was forked before the SIGTERM').to.not.equal(undefined);
    expect(pulse.logs.some((l) => l.msg === 'ready' && l.worker === 3), 'the respawn never listened').to.equal(false);
  });
});
