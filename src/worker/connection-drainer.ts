import type { Server } from 'node:http';
import net, { type Socket } from 'node:net';
import type { DrainSummary } from '../shared/ipc-protocol.js';
import type { ConnectionTracker } from './connection-tracker.js';

/**
 * A keep-alive socket is closed during a drain only once it has been idle this long:
 * a client that just got a response may be writing its next request on it right now
 * (closing then would reset that request). Busy sockets get `Connection: close` instead.
 */
const IDLE_GRACE_MS = 250;

/**
 * The drain of one HTTP server: stop accepting, answer what is in flight with
 * `Connection: close`, close keep-alive sockets as soon as they go idle, and cut
 * whatever is left at the deadline.
 */
export class ConnectionDrainer {
  private draining = false;

  constructor(
    private readonly server: Server,
    private readonly connections: ConnectionTracker,
  ) {
    // A connection handed over just as the drain began: nothing was asked on it yet.
    connections.onConnection((socket) => {
      if (this.draining) setImmediate(() => this.closeIfIdle(socket));
    });
    connections.onRequest((res) => {
      if (this.draining) res.setHeader('Connection', 'close');
    });
    connections.onIdle((socket) => {
      if (this.draining) this.closeIfIdle(socket);
    });
  }

  private closeIfIdle(socket: Socket): void {
    if (!this.connections.isIdle(socket) || socket.destroyed) return;
    // Responses during the drain carry Connection: close, so Node is already ending the
    // socket after the last byte; end() covers a response whose headers left before the drain.
    if (socket.writableEnded) return;
    const idleFor = this.connections.quietForMs(socket);
    if (idleFor < IDLE_GRACE_MS) {
      setTimeout(() => this.closeIfIdle(socket), IDLE_GRACE_MS - idleFor).unref();
      return;
    }
    if (socket.bytesWritten > 0) socket.end();
    else socket.destroy();
  }

  /**
   * Stops accepting connections at once, then waits up to `timeoutMs` for in-flight
   * requests. Sockets left at the deadline are destroyed and counted as cut.
   */
  async drain(timeoutMs: number): Promise<DrainSummary> {
    const started = performance.now();
    const inflightAtStart = this.connections.inflight;
    this.draining = true;
    for (const res of this.connections.responsesInFlight) {
      if (!res.headersSent) res.setHeader('Connection', 'close');
    }
    const closed = new Promise<void>((resolve) => {
      try {
        // net.Server's close, not http.Server's: the latter also destroys every idle
        // keep-alive socket at once, racing clients that are writing their next request.
        net.Server.prototype.close.call(this.server, () => resolve());
      } catch {
        resolve();
      }
    });
    for (const socket of this.connections.openSockets) this.closeIfIdle(socket);

    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    const outcome = await Promise.race([closed.then(() => 'closed' as const), deadline]);
    clearTimeout(timer);

    let cut = 0;
    if (outcome === 'timeout') {
      cut = this.connections.inflight;
      this.server.closeAllConnections();
      for (const socket of this.connections.openSockets) socket.destroy();
    }
    return { inflightAtStart, cut, durationMs: Math.round(performance.now() - started) };
  }
}
