import { expect } from 'chai';
import { non2xx } from '../support/autocannon-load.js';
import { KeepAliveLoad } from '../support/keepalive-load.js';
import { parseExposition, sampleValue } from '../support/prometheus-text.js';
import { isAlive, type PulseProcess, pulsePerTest } from '../support/pulse-process.js';
import { waitFor } from '../support/wait.js';

async function restarts(pulse: PulseProcess, reason: string): Promise<number> {
  const res = await fetch(`${pulse.adminUrl}/metrics`);
  return sampleValue(parseExposition(await res.text()), 'pulse_worker_restarts_total', { reason }) ?? 0;
}

const REPORT_INTERVAL_MS = 250;
const REQUEST_LIMIT = 200;

const exitsFor = (pulse: PulseProcess, reason: string) => pulse.logs.filter((l) => l.msg === 'worker exited' && l.reason === reason);

describe('worker recycling and hung workers (end to end)', function () {
  this.timeout(60_000);
  const pulses = pulsePerTest();

  it('recycles a worker after MAX_REQUESTS_PER_WORKER through the rolling path, without a failed request', async () => {
    const pulse = await pulses.start({
      workers: 2,
      env: { MAX_REQUESTS_PER_WORKER: String(REQUEST_LIMIT), HEALTH_REPORT_INTERVAL_MS: String(REPORT_INTERVAL_MS), RATE_LIMIT_MAX: '1000000000' },
    });
    // Paced (at most ~400 requests/s): a worker takes several report intervals to serve its limit.
    const load = new KeepAliveLoad(pulse.port, '/ping', 8, {}, 20);
    // Under steady load every worker crosses the limit again and again: one at a time.
    await waitFor(() => exitsFor(pulse, 'max_requests').length >= 2, 'two workers recycled for max_requests', 30_000);
    const report = await load.stop();

    expect(non2xx(report.statuses)).to.deep.equal([]);
    expect(Object.fromEntries(report.errors)).to.deep.equal({});
    const recycled = pulse.logs.filter((l) => l.msg === 'recycling worker');
    expect(recycled.length).to.be.at.least(2);
    for (const line of recycled.slice(0, 2)) {
      expect(line.reason).to.equal('max_requests');
      expect(line.requestsServed).to.be.at.least(REQUEST_LIMIT);
    }
    // Not late: 1 s (four report intervals: room for lag) before the first decision, its worker
    // had not yet served its limit (+ under 10% jitter); a worker recycled at 3x its limit would
    // have, even at the fastest pace. Later decisions may wait: one worker is recycled at a
    // time. The exact threshold is the supervisor unit test's.
    const first = recycled[0]!;
    const decidedAt = Date.parse(String(first.time));
    const servedEarlier = pulse.logs.filter((l) => l.msg === 'request' && l.worker === first.worker && Date.parse(String(l.time)) <= decidedAt - 4 * REPORT_INTERVAL_MS);
    expect(servedEarlier.length).to.be.below(REQUEST_LIMIT * 1.1);
    for (const line of exitsFor(pulse, 'max_requests')) expect(line.code).to.equal(0);
    expect(await restarts(pulse, 'max_requests')).to.be.at.least(2);
    // Replacements went through the rolling path: a new worker ready before the old one left.
    expect(pulse.logs.some((l) => l.msg === 'recycling failed; old worker kept')).to.equal(false);

    pulse.signal('SIGTERM');
    expect((await pulse.waitExit()).code).to.equal(0);
  });

  it('recycles a worker above MAX_WORKER_MEMORY_MB (and keeps serving while it does)', async () => {
    // 1 MB is below any Node process: every worker is recycled as soon as it reports,
    // one at a time, forever. The test watches two rounds, then stops.
    const pulse = await pulses.start({
      workers: 1,
      env: { MAX_WORKER_MEMORY_MB: '1', HEALTH_REPORT_INTERVAL_MS: '250', RATE_LIMIT_MAX: '1000000000' },
      waitHealthy: false,
    });
    await pulse.waitForLog((l) => l.msg === 'worker ready');
    const load = new KeepAliveLoad(pulse.port, '/ping', 4);
    await waitFor(() => exitsFor(pulse, 'memory').length >= 2, 'two workers recycled for memory', 30_000);
    const report = await load.stop();

    const recycled = pulse.logs.find((l) => l.msg === 'recycling worker');
    expect(recycled?.reason).to.equal('memory');
    expect(recycled?.rssBytes).to.be.above(1024 * 1024);
    expect(await restarts(pulse, 'memory')).to.be.at.least(2);
    expect(report.answered, 'the load was served while workers were recycled').to.be.above(0);
    expect(non2xx(report.statuses)).to.deep.equal([]);
    expect(Object.fromEntries(report.errors)).to.deep.equal({});

    pulse.signal('SIGTERM');
    expect((await pulse.waitExit()).code).to.equal(0);
  });

  it('kills a worker whose heartbeats stop (SIGSTOP) after WORKER_HEARTBEAT_TIMEOUT_MS and replaces it (reason hung)', async () => {
    const pulse = await pulses.start({ workers: 2, env: { WORKER_HEARTBEAT_TIMEOUT_MS: '2000', HEALTH_REPORT_INTERVAL_MS: '250' } });
    const [victim, survivor] = await pulse.workerPids();
    process.kill(victim!, 'SIGSTOP');

    const hung = await pulse.waitForLog((l) => l.msg === 'worker hung: no heartbeat, killing it' && l.workerPid === victim, 10_000);
    expect(hung.lastReportAgeMs).to.be.above(2000);
    const exited = await pulse.waitForLog((l) => l.msg === 'worker exited' && l.workerPid === victim);
    expect(exited).to.include({ reason: 'hung', signal: 'SIGKILL' });
    expect(isAlive(victim!)).to.equal(false);

    await pulse.waitHealthy();
    const pids = await pulse.workerPids();
    expect(pids).to.have.length(2);
    expect(pids).to.include(survivor);
    expect(pids).to.not.include(victim);
    expect(await restarts(pulse, 'hung')).to.equal(1);
  });
});
