import type { ConnectionTracker } from './connection-tracker.js';

const SWEEP_INTERVAL_MS = 1000;
/** A sweep this much later than due means the worker itself did not run (SIGSTOP, VM pause). */
const PAUSE_TOLERANCE_MS = 1000;

/**
 * Closes keep-alive sockets idle for `idleTimeoutMs`, in place of Node's own keep-alive
 * timer. Node's timer counts time the process was paused: after a freeze every idle socket
 * is expired at once and destroyed before the request its client sent meanwhile is even
 * read (a reset). This sweep notices its own late run and does not count the pause.
 */
export class IdleReaper {
  private readonly timer: NodeJS.Timeout;
  private lastSweep = performance.now();

  constructor(
    private readonly connections: ConnectionTracker,
    private readonly idleTimeoutMs: number,
  ) {
    this.timer = setInterval(() => this.sweep(), Math.min(SWEEP_INTERVAL_MS, idleTimeoutMs)).unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private sweep(): void {
    const now = performance.now();
    const lost = now - this.lastSweep - Math.min(SWEEP_INTERVAL_MS, this.idleTimeoutMs);
    this.lastSweep = now;
    if (lost > PAUSE_TOLERANCE_MS) this.connections.forgive(lost);
    for (const socket of this.connections.openSockets) {
      if (socket.destroyed || socket.writableEnded || this.connections.idleForMs(socket, now) < this.idleTimeoutMs) continue;
      if (socket.bytesWritten > 0) socket.end();
      else socket.destroy();
    }
  }
}
