import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

interface SocketState {
  activeRequests: number;
  /** Monotonic time the socket last became idle (no request in progress). */
  idleSince: number;
}

/**
 * Every socket and in-flight response of one HTTP server: which sockets are idle and for
 * how long (on the monotonic clock), how many requests are in flight, how many were
 * answered. The drain and the keep-alive reaper both act on what it knows.
 */
export class ConnectionTracker {
  private readonly sockets = new Map<Socket, SocketState>();
  private readonly inflightResponses = new Set<ServerResponse>();
  private served = 0;
  private readonly idleListeners: ((socket: Socket) => void)[] = [];
  private readonly connectionListeners: ((socket: Socket) => void)[] = [];
  private readonly requestListeners: ((res: ServerResponse) => void)[] = [];

  constructor(server: Server) {
    server.on('connection', (socket: Socket) => {
      this.sockets.set(socket, { activeRequests: 0, idleSince: performance.now() });
      socket.once('close', () => this.sockets.delete(socket));
      for (const listener of this.connectionListeners) listener(socket);
    });
    server.on('request', (req: IncomingMessage, res: ServerResponse) => this.track(req.socket, res));
  }

  /** Open client connections. */
  get size(): number {
    return this.sockets.size;
  }

  get inflight(): number {
    return this.inflightResponses.size;
  }

  /** Requests answered completely. */
  get requestsServed(): number {
    return this.served;
  }

  get openSockets(): IterableIterator<Socket> {
    return this.sockets.keys();
  }

  get responsesInFlight(): IterableIterator<ServerResponse> {
    return this.inflightResponses.values();
  }

  isIdle(socket: Socket): boolean {
    return (this.sockets.get(socket)?.activeRequests ?? 0) === 0;
  }

  /** How long the socket has been idle, or 0 while it serves a request. */
  idleForMs(socket: Socket, now = performance.now()): number {
    const state = this.sockets.get(socket);
    return !state || state.activeRequests > 0 ? 0 : now - state.idleSince;
  }

  /** The process was paused: idleness it slept through does not count. */
  forgive(lostMs: number): void {
    for (const state of this.sockets.values()) state.idleSince += lostMs;
  }

  onConnection(listener: (socket: Socket) => void): void {
    this.connectionListeners.push(listener);
  }

  onRequest(listener: (res: ServerResponse) => void): void {
    this.requestListeners.push(listener);
  }

  /** Called when a socket's last request has been answered. */
  onIdle(listener: (socket: Socket) => void): void {
    this.idleListeners.push(listener);
  }

  private track(socket: Socket, res: ServerResponse): void {
    const state = this.sockets.get(socket);
    if (state) state.activeRequests += 1;
    this.inflightResponses.add(res);
    for (const listener of this.requestListeners) listener(res);
    res.once('close', () => {
      if (res.writableFinished) this.served += 1;
      this.inflightResponses.delete(res);
      if (!state) return;
      state.activeRequests = Math.max(0, state.activeRequests - 1);
      if (state.activeRequests > 0) return;
      state.idleSince = performance.now();
      for (const listener of this.idleListeners) listener(socket);
    });
  }
}
