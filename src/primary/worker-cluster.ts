import type { ChildProcess } from 'node:child_process';
import type { EventEmitter } from 'node:events';
import { isWorkerMessage, primaryMessage, type PrimaryMessageBody, type WorkerMessage } from '../shared/ipc-protocol.js';
import type { Logger } from '../shared/logger.js';

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

/** The seam between the supervisor and the worker processes, so the supervisor can be tested with a fake. */
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

/** The worker processes of a running primary, however they get their connections. */
export interface WorkerProcesses extends WorkerCluster {
  /** The first step of a shutdown: no new connection reaches a worker from now on. */
  stopAccepting(): Promise<void>;
}

/**
 * Wires one child process into the cluster's events: its protocol messages, and its exit
 * reported on 'close' (not 'exit', which can come before its last messages, its final
 * metrics, are read).
 */
export function adoptWorker(
  child: ChildProcess,
  id: number,
  events: EventEmitter<WorkerClusterEvents>,
  log: Logger,
  onGone: () => void = () => undefined,
): WorkerProcess {
  child.on('error', (error: Error) => log.warn({ worker: id, err: { message: error.message } }, 'worker channel error'));
  child.on('message', (message: unknown) => {
    if (isWorkerMessage(message)) events.emit('message', id, message);
  });
  child.once('close', (code: number | null, signal: NodeJS.Signals | null) => {
    onGone();
    events.emit('exit', id, code, signal);
  });
  return {
    id,
    pid: child.pid ?? 0,
    send: (body) => send(child, body),
    kill: (signal) => {
      try {
        child.kill(signal);
      } catch {
        // already gone
      }
    },
  };
}

/**
 * Sends without ever throwing: a worker whose channel is closing fails the send
 * asynchronously; with a callback that failure lands here instead of as an 'error' event,
 * which would crash the primary. Either way the worker is going away; its exit tells the rest.
 */
function send(child: ChildProcess, body: PrimaryMessageBody): void {
  if (!child.connected) return;
  try {
    child.send(primaryMessage(body), undefined, undefined, () => undefined);
  } catch {
    // closed between the check and the send
  }
}
