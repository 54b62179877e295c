import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

interface SocketState {
  activeRequests: number;
  /** Requests whose headers arrived on it so far. */
  requestsSeen: number;
  /** Monotonic time it connected. */
  connectedAt: number;
  /** Monotonic time the socket last became idle (no request in progress). */
  idleSince: number;
}

export interface RequestInFlight {
  req: IncomingMessage;
  res: ServerResponse;
  /** Monotonic time its headers arrived. */
  startedAt: number;
}

/**
 * Every socket and in-flight response of one HTTP server: which sockets are idle and for
 * how long (on the monotonic clock), how many requests are in flight, how many were
 * answered. The drain and the keep-alive reaper both act on what it knows.
 */
export class ConnectionTracker {
  private readonly sockets = new Map<Socket, SocketState>();
  private readonly inflightResponses = new Map<ServerResponse, RequestInFlight>();
  private served = 0;
  private readonly idleListeners: ((socket: Socket) => void)[] = [];
  private readonly connectionListeners: ((socket: Socket) => void)[] = [];
  private readonly requestListeners: ((res: ServerResponse) => void)[] = [];

  constructor(server: Server) {
    server.on('connection', (socket: Socket) => {
      const now = performance.now();
      this.sockets.set(socket, { activeRequests: 0, requestsSeen: 0, connectedAt: now, idleSince: now });
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
    return this.inflightResponses.keys();
  }

  get requestsInFlight(): IterableIterator<RequestInFlight> {
    return this.inflightResponses.values();
  }

  /** How long the socket has waited for its first request's headers; 0 once they arrived. */
  waitingForFirstRequestMs(socket: Socket, now = performance.now()): number {
    const state = this.sockets.get(socket);
    return !state || state.requestsSeen > 0 ? 0 : now - state.connectedAt;
  }

  isIdle(socket: Socket): boolean {
    return (this.sockets.get(socket)?.activeRequests ?? 0) === 0;
  }

  /** How long the socket has had no request in progress (since it connected, or since its last response); 0 while it serves one. */
  quietForMs(socket: Socket, now = performance.now()): number {
    const state = this.sockets.get(socket);
    return !state || state.activeRequests > 0 ? 0 : now - state.idleSince;
  }

  /** Whether a request has been seen on the socket (it is a keep-alive connection between requests when quiet). */
  hasHadRequest(socket: Socket): boolean {
    return (this.sockets.get(socket)?.requestsSeen ?? 0) > 0;
  }

  /** The process was paused: time it slept through does not count against any connection or request. */
  forgive(lostMs: number): void {
    for (const state of this.sockets.values()) {
      state.idleSince += lostMs;
      state.connectedAt += lostMs;
    }
    for (const request of this.inflightResponses.values()) request.startedAt += lostMs;
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
    if (state) {
      state.activeRequests += 1;
      state.requestsSeen += 1;
    }
    this.inflightResponses.set(res, { req: res.req, res, startedAt: performance.now() });
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
