import cluster, { type Worker } from 'node:cluster';
import { EventEmitter } from 'node:events';
import type { Logger } from '../shared/logger.js';
import { ClusterListeners } from './cluster-listeners.js';
import { HandoffGuard } from './handoff-guard.js';
import { adoptWorker, type WorkerClusterEvents, type WorkerProcess, type WorkerProcesses } from './worker-cluster.js';

/** How long the hand-off queue must stay empty before the workers are told to drain. */
const HANDOFF_QUIET_MS = 20;
const HANDOFF_SETTLE_MAX_MS = 1000;

/**
 * node:cluster in round-robin mode: workers listen on PORT through the primary, which
 * accepts every connection and hands it to the next worker; with the hand-off guard on
 * every worker and an orderly stop of the primary's listener.
 */
export class RoundRobinWorkers extends EventEmitter<WorkerClusterEvents> implements WorkerProcesses {
  private readonly serving = new Set<number>();
  private readonly guard: HandoffGuard;
  private readonly acceptors = new ClusterListeners();

  constructor(entry: string, private readonly log: Logger) {
    super();
    cluster.setupPrimary({ exec: entry });
    this.guard = new HandoffGuard({
      log,
      pickServingWorker: () => this.pickServing(),
      onRescued: () => this.emit('stranded', 'rescued'),
      onClosed: () => this.emit('stranded', 'closed'),
    });
  }

  fork(env?: Record<string, string>): WorkerProcess {
    // Workers' listen() makes the primary open the cluster listener: from the first fork on,
    // a TCP server opened in the primary is that listener (the admin server opened before).
    this.acceptors.watch();
    const worker = cluster.fork(env);
    this.guard.watch(worker);
    return adoptWorker(worker.process, worker.id, this, this.log, () => this.serving.delete(worker.id));
  }

  workerReady(id: number): void {
    this.serving.add(id);
    this.guard.retryWaiting();
  }

  workerLeaving(id: number): void {
    this.serving.delete(id);
  }

  stopping(): void {
    this.serving.clear();
    this.guard.closeWaiting();
  }

  /** New connections are refused from now on; those already accepted reach a worker first. */
  async stopAccepting(): Promise<void> {
    this.acceptors.close();
    await this.guard.settled(HANDOFF_QUIET_MS, HANDOFF_SETTLE_MAX_MS);
  }

  private pickServing(): Worker | undefined {
    for (const id of this.serving) {
      const worker = cluster.workers?.[id];
      if (worker?.isConnected()) return worker;
    }
    return undefined;
  }
}
