import crypto from 'node:crypto';
import { expect } from 'chai';
import { UNMATCHED_ROUTE } from '../../src/app/metrics.js';
import { readHealth, scrapeMetrics, sendMany } from '../support/observe.js';
import { declaredFamilies, labelValues, sampleValue } from '../support/prometheus-text.js';
import { promtoolCheckMetrics } from '../support/promtool.js';
import { pulsePerTest } from '../support/pulse-process.js';
import { waitFor } from '../support/wait.js';

describe('metrics (end to end)', function () {
  this.timeout(40_000);
  const pulses = pulsePerTest();

  it('sums the requests of every worker, labelled by route pattern, plus default and supervisor metrics', async () => {
    const pulse = await pulses.start({ workers: 2, env: { RATE_LIMIT_MAX: '100000' } });
    const pings = 40;
    const entries = 10;
    const randomPaths = 50;
    expect(await sendMany(`${pulse.url}/ping`, pings)).to.deep.equal(new Map([[200, pings]]));
    for (let id = 1; id <= entries; id += 1) expect((await sendMany(`${pulse.url}/entries/${id}`, 1)).get(401)).to.equal(1);
    for (let i = 0; i < randomPaths; i += 1) {
      expect((await sendMany(`${pulse.url}/no-such-${crypto.randomUUID()}/x`, 1)).get(404)).to.equal(1);
    }

    const { samples, text } = await scrapeMetrics(pulse);
    expect(sampleValue(samples, 'http_requests_total', { route: '/ping' })).to.equal(pings);
    expect(sampleValue(samples, 'http_requests_total', { method: 'GET', route: '/ping', status: '200' })).to.equal(pings);
    expect(sampleValue(samples, 'http_requests_total', { method: 'GET', route: '/entries/:id', status: '401' })).to.equal(entries);
    expect(sampleValue(samples, 'http_requests_total', { route: UNMATCHED_ROUTE, status: '404' })).to.equal(randomPaths);
    expect(sampleValue(samples, 'http_requests_total')).to.equal(pings + entries + randomPaths);
    // Bounded cardinality: patterns only, the random paths share one label.
    expect(labelValues(samples, 'http_requests_total', 'route')).to.deep.equal(['/entries/:id', '/ping', UNMATCHED_ROUTE].sort());
    expect(text).to.not.include('no-such-');
    expect(sampleValue(samples, 'http_request_duration_seconds_count', { route: '/ping' })).to.equal(pings);
    expect(sampleValue(samples, 'http_request_duration_seconds_bucket', { route: '/ping', status: '200', le: '+Inf' })).to.equal(pings);

    const families = declaredFamilies(text);
    for (const [name, type] of [
      ['http_requests_total', 'counter'],
      ['http_request_duration_seconds', 'histogram'],
      ['pulse_rate_limit_decisions_total', 'counter'],
      ['pulse_redis_up', 'gauge'],
      ['pulse_redis_breaker_state', 'gauge'],
      ['pulse_redis_breaker_short_circuits_total', 'counter'],
      ['pulse_redis_breaker_transitions_total', 'counter'],
      ['pulse_db_pool_connections', 'gauge'],
      ['pulse_db_connections_given_up_total', 'counter'],
      // Default Node metrics of the workers, and of the primary under its own prefix.
      ['process_cpu_seconds_total', 'counter'],
      ['process_resident_memory_bytes', 'gauge'],
      ['nodejs_eventloop_lag_seconds', 'gauge'],
      ['nodejs_heap_size_used_bytes', 'gauge'],
      ['nodejs_gc_duration_seconds', 'histogram'],
      ['pulse_primary_process_resident_memory_bytes', 'gauge'],
      ['pulse_primary_nodejs_eventloop_lag_seconds', 'gauge'],
    ]) {
      expect(families.get(name!), name).to.equal(type);
    }
    expect(sampleValue(samples, 'pulse_redis_up')).to.equal(1);
    // Summed over the workers: how many have their Redis breaker in each state.
    expect(sampleValue(samples, 'pulse_redis_breaker_state', { state: 'closed' })).to.equal(2);
    expect(sampleValue(samples, 'pulse_redis_breaker_state', { state: 'open' })).to.equal(0);
    expect(sampleValue(samples, 'pulse_redis_breaker_short_circuits_total', { caller: 'rate_limit' })).to.equal(0);

    // Every rate-limit decision is exported from the start; the fail-open count is one of them.
    for (const decision of ['blocked', 'failed_open']) {
      expect(sampleValue(samples, 'pulse_rate_limit_decisions_total', { decision }), decision).to.equal(0);
    }
    expect(sampleValue(samples, 'pulse_rate_limit_decisions_total', { decision: 'allowed' })).to.equal(pings + entries + randomPaths);
    expect(families.has('pulse_rate_limit_fail_open_total')).to.equal(false);

    // Per-process values are not summed across workers: a limit is one process's limit (the
    // workers inherit the primary's), the start time is the newest worker's.
    const maxFds = sampleValue(samples, 'process_max_fds')!;
    expect(maxFds).to.be.above(0);
    expect(maxFds).to.equal(sampleValue(samples, 'pulse_primary_process_max_fds'));
    expect(sampleValue(samples, 'process_open_fds')).to.be.below(maxFds);
    const workersStarted = sampleValue(samples, 'process_start_time_seconds')!;
    expect(workersStarted).to.be.at.least(sampleValue(samples, 'pulse_primary_process_start_time_seconds')!);
    expect(workersStarted).to.be.at.most(Date.now() / 1000);

    // The supervisor's own view.
    expect(sampleValue(samples, 'pulse_workers_expected')).to.equal(2);
    expect(sampleValue(samples, 'pulse_workers_ready')).to.equal(2);
    expect(sampleValue(samples, 'pulse_workers_unresponsive')).to.equal(0);
    for (const reason of ['crash', 'hung', 'memory', 'max_requests', 'rolling', 'startup_timeout']) {
      expect(sampleValue(samples, 'pulse_worker_restarts_total', { reason }), reason).to.equal(0);
    }
    expect(sampleValue(samples, 'pulse_worker_forced_kills_total')).to.equal(0);
    expect(sampleValue(samples, 'pulse_last_drain_duration_seconds')).to.equal(0);
    expect(sampleValue(samples, 'pulse_rolling_restart_in_progress')).to.equal(0);
    expect(sampleValue(samples, 'pulse_rolling_restarts_total', { result: 'succeeded' })).to.equal(0);
    expect(sampleValue(samples, 'pulse_last_rolling_restart_duration_seconds')).to.equal(0);
    expect(sampleValue(samples, 'pulse_dependency_up', { dependency: 'database' })).to.equal(1);
    expect(sampleValue(samples, 'pulse_dependency_up', { dependency: 'redis' })).to.equal(1);
    expect(sampleValue(samples, 'pulse_healthy')).to.equal(1);
    expect(sampleValue(samples, 'pulse_metrics_scrape_worker_misses_total')).to.equal(0);

    // The requests really were spread: each worker reports what it served when it drains.
    await pulse.stop();
    const served = pulse.logs.filter((l) => l.msg === 'drain finished').map((l) => Number(l.requestsServed));
    expect(served).to.have.length(2);
    for (const count of served) expect(count).to.be.above(0);
    expect(served.reduce((a, b) => a + b, 0)).to.equal(pings + entries + randomPaths);
  });

  it('is a valid exposition: promtool check metrics finds nothing but prom-client\'s own *_total gauges', async () => {
    const pulse = await pulses.start({ workers: 2, env: { RATE_LIMIT_MAX: '100000' } });
    await sendMany(`${pulse.url}/ping`, 5);
    await sendMany(`${pulse.url}/nowhere`, 2);
    const { status, text } = await scrapeMetrics(pulse);
    expect(status).to.equal(200);
    const check = promtoolCheckMetrics(text);
    expect(check.error, 'promtool must be installed (Debian package "prometheus")').to.equal(undefined);
    expect(check.unexpected, check.unexpected.join('\n')).to.deep.equal([]);
    // 0: clean; 3: parsed fine, lint notes only; anything else: not a valid exposition.
    expect(check.status).to.be.oneOf([0, 3]);
  });

  it('a SIGSTOPped worker does not make /metrics hang or fail: served from its last snapshot, the miss counted', async () => {
    const pulse = await pulses.start({ workers: 2, env: { RATE_LIMIT_MAX: '100000', WORKER_HEARTBEAT_TIMEOUT_MS: '120000' } });
    await sendMany(`${pulse.url}/ping`, 20);
    const before = await scrapeMetrics(pulse);
    expect(sampleValue(before.samples, 'http_requests_total', { route: '/ping' })).to.equal(20);

    const victim = (await readHealth(pulse)).body.details[0]!.pid;
    process.kill(victim, 'SIGSTOP');
    try {
      const during = await scrapeMetrics(pulse);
      expect(during.status).to.equal(200);
      // One worker timeout (1 s) and no more; generous bound, this is not a benchmark.
      expect(during.elapsedMs).to.be.below(3000);
      expect(sampleValue(during.samples, 'http_requests_total', { route: '/ping' })).to.equal(20);
      expect(sampleValue(during.samples, 'pulse_metrics_scrape_worker_misses_total')).to.equal(1);
      const again = await scrapeMetrics(pulse);
      expect(sampleValue(again.samples, 'pulse_metrics_scrape_worker_misses_total')).to.equal(2);
    } finally {
      process.kill(victim, 'SIGCONT');
    }
    await waitFor(async () => (await readHealth(pulse)).httpStatus === 200, 'the worker to report again', 5000);
    const after = await scrapeMetrics(pulse);
    expect(sampleValue(after.samples, 'pulse_metrics_scrape_worker_misses_total')).to.equal(2);
    expect(sampleValue(after.samples, 'http_requests_total', { route: '/ping' })).to.equal(20);
  });
});
