import type { ChildProcess } from 'node:child_process';
import type { Worker } from 'node:cluster';
import type { Logger } from '../shared/logger.js';

/** node:cluster's internal hand-off message: a connection passed to a worker, acknowledged by `ack: seq`. */
interface HandoffMessage {
  cmd: 'NODE_CLUSTER';
  act: 'newconn';
  key: string;
  seq: number;
}

interface Handle {
  close(): void;
}

interface PendingHandoff {
  workerId: number;
  message: HandoffMessage;
  handle: Handle;
}

/** A stranded connection waits this long for a serving worker before it is closed. */
const REDELIVERY_WAIT_MS = 1500;

function isHandoff(message: unknown): message is HandoffMessage {
  const m = message as Partial<HandoffMessage> | null;
  return typeof m === 'object' && m !== null && m.cmd === 'NODE_CLUSTER' && m.act === 'newconn' && typeof m.seq === 'number';
}

function ackOf(message: unknown): number | undefined {
  const m = message as { cmd?: unknown; ack?: unknown } | null;
  return typeof m === 'object' && m !== null && m.cmd === 'NODE_CLUSTER' && typeof m.ack === 'number' ? m.ack : undefined;
}

export interface HandoffGuardOptions {
  log: Logger;
  /** A worker that listens and is not draining, to take a stranded connection; undefined if none. */
  pickServingWorker: () => Worker | undefined;
  onRescued: () => void;
  onClosed: () => void;
}

/**
 * In round-robin mode the primary accepts each connection and passes it to a worker; it
 * closes its own copy only when the worker acknowledges. A worker that dies between the
 * hand-off and the acknowledgement (kill -9, a crash) leaves the connection open in the
 * primary forever, its client waiting, its descriptor leaked (nodejs/node#21746).
 *
 * The guard watches hand-offs and acknowledgements per worker. When a worker's channel
 * closes with hand-offs unacknowledged, it sends each connection to a serving worker
 * with the original sequence number, so that worker's acknowledgement completes the
 * cluster's own bookkeeping (the primary's copy is closed, nothing leaks) and the client
 * is answered. With no serving worker within REDELIVERY_WAIT_MS the connection is closed.
 */
export class HandoffGuard {
  private readonly pending = new Map<number, PendingHandoff>();
  private readonly waiting: PendingHandoff[] = [];
  private waitTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: HandoffGuardOptions) {}

  watch(worker: Worker): void {
    const child = worker.process as ChildProcess & { send: (...args: unknown[]) => boolean; disconnect: () => void };
    // child_process postpones a disconnect while a handle waits for its acknowledgement, and
    // for a dead worker it never comes: 'disconnect' is never emitted, so the cluster keeps
    // the worker in its rotation until 'exit', and meanwhile hands it connections it drops
    // without sending (the channel is closed). Emit it ourselves when it was postponed.
    const disconnect = child.disconnect;
    child.disconnect = () => {
      disconnect.call(child);
      if (!child.connected && child.channel) process.nextTick(() => child.emit('disconnect'));
    };
    const send = child.send;
    child.send = (...args: unknown[]) => {
      const [message, handle] = args;
      if (isHandoff(message) && handle) this.pending.set(message.seq, { workerId: worker.id, message, handle: handle as Handle });
      return send.apply(child, args);
    };
    child.on('internalMessage', (message: unknown) => {
      const ack = ackOf(message);
      if (ack !== undefined) this.pending.delete(ack);
    });
    // After cluster's own listeners: the worker is out of the rotation by now, and every
    // message it sent before its channel closed has been read. 'disconnect' never comes when
    // the worker died with a handle unacknowledged (child_process postpones it until the
    // handle queue drains); 'close' (exited and channel closed) always does.
    child.once('disconnect', () => this.rescueFrom(worker.id));
    child.once('close', () => this.rescueFrom(worker.id));
  }

  /**
   * Resolves once no hand-off has been waiting for an acknowledgement for `quietMs` (the
   * cluster's queue of accepted connections has reached the workers), or after `maxMs`.
   */
  async settled(quietMs: number, maxMs: number): Promise<void> {
    const giveUpAt = performance.now() + maxMs;
    let quietSince = performance.now();
    while (performance.now() < giveUpAt) {
      if (this.pending.size > 0) quietSince = performance.now();
      else if (performance.now() - quietSince >= quietMs) return;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  /** Offers connections waiting for a serving worker to one that just became ready. */
  retryWaiting(): void {
    const waiting = this.waiting.splice(0);
    for (const entry of waiting) this.redeliver(entry);
  }

  /** Closes every connection still waiting (nothing will serve it: the primary is stopping). */
  closeWaiting(): void {
    clearTimeout(this.waitTimer);
    this.waitTimer = undefined;
    for (const entry of this.waiting.splice(0)) this.close(entry);
  }

  private rescueFrom(workerId: number): void {
    for (const [seq, entry] of this.pending) {
      if (entry.workerId !== workerId) continue;
      this.pending.delete(seq);
      this.redeliver(entry);
    }
  }

  private redeliver(entry: PendingHandoff): void {
    const target = this.options.pickServingWorker();
    if (!target || !target.isConnected()) {
      this.waiting.push(entry);
      this.waitTimer ??= setTimeout(() => {
        this.waitTimer = undefined;
        this.closeWaiting();
      }, REDELIVERY_WAIT_MS);
      return;
    }
    try {
      target.process.send(entry.message, entry.handle as never);
      this.options.log.warn({ from: entry.workerId, worker: target.id }, 'connection stranded by an exited worker handed to another worker');
      this.options.onRescued();
    } catch {
      this.close(entry);
    }
  }

  private close(entry: PendingHandoff): void {
    try {
      entry.handle.close();
    } catch {
      // already closed
    }
    this.options.log.warn({ from: entry.workerId }, 'connection stranded by an exited worker closed: no worker could take it');
    this.options.onClosed();
  }
}
