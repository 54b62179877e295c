import { EventEmitter } from 'node:events';
import { expect } from 'chai';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { MetricsCollector, type WorkerSource } from '../../src/primary/metrics-collector.js';
import type { ManagedWorker } from '../../src/primary/managed-worker.js';
import type { SupervisorEvents } from '../../src/primary/supervisor.js';
import { createSupervisorMetrics } from '../../src/primary/supervisor-metrics.js';
import type { MetricsSnapshot, PrimaryMessageBody } from '../../src/shared/ipc-protocol.js';
import { parseExposition, sampleValue } from '../support/prometheus-text.js';

const TIMEOUT_MS = 200;

/** A worker's registry, as the app builds it: a counter, a histogram and a gauge. */
class FakeWorker {
  readonly registry = new Registry();
  readonly requests = new Counter({ name: 'http_requests_total', help: 'requests', labelNames: ['route'] as const, registers: [this.registry] });
  readonly duration = new Histogram({ name: 'http_request_duration_seconds', help: 'duration', buckets: [0.1, 1], registers: [this.registry] });
  readonly inflight = new Gauge({ name: 'inflight_requests', help: 'in flight', registers: [this.registry] });
  stopped = false;
  readonly managed: { id: number; pid: number; state: string; finalMetrics?: MetricsSnapshot };

  constructor(id: number) {
    this.managed = { id, pid: 100 + id, state: 'ready' };
  }

  serve(count: number, route = '/ping'): void {
    this.requests.inc({ route }, count);
    for (let i = 0; i < count; i += 1) this.duration.observe(0.05);
    this.inflight.set(count);
  }

  /** As it arrives over IPC: a serialized copy (prom-client hands out its live value objects). */
  async snapshot(): Promise<MetricsSnapshot> {
    return JSON.parse(JSON.stringify(await this.registry.getMetricsAsJSON())) as MetricsSnapshot;
  }
}

/** The supervisor's side: workers answer metrics requests over "IPC" unless stopped. */
class FakeSupervisor extends EventEmitter<SupervisorEvents> implements WorkerSource {
  private readonly running = new Map<number, ManagedWorker>();
  private readonly fakes = new Map<number, FakeWorker>();

  get workers(): ManagedWorker[] {
    return [...this.running.values()];
  }

  add(fake: FakeWorker): FakeWorker {
    this.running.set(fake.managed.id, fake.managed as unknown as ManagedWorker);
    this.fakes.set(fake.managed.id, fake);
    return fake;
  }

  send(worker: ManagedWorker, body: PrimaryMessageBody): void {
    const fake = this.fakes.get(worker.id)!;
    if (body.type !== 'metrics-request' || fake.stopped) return;
    void fake.snapshot().then((metrics) =>
      setImmediate(() => this.emit('worker-message', worker, { pulse: 1, type: 'metrics-response', requestId: body.requestId, metrics })),
    );
  }

  gone(fake: FakeWorker, finalMetrics?: MetricsSnapshot): void {
    fake.managed.finalMetrics = finalMetrics;
    this.running.delete(fake.managed.id);
    this.emit('worker-exit', fake.managed as unknown as ManagedWorker);
  }
}

describe('MetricsCollector (unit)', () => {
  let supervisor: FakeSupervisor;
  let metrics: ReturnType<typeof createSupervisorMetrics>;
  let collector: MetricsCollector;

  beforeEach(() => {
    supervisor = new FakeSupervisor();
    metrics = createSupervisorMetrics();
    collector = new MetricsCollector(supervisor, metrics, TIMEOUT_MS);
  });

  const scrape = async () => parseExposition((await collector.scrape()).body);
  const pings = (samples: ReturnType<typeof parseExposition>) => sampleValue(samples, 'http_requests_total', { route: '/ping' });

  it('sums every worker and merges the supervisor registry', async () => {
    supervisor.add(new FakeWorker(1)).serve(3);
    supervisor.add(new FakeWorker(2)).serve(4);
    const samples = await scrape();
    expect(pings(samples)).to.equal(7);
    expect(sampleValue(samples, 'http_request_duration_seconds_count', {})).to.equal(7);
    expect(sampleValue(samples, 'inflight_requests', {})).to.equal(7);
    expect(sampleValue(samples, 'pulse_worker_restarts_total', { reason: 'crash' })).to.equal(0);
  });

  it('carries the final counters of a drained worker, but not its gauges', async () => {
    const old = supervisor.add(new FakeWorker(1));
    supervisor.add(new FakeWorker(2)).serve(4);
    old.serve(3);
    expect(pings(await scrape())).to.equal(7);
    old.serve(2); // served during its drain, after the last scrape
    supervisor.gone(old, await old.snapshot());
    supervisor.add(new FakeWorker(3)).serve(1);
    const samples = await scrape();
    expect(pings(samples)).to.equal(10);
    expect(sampleValue(samples, 'http_request_duration_seconds_bucket', { le: '0.1' })).to.equal(10);
    expect(sampleValue(samples, 'inflight_requests', {})).to.equal(4 + 1);
  });

  it('carries what was last scraped from a worker that crashed, so the sum never goes back', async () => {
    const crashing = supervisor.add(new FakeWorker(1));
    crashing.serve(5);
    const before = pings(await scrape());
    supervisor.gone(crashing);
    expect(pings(await scrape())).to.equal(before);
    for (let generation = 2; generation < 5; generation += 1) {
      const next = supervisor.add(new FakeWorker(generation));
      next.serve(1);
      await scrape();
      supervisor.gone(next);
    }
    expect(pings(await scrape())).to.equal(8);
  });

  it('serves a worker that does not answer from its last snapshot and counts the miss', async () => {
    const stuck = supervisor.add(new FakeWorker(1));
    supervisor.add(new FakeWorker(2)).serve(1);
    stuck.serve(2);
    await scrape();
    stuck.stopped = true;
    stuck.serve(100); // invisible while it does not answer
    const started = Date.now();
    const samples = await scrape();
    expect(Date.now() - started).to.be.within(TIMEOUT_MS - 20, TIMEOUT_MS + 500);
    expect(pings(samples)).to.equal(3);
    expect(sampleValue(samples, 'pulse_metrics_scrape_worker_misses_total', {})).to.equal(1);
  });

  it('does not ask a worker that is still booting (it has served nothing yet): no wait, no miss', async () => {
    supervisor.add(new FakeWorker(1)).serve(2);
    const starting = supervisor.add(new FakeWorker(2));
    starting.stopped = true;
    starting.managed.state = 'booting';
    const started = Date.now();
    const samples = await scrape();
    expect(Date.now() - started).to.be.below(TIMEOUT_MS);
    expect(pings(samples)).to.equal(2);
    expect(sampleValue(samples, 'pulse_metrics_scrape_worker_misses_total', {})).to.equal(0);
  });

  it('does not wait for the timeout on a worker that exits during the scrape', async () => {
    const leaving = supervisor.add(new FakeWorker(1));
    leaving.serve(2);
    await scrape();
    leaving.stopped = true;
    const started = Date.now();
    const pending = scrape();
    supervisor.gone(leaving, await leaving.snapshot());
    const samples = await pending;
    expect(Date.now() - started).to.be.below(TIMEOUT_MS);
    expect(pings(samples)).to.equal(2);
    expect(sampleValue(samples, 'pulse_metrics_scrape_worker_misses_total', {})).to.equal(0);
  });
});
