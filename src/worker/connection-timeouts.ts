import type { ConnectionTracker } from './connection-tracker.js';
import { answerOnSocket } from './raw-answer.js';

export interface ConnectionTimeoutSettings {
  /** A connection must send its first request's complete headers within this. */
  headersTimeoutMs: number;
  /** A request must arrive whole (body included) within this. */
  requestTimeoutMs: number;
  /** A keep-alive connection is closed after this long without a request. */
  keepAliveTimeoutMs: number;
}

const SWEEP_INTERVAL_MS = 1000;
/** A sweep this much later than due means the worker itself did not run (SIGSTOP, VM pause). */
const PAUSE_TOLERANCE_MS = 1000;
const TIMEOUT_MESSAGE = 'Request timeout';

/**
 * The worker's own connection deadlines, in place of Node's: headers and request timeouts
 * (a connection that never sends its request, or sends it byte by byte, gets a 408) and the
 * keep-alive idle timeout. Node's timers count time the process was paused: after a freeze
 * every deadline has passed at once, so requests sent just before it (or meanwhile) would get
 * 408s and kept-alive sockets be destroyed before their waiting request is read. This sweep
 * notices its own late run and does not count the pause.
 */
export class ConnectionTimeouts {
  private readonly timer: NodeJS.Timeout;
  private readonly intervalMs: number;
  private lastSweep = performance.now();

  constructor(
    private readonly connections: ConnectionTracker,
    private readonly settings: ConnectionTimeoutSettings,
  ) {
    this.intervalMs = Math.min(SWEEP_INTERVAL_MS, settings.keepAliveTimeoutMs, settings.headersTimeoutMs);
    this.timer = setInterval(() => this.sweep(), this.intervalMs).unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private sweep(): void {
    const now = performance.now();
    const lost = now - this.lastSweep - this.intervalMs;
    this.lastSweep = now;
    if (lost > PAUSE_TOLERANCE_MS) this.connections.forgive(lost);
    const { headersTimeoutMs, requestTimeoutMs, keepAliveTimeoutMs } = this.settings;
    for (const socket of this.connections.openSockets) {
      if (socket.destroyed || socket.writableEnded) continue;
      if (!this.connections.hasHadRequest(socket)) {
        if (this.connections.waitingForFirstRequestMs(socket, now) >= headersTimeoutMs) answerOnSocket(socket, 408, TIMEOUT_MESSAGE);
      } else if (this.connections.quietForMs(socket, now) >= keepAliveTimeoutMs) {
        // Between requests: the client may be writing its next one right now; a FIN, not a reset.
        socket.end();
      }
    }
    for (const { req, res, startedAt } of this.connections.requestsInFlight) {
      if (req.complete || res.headersSent || now - startedAt < requestTimeoutMs) continue;
      res.writeHead(408, { 'Content-Type': 'application/json; charset=utf-8', Connection: 'close' });
      res.end(JSON.stringify({ success: false, message: TIMEOUT_MESSAGE }));
    }
  }
}
