import type net from 'node:net';
import autocannon from 'autocannon';
import { increment, summarizeLatencies, type LatencySummary } from './stats.js';

export interface AutocannonLoadOptions {
  url: string;
  connections: number;
  headers?: Record<string, string>;
  /** Seconds until autocannon stops by itself; without it, it runs until stop(). */
  durationS?: number;
}

interface ResponseSample {
  at: number;
  latencyMs: number;
  status: number;
}

interface ErrorSample {
  at: number;
  /** A socket error code, TIMEOUT, or CLOSED_BEFORE_RESPONSE (the connection ended with a request unanswered). */
  code: string;
  /** The connection's last response had said `Connection: close`. */
  afterConnectionClose: boolean;
}

/** One request at most is outstanding per connection (no pipelining). */
interface ConnectionState {
  outstanding: number;
  closeAnnounced: boolean;
  /** Its failure is already counted, or autocannon closed it itself (timeout, end of run). */
  settled: boolean;
}

/** What one time window of a run saw. */
export interface WindowReport {
  seconds: number;
  ok: number;
  requestsPerSecond: number;
  latency: LatencySummary;
  /** Responses outside 2xx, by status. */
  non2xx: Map<number, number>;
  /** Socket errors and timeouts, by code. */
  errors: Map<string, number>;
  /** Requests lost on a connection the server had announced it would close (the client's race). */
  errorsAfterConnectionClose: number;
  /** Errors with no such announcement, plus timeouts: failures the server caused. */
  unexplainedErrors: number;
}

/** The parts of autocannon's per-connection client this module relies on (v9 internals). */
interface AutocannonClient extends NodeJS.EventEmitter {
  conn?: net.Socket;
  _connect?: () => void;
  _destroyConnection?: () => void;
}

/**
 * autocannon (keep-alive, no pipelining) with every response and error recorded with its
 * time, so that any window of the run (steady state, a restart) can be judged on its own,
 * with latencies at full resolution (autocannon's own histogram rounds to 1 ms).
 *
 * autocannon itself misses failures: when a server closes a connection with a request
 * outstanding, it reconnects and sends a new request without counting the lost one. And
 * it ignores `Connection: close`, writing its next request on a socket the server is
 * closing (which the server never reads). So each connection is watched here: a request
 * still outstanding when its connection ends counts as CLOSED_BEFORE_RESPONSE, and a loss
 * on a connection whose last response said `Connection: close` is counted apart, as the
 * client's own race. This hooks autocannon's Client._connect and _destroyConnection; if a
 * future version renames them, only socket errors are counted and none is "explained".
 */
export class RecordedAutocannon {
  readonly startedAt = Date.now();
  stoppedAt: number | undefined;
  private readonly responses: ResponseSample[] = [];
  private readonly errors: ErrorSample[] = [];
  private readonly instance: autocannon.Instance;
  readonly finished: Promise<void>;

  constructor(options: AutocannonLoadOptions) {
    let settle!: (error: unknown) => void;
    this.finished = new Promise<void>((resolve, reject) => {
      settle = (error) => {
        this.stoppedAt ??= Date.now();
        if (error) reject(error instanceof Error ? error : new Error(String(error)));
        else resolve();
      };
    });
    // With a callback autocannon returns its event emitter instead of a promise.
    this.instance = autocannon(
      {
        url: options.url,
        connections: options.connections,
        headers: options.headers,
        duration: options.durationS ?? 3600,
        timeout: 10,
        setupClient: (client) => this.watchConnections(client as unknown as AutocannonClient),
      },
      (error) => settle(error),
    );
    this.instance.on('response', (_client: unknown, status: number, _bytes: number, latencyMs: number) => {
      this.responses.push({ at: Date.now(), latencyMs, status });
    });
  }

  private watchConnections(client: AutocannonClient): void {
    const states = new WeakMap<net.Socket, ConnectionState>();
    const stateOf = (conn: net.Socket) => {
      let state = states.get(conn);
      if (!state) states.set(conn, (state = { outstanding: 0, closeAnnounced: false, settled: false }));
      return state;
    };
    const connect = client._connect;
    const destroyConnection = client._destroyConnection;
    if (typeof connect !== 'function' || typeof destroyConnection !== 'function') {
      client.on('connError', (error: NodeJS.ErrnoException) => this.recordError(error.code ?? error.message, false));
      client.on('timeout', () => this.recordError('TIMEOUT', false));
      return;
    }
    /** The connection whose bytes the (shared) response parser is handling right now. */
    let receiving: net.Socket | undefined;
    client.on('request', () => {
      if (client.conn) stateOf(client.conn).outstanding += 1;
    });
    client.on('headers', (info: { shouldKeepAlive?: boolean }) => {
      if (info.shouldKeepAlive === false && receiving) stateOf(receiving).closeAnnounced = true;
    });
    client.on('response', () => {
      if (receiving) stateOf(receiving).outstanding = Math.max(0, stateOf(receiving).outstanding - 1);
    });
    client.on('timeout', () => this.recordError('TIMEOUT', false));
    const recorder = this;
    client._connect = function (this: AutocannonClient) {
      connect.call(this);
      const conn = this.conn!;
      conn.prependListener('data', () => (receiving = conn));
      conn.on('error', (error: NodeJS.ErrnoException) => {
        const state = stateOf(conn);
        if (state.settled) return;
        state.settled = true;
        recorder.recordError(error.code ?? error.message, state.closeAnnounced);
      });
      conn.on('close', () => {
        const state = stateOf(conn);
        if (state.settled || state.outstanding === 0) return;
        state.settled = true;
        recorder.recordError('CLOSED_BEFORE_RESPONSE', state.closeAnnounced);
      });
    };
    client._destroyConnection = function (this: AutocannonClient) {
      // A timeout (counted by its own event) or the end of the run: not the server's doing.
      if (this.conn) stateOf(this.conn).settled = true;
      destroyConnection.call(this);
    };
  }

  private recordError(code: string, afterConnectionClose: boolean): void {
    this.errors.push({ at: Date.now(), code, afterConnectionClose });
  }

  async stop(): Promise<void> {
    this.instance.stop();
    await this.finished;
  }

  /** The run between two instants (default: all of it). */
  window(from = this.startedAt, to = this.stoppedAt ?? Date.now()): WindowReport {
    const inside = (at: number) => at >= from && at < to;
    const responses = this.responses.filter((r) => inside(r.at));
    const errors = this.errors.filter((e) => inside(e.at));
    const ok = responses.filter((r) => r.status >= 200 && r.status < 300);
    const non2xx = new Map<number, number>();
    for (const r of responses) if (r.status < 200 || r.status >= 300) increment(non2xx, r.status);
    const errorCodes = new Map<string, number>();
    for (const e of errors) increment(errorCodes, e.code);
    const seconds = Math.max(0.001, (to - from) / 1000);
    const afterClose = errors.filter((e) => e.afterConnectionClose).length;
    return {
      seconds,
      ok: ok.length,
      requestsPerSecond: ok.length / seconds,
      latency: summarizeLatencies(ok.map((r) => r.latencyMs)),
      non2xx,
      errors: errorCodes,
      errorsAfterConnectionClose: afterClose,
      unexplainedErrors: errors.length - afterClose,
    };
  }
}
