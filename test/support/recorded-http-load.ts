import http from 'node:http';
import type { WindowReport } from './recorded-autocannon.js';
import { increment, summarizeLatencies } from './stats.js';

export interface HttpLoadOptions {
  port: number;
  path: string;
  concurrency: number;
  /** Fixed headers, or a function called for each request (e.g. a fresh Idempotency-Key). */
  headers?: Record<string, string> | (() => Record<string, string>);
  /** GET by default. */
  method?: string;
  /** Sent with every request (set Content-Type in `headers`). */
  body?: string;
  /** Pause of each loop between its requests (light load); none by default. */
  pauseMs?: number;
  /** A request unanswered this long is abandoned and recorded as `TIMEOUT` (default 10 s). */
  timeoutMs?: number;
}

export interface RequestRecord {
  start: number;
  /** Infinity while unanswered. */
  end: number;
  /** Measured with the monotonic clock, at sub-millisecond resolution. */
  latencyMs?: number;
  status?: number;
  error?: string;
  /** The request went out on a kept-alive socket (an error then is the idle-close race). */
  reusedSocket: boolean;
}

const REQUEST_TIMEOUT_MS = 10_000;

/**
 * A compliant keep-alive client: Node's http.Agent, which never reuses a socket after a
 * response saying `Connection: close`. `concurrency` loops send requests back to back
 * and every request is recorded with its start, end and outcome, so a benchmark can ask
 * what happened to the requests in flight at a given instant.
 */
export class RecordedHttpLoad {
  readonly records: RequestRecord[] = [];
  readonly startedAt = Date.now();
  stoppedAt: number | undefined;
  private running = true;
  private readonly agent: http.Agent;
  private readonly loops: Promise<void>[] = [];

  constructor(private readonly options: HttpLoadOptions) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets: options.concurrency });
    for (let i = 0; i < options.concurrency; i += 1) this.loops.push(this.loop());
  }

  private once(): Promise<void> {
    const record: RequestRecord = { start: Date.now(), end: Infinity, reusedSocket: false };
    const startedHr = performance.now();
    this.records.push(record);
    return new Promise((resolve) => {
      const { headers, method = 'GET', body } = this.options;
      const req = http.request(
        { host: '127.0.0.1', port: this.options.port, path: this.options.path, agent: this.agent, method, headers: typeof headers === 'function' ? headers() : headers },
        (res) => {
          res.resume();
          res.on('end', () => {
            record.end = Date.now();
            record.latencyMs = performance.now() - startedHr;
            record.status = res.statusCode;
            resolve();
          });
          res.on('error', (error: NodeJS.ErrnoException) => {
            record.end = Date.now();
            record.error = error.code ?? error.message;
            resolve();
          });
        },
      );
      req.setTimeout(this.options.timeoutMs ?? REQUEST_TIMEOUT_MS, () => req.destroy(Object.assign(new Error('request timed out'), { code: 'TIMEOUT' })));
      req.on('error', (error: NodeJS.ErrnoException) => {
        if (record.end !== Infinity) return;
        record.end = Date.now();
        record.error = error.code ?? error.message;
        record.reusedSocket = req.reusedSocket;
        // A refused port must not spin the loop.
        setTimeout(resolve, 20);
      });
      req.end(body);
    });
  }

  private async loop(): Promise<void> {
    while (this.running) {
      await this.once();
      if (this.options.pauseMs && this.running) await new Promise((resolve) => setTimeout(resolve, this.options.pauseMs));
    }
  }

  /** Requests answered so far (any status). */
  get answered(): number {
    return this.records.filter((record) => record.status !== undefined).length;
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
    this.stoppedAt = Date.now();
    this.agent.destroy();
  }

  /** Requests started before the instant and not answered before it. */
  inFlightAt(instant: number): RequestRecord[] {
    return this.records.filter((r) => r.start < instant && r.end >= instant);
  }

  /** Requests answered (or failed) between two instants, judged like RecordedAutocannon's. */
  window(from = this.startedAt, to = this.stoppedAt ?? Date.now()): WindowReport {
    const ended = this.records.filter((r) => r.end >= from && r.end < to);
    const ok = ended.filter((r) => r.status !== undefined && r.status >= 200 && r.status < 300);
    const non2xx = new Map<number, number>();
    const errors = new Map<string, number>();
    for (const r of ended) {
      if (r.error !== undefined) increment(errors, r.reusedSocket ? `${r.error} (reused socket)` : r.error);
      else if (r.status !== undefined && (r.status < 200 || r.status >= 300)) increment(non2xx, r.status);
    }
    const seconds = Math.max(0.001, (to - from) / 1000);
    const errorCount = ended.filter((r) => r.error !== undefined).length;
    return {
      seconds,
      ok: ok.length,
      requestsPerSecond: ok.length / seconds,
      latency: summarizeLatencies(ok.map((r) => r.latencyMs!)),
      non2xx,
      errors,
      // http.Agent never writes on a connection after `Connection: close`.
      errorsAfterConnectionClose: 0,
      unexplainedErrors: errorCount,
    };
  }
}
