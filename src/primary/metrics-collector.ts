import { AggregatorRegistry, Registry } from 'prom-client';
import type { MetricsSnapshot } from '../shared/ipc-protocol.js';
import type { ManagedWorker, Supervisor } from './supervisor.js';
import type { SupervisorMetrics } from './supervisor-metrics.js';

/** Only metrics that must never go down are carried for workers that are gone. */
function monotonicPart(snapshot: MetricsSnapshot): MetricsSnapshot {
  return snapshot.filter((metric) => ['counter', 'histogram'].includes(String(metric.type)));
}

/**
 * Scrapes every worker over IPC, merges with prom-client's aggregator, adds the
 * counters of workers that are gone (so sums never go backwards when one is replaced)
 * and the supervisor's own registry. A worker that does not answer in time is served
 * from its last snapshot and counted as a miss.
 */
export class MetricsCollector {
  private nextRequestId = 1;
  private readonly pending = new Map<number, (snapshot: MetricsSnapshot) => void>();
  private readonly lastSnapshots = new Map<number, MetricsSnapshot>();
  private retired: MetricsSnapshot = [];

  constructor(
    private readonly supervisor: Supervisor,
    private readonly supervisorMetrics: SupervisorMetrics,
    private readonly workerTimeoutMs: number,
  ) {
    supervisor.on('worker-message', (_worker, message) => {
      if (message.type !== 'metrics-response') return;
      this.pending.get(message.requestId)?.(message.metrics);
      this.pending.delete(message.requestId);
    });
    supervisor.on('worker-gone', (worker) => void this.carry(worker));
  }

  private async carry(worker: ManagedWorker): Promise<void> {
    const snapshot = worker.finalMetrics ?? this.lastSnapshots.get(worker.id);
    this.lastSnapshots.delete(worker.id);
    if (!snapshot) return;
    const merged = AggregatorRegistry.aggregate([this.retired, monotonicPart(snapshot)]);
    this.retired = (await merged.getMetricsAsJSON()) as MetricsSnapshot;
  }

  private requestSnapshot(worker: ManagedWorker): Promise<MetricsSnapshot | undefined> {
    const requestId = this.nextRequestId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(requestId);
        resolve(undefined);
      }, this.workerTimeoutMs);
      this.pending.set(requestId, (snapshot) => {
        clearTimeout(timer);
        resolve(snapshot);
      });
      this.supervisor.send(worker, { type: 'metrics-request', requestId });
    });
  }

  async scrape(): Promise<{ contentType: string; body: string }> {
    const workers = [...this.supervisor.workers.values()];
    const answers = await Promise.all(workers.map((worker) => this.requestSnapshot(worker)));
    const snapshots: MetricsSnapshot[] = [];
    workers.forEach((worker, index) => {
      const answer = answers[index];
      // A worker that left during the scrape is already part of `retired`.
      if (!this.supervisor.workers.has(worker.id)) return;
      if (answer) {
        this.lastSnapshots.set(worker.id, answer);
        snapshots.push(answer);
      } else {
        this.supervisorMetrics.metricsScrapeMisses.inc();
        const last = this.lastSnapshots.get(worker.id);
        if (last) snapshots.push(last);
      }
    });
    const workersRegistry = AggregatorRegistry.aggregate<typeof Registry.PROMETHEUS_CONTENT_TYPE>([...snapshots, this.retired]);
    const combined = Registry.merge([workersRegistry, this.supervisorMetrics.registry]);
    return { contentType: combined.contentType, body: await combined.metrics() };
  }
}
