import cluster, { type Worker } from 'node:cluster';
import { EventEmitter } from 'node:events';
import { isWorkerMessage, primaryMessage, type PrimaryMessageBody, type WorkerMessage } from '../shared/ipc-protocol.js';
import type { Logger } from '../shared/logger.js';
import { ClusterListeners } from './cluster-listeners.js';
import { HandoffGuard } from './handoff-guard.js';

/** One worker process, as the supervisor drives it. Neither method ever throws. */
export interface WorkerProcess {
  readonly id: number;
  readonly pid: number;
  send(body: PrimaryMessageBody): void;
  kill(signal: NodeJS.Signals): void;
}

export interface WorkerClusterEvents {
  message: [id: number, message: WorkerMessage];
  /** After the process exited and its channel closed (every message it sent has been read). */
  exit: [id: number, code: number | null, signal: string | null];
  /** A connection a dead worker left behind: handed to another worker, or closed. */
  stranded: [outcome: 'rescued' | 'closed'];
}

/** The seam between the supervisor and node:cluster, so the supervisor can be tested with a fake. */
export interface WorkerCluster {
  fork(env?: Record<string, string>): WorkerProcess;
  on<E extends keyof WorkerClusterEvents>(event: E, listener: (...args: WorkerClusterEvents[E]) => void): unknown;
  /** A worker that became ready: connections stranded meanwhile may go to it. */
  workerReady(id: number): void;
  /** A worker asked to drain or killed: it takes no stranded connection any more. */
  workerLeaving(id: number): void;
  /** Nothing will serve connections any more. */
  stopping(): void;
}

/** How long the hand-off queue must stay empty before the workers are told to drain. */
const HANDOFF_QUIET_MS = 20;
const HANDOFF_SETTLE_MAX_MS = 1000;

/** node:cluster in round-robin mode, with the hand-off guard on every worker. */
export class NodeWorkerCluster extends EventEmitter<WorkerClusterEvents> implements WorkerCluster {
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
    worker.on('error', (error: Error) => this.log.warn({ worker: worker.id, err: { message: error.message } }, 'worker channel error'));
    worker.on('message', (message: unknown) => {
      if (isWorkerMessage(message)) this.emit('message', worker.id, message);
    });
    // 'close', not 'exit': 'exit' can come before the worker's last messages (its final metrics) are read.
    worker.process.once('close', (code: number | null, signal: NodeJS.Signals | null) => {
      this.serving.delete(worker.id);
      this.emit('exit', worker.id, code, signal);
    });
    return {
      id: worker.id,
      pid: worker.process.pid ?? 0,
      send: (body) => send(worker, body),
      kill: (signal) => {
        try {
          worker.process.kill(signal);
        } catch {
          // already gone
        }
      },
    };
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

  /**
   * The first step of a shutdown: new connections are refused from now on, and the
   * connections already accepted are handed to the workers before they are told to drain.
   */
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

/**
 * Sends without ever throwing: a worker whose channel is closing fails the send
 * asynchronously; with a callback that failure lands here instead of as an 'error' event,
 * which would crash the primary. Either way the worker is going away; its exit tells the rest.
 */
function send(worker: Worker, body: PrimaryMessageBody): void {
  if (!worker.isConnected()) return;
  try {
    worker.send(primaryMessage(body), undefined, undefined, () => undefined);
  } catch {
    // closed between the check and the send
  }
}
