import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import net, { type Socket } from 'node:net';
import type { DrainSummary } from '../shared/ipc-protocol.js';

/**
 * Tracks every socket and in-flight request of one HTTP server so that a drain can
 * answer what is in flight, close keep-alive sockets as soon as they go idle, and cut
 * whatever is left at the deadline.
 */
/**
 * A keep-alive socket is closed during a drain only once it has been idle this long:
 * a client that just got a response may be writing its next request on it right now
 * (closing then would reset that request). Busy sockets get `Connection: close` instead.
 */
const IDLE_GRACE_MS = 250;

export class ConnectionDrainer {
  private readonly activeRequests = new Map<Socket, number>();
  private readonly idleSince = new Map<Socket, number>();
  private readonly inflightResponses = new Set<ServerResponse>();
  private draining = false;
  private served = 0;

  constructor(private readonly server: Server) {
    server.on('connection', (socket: Socket) => {
      this.activeRequests.set(socket, 0);
      this.idleSince.set(socket, Date.now());
      socket.once('close', () => {
        this.activeRequests.delete(socket);
        this.idleSince.delete(socket);
      });
      // A connection handed over just as the drain began: nothing was asked on it yet.
      if (this.draining) setImmediate(() => this.closeIfIdle(socket));
    });
    server.on('request', (req: IncomingMessage, res: ServerResponse) => this.track(req.socket, res));
  }

  get inflight(): number {
    return this.inflightResponses.size;
  }

  get requestsServed(): number {
    return this.served;
  }

  get isDraining(): boolean {
    return this.draining;
  }

  private track(socket: Socket, res: ServerResponse): void {
    this.activeRequests.set(socket, (this.activeRequests.get(socket) ?? 0) + 1);
    this.inflightResponses.add(res);
    if (this.draining) res.setHeader('Connection', 'close');
    res.once('close', () => {
      if (res.writableFinished) this.served += 1;
      this.inflightResponses.delete(res);
      const remaining = (this.activeRequests.get(socket) ?? 1) - 1;
      if (this.activeRequests.has(socket)) this.activeRequests.set(socket, remaining);
      if (remaining === 0 && this.idleSince.has(socket)) this.idleSince.set(socket, Date.now());
      if (this.draining) this.closeIfIdle(socket);
    });
  }

  private closeIfIdle(socket: Socket): void {
    if ((this.activeRequests.get(socket) ?? 0) > 0 || socket.destroyed) return;
    // Responses during the drain carry Connection: close, so Node is already ending the
    // socket after the last byte; end() covers a response whose headers left before the drain.
    if (socket.writableEnded) return;
    const idleFor = Date.now() - (this.idleSince.get(socket) ?? 0);
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
    const started = Date.now();
    const inflightAtStart = this.inflight;
    this.draining = true;
    for (const res of this.inflightResponses) {
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
    for (const socket of this.activeRequests.keys()) this.closeIfIdle(socket);

    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    const outcome = await Promise.race([closed.then(() => 'closed' as const), deadline]);
    clearTimeout(timer);

    let cut = 0;
    if (outcome === 'timeout') {
      cut = this.inflight;
      this.server.closeAllConnections();
      for (const socket of this.activeRequests.keys()) socket.destroy();
    }
    return { inflightAtStart, cut, durationMs: Date.now() - started };
  }
}
