import cluster, { type Worker } from 'node:cluster';
import { EventEmitter } from 'node:events';
import { isWorkerMessage, primaryMessage, type PrimaryMessageBody, type WorkerMessage } from '../shared/ipc-protocol.js';
import type { Logger } from '../shared/logger.js';
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
  /** After the process exited and its channel closed (its last messages have been read). */
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

/** How long to wait for the IPC channel to close after a worker's exit. */
const EXIT_DISCONNECT_WAIT_MS = 1000;

/** node:cluster in round-robin mode, with the hand-off guard on every worker. */
export class NodeWorkerCluster extends EventEmitter<WorkerClusterEvents> implements WorkerCluster {
  private readonly serving = new Set<number>();
  private readonly guard: HandoffGuard;

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
    const worker = cluster.fork(env);
    this.guard.watch(worker);
    worker.on('error', (error: Error) => this.log.warn({ worker: worker.id, err: { message: error.message } }, 'worker channel error'));
    worker.on('message', (message: unknown) => {
      if (isWorkerMessage(message)) this.emit('message', worker.id, message);
    });
    worker.process.once('exit', (code, signal) => this.onExit(worker, code, signal));
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

  private pickServing(): Worker | undefined {
    for (const id of this.serving) {
      const worker = cluster.workers?.[id];
      if (worker?.isConnected()) return worker;
    }
    return undefined;
  }

  private onExit(worker: Worker, code: number | null, signal: string | null): void {
    this.serving.delete(worker.id);
    const report = () => {
      this.emit('exit', worker.id, code, signal);
    };
    if (!worker.isConnected()) return report();
    const fallback = setTimeout(() => {
      worker.off('disconnect', proceed);
      report();
    }, EXIT_DISCONNECT_WAIT_MS);
    const proceed = () => {
      clearTimeout(fallback);
      report();
    };
    worker.once('disconnect', proceed);
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
