import { AggregatorRegistry, Registry } from 'prom-client';
import type { MetricsSnapshot, PrimaryMessageBody } from '../shared/ipc-protocol.js';
import { PendingRequests } from '../shared/pending-requests.js';
import type { ManagedWorker } from './managed-worker.js';
import { RetiredMetrics } from './retired-metrics.js';
import type { SupervisorEvents } from './supervisor.js';
import type { SupervisorMetrics } from './supervisor-metrics.js';

/** What the collector needs from the supervisor (a narrow seam, so it can be tested alone). */
export interface WorkerSource {
  readonly workers: readonly ManagedWorker[];
  send(worker: ManagedWorker, body: PrimaryMessageBody): void;
  on<E extends keyof SupervisorEvents>(event: E, listener: (...args: SupervisorEvents[E]) => void): unknown;
}

/**
 * Scrapes every worker over IPC, merges with prom-client's aggregator, adds the
 * counters of workers that are gone (so sums never go backwards when one is replaced)
 * and the supervisor's own registry. A worker that does not answer in time is served
 * from its last snapshot and counted as a miss.
 */
export class MetricsCollector {
  private readonly requests = new PendingRequests<MetricsSnapshot, number>();
  private readonly lastSnapshots = new Map<number, MetricsSnapshot>();
  private readonly retired = new RetiredMetrics();

  constructor(
    private readonly supervisor: WorkerSource,
    private readonly supervisorMetrics: Pick<SupervisorMetrics, 'registry' | 'metricsScrapeMisses'>,
    private readonly workerTimeoutMs: number,
  ) {
    supervisor.on('worker-message', (_worker, message) => {
      if (message.type === 'metrics-response') this.requests.answer(message.requestId, message.metrics);
    });
    supervisor.on('worker-exit', (worker) => this.retire(worker));
  }

  /**
   * A drained worker sent its final counts; a crashed or killed one is carried with
   * what was last scraped from it, which is exactly what Prometheus last saw.
   */
  private retire(worker: ManagedWorker): void {
    const snapshot = worker.finalMetrics ?? this.lastSnapshots.get(worker.id);
    this.lastSnapshots.delete(worker.id);
    if (snapshot) this.retired.add(snapshot);
    // A scrape waiting on this worker need not wait for its timeout.
    this.requests.abandon((workerId) => workerId === worker.id);
  }

  private requestSnapshot(worker: ManagedWorker): Promise<MetricsSnapshot | undefined> {
    return this.requests.request(
      (requestId) => {
        this.supervisor.send(worker, { type: 'metrics-request', requestId });
        return true;
      },
      this.workerTimeoutMs,
      worker.id,
    );
  }

  async scrape(): Promise<{ contentType: string; body: string }> {
    // A worker that has not listened yet has served nothing, and one just forked may not
    // hear us yet: asking would only cost a timeout and a false miss.
    const workers = this.supervisor.workers.filter((worker) => worker.state === 'ready' || worker.state === 'draining');
    const answers = await Promise.all(workers.map((worker) => this.requestSnapshot(worker)));
    const snapshots: MetricsSnapshot[] = [];
    const stillRunning = new Set(this.supervisor.workers);
    workers.forEach((worker, index) => {
      // A worker that left during the scrape is already counted in `retired`.
      if (!stillRunning.has(worker)) return;
      const answer = answers[index];
      if (answer) {
        this.lastSnapshots.set(worker.id, answer);
        snapshots.push(answer);
        return;
      }
      this.supervisorMetrics.metricsScrapeMisses.inc();
      const last = this.lastSnapshots.get(worker.id);
      if (last) snapshots.push(last);
    });
    snapshots.push(this.retired.snapshot());
    const workersRegistry = AggregatorRegistry.aggregate<typeof Registry.PROMETHEUS_CONTENT_TYPE>(snapshots);
    const combined = Registry.merge([workersRegistry, this.supervisorMetrics.registry]);
    return { contentType: combined.contentType, body: await combined.metrics() };
  }
}
