import { expect } from 'chai';
import { getFresh, healthUntil, readHealth, scrapeMetrics, sendMany } from '../support/observe.js';
import { sampleValue } from '../support/prometheus-text.js';
import { promtoolCheckMetrics } from '../support/promtool.js';
import { type PulseProcess, pulsePerTest } from '../support/pulse-process.js';

async function pingCount(pulse: PulseProcess): Promise<number> {
  const { status, samples } = await scrapeMetrics(pulse);
  expect(status).to.equal(200);
  return sampleValue(samples, 'http_requests_total', { route: '/ping' }) ?? 0;
}

describe('metrics stay monotonic when workers are replaced (end to end)', function () {
  this.timeout(60_000);
  const pulses = pulsePerTest();

  it('across a rolling restart (SIGHUP): never decreases, ends equal to what was sent, /health stays 200', async () => {
    const pulse = await pulses.start({ workers: 2, env: { RATE_LIMIT_MAX: '100000' } });
    const oldPids = (await readHealth(pulse)).body.details.map((d) => d.pid);
    let sent = 30;
    expect(await sendMany(`${pulse.url}/ping`, sent)).to.deep.equal(new Map([[200, sent]]));
    let last = await pingCount(pulse);
    expect(last).to.equal(sent);

    const from = pulse.logs.length;
    pulse.signal('SIGHUP');
    const finished = () => pulse.logs.slice(from).some((l) => l.msg === 'rolling restart finished' || l.msg.startsWith('rolling restart failed'));
    const healthStatuses = new Set<number>();
    let scrapes = 0;
    let sawInProgress = false;
    while (!finished()) {
      const ping = await getFresh(`${pulse.url}/ping`);
      expect(ping.status).to.equal(200);
      sent += 1;
      healthStatuses.add((await readHealth(pulse)).httpStatus);
      const { samples } = await scrapeMetrics(pulse);
      const count = sampleValue(samples, 'http_requests_total', { route: '/ping' }) ?? 0;
      expect(count, `scrape ${scrapes + 1} went backwards`).to.be.at.least(last);
      expect(count).to.be.at.most(sent);
      last = count;
      scrapes += 1;
      if (sampleValue(samples, 'pulse_rolling_restart_in_progress') === 1) sawInProgress = true;
    }
    expect(pulse.logs.slice(from).find((l) => l.msg === 'rolling restart finished')).to.include({ ok: true, replaced: 2 });
    expect(scrapes).to.be.at.least(3);
    expect(sawInProgress).to.equal(true);
    // N ready workers served throughout: a load balancer never saw the service unhealthy.
    expect([...healthStatuses]).to.deep.equal([200]);

    const newPids = (await readHealth(pulse)).body.details.map((d) => d.pid);
    expect(newPids.filter((pid) => oldPids.includes(pid))).to.deep.equal([]);
    const { samples, text } = await scrapeMetrics(pulse);
    expect(sampleValue(samples, 'http_requests_total', { route: '/ping' })).to.equal(sent);
    // Carried and live series merge into one valid exposition.
    const check = promtoolCheckMetrics(text);
    expect(check.unexpected, check.unexpected.join('\n')).to.deep.equal([]);
    expect(check.status).to.be.oneOf([0, 3]);
    expect(sampleValue(samples, 'pulse_worker_restarts_total', { reason: 'rolling' })).to.equal(2);
    expect(sampleValue(samples, 'pulse_rolling_restarts_total', { result: 'succeeded' })).to.equal(1);
    expect(sampleValue(samples, 'pulse_rolling_restart_in_progress')).to.equal(0);
    expect(sampleValue(samples, 'pulse_last_rolling_restart_duration_seconds')).to.be.above(0);
    expect(sampleValue(samples, 'pulse_last_drain_duration_seconds')).to.be.at.least(0);
    expect(sampleValue(samples, 'pulse_worker_forced_kills_total')).to.equal(0);
    // Starting and leaving workers are not misses: every scrape got every serving worker.
    expect(sampleValue(samples, 'pulse_metrics_scrape_worker_misses_total')).to.equal(0);
  });

  it('across a kill -9 of a worker: what was scraped stays counted, new requests add to it', async () => {
    const pulse = await pulses.start({ workers: 2, env: { RATE_LIMIT_MAX: '100000' } });
    expect(await sendMany(`${pulse.url}/ping`, 25)).to.deep.equal(new Map([[200, 25]]));
    expect(await pingCount(pulse)).to.equal(25);

    const victim = (await readHealth(pulse)).body.details[0]!.pid;
    process.kill(victim, 'SIGKILL');
    await pulse.waitForLog((l) => l.msg === 'worker exited' && l.workerPid === victim);
    expect(await pingCount(pulse)).to.equal(25);

    await healthUntil(pulse, (r) => r.httpStatus === 200 && !r.body.details.some((d) => d.pid === victim), 'a replacement worker', 10_000);
    expect(await pingCount(pulse)).to.equal(25);
    expect(await sendMany(`${pulse.url}/ping`, 10)).to.deep.equal(new Map([[200, 10]]));
    expect(await pingCount(pulse)).to.equal(35);
    const { samples } = await scrapeMetrics(pulse);
    expect(sampleValue(samples, 'pulse_worker_restarts_total', { reason: 'crash' })).to.equal(1);
  });
});
