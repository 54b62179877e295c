import crypto from 'node:crypto';
import { RecordedHttpLoad } from './recorded-http-load.js';
import { increment } from './stats.js';

export interface DatabaseLoadReport {
  answered: number;
  /** Status codes other than 2xx, and socket errors, by kind: a failed request is one of these. */
  failures: Record<string, number>;
}

export interface DatabaseLoadOptions {
  port: number;
  token: string;
  /** Keep-alive loops reading a filtered page (never served by the cache: count and page from Postgres). */
  readers: number;
  /** Keep-alive loops creating entries, each with its own Idempotency-Key (a transaction per request). */
  writers: number;
}

/**
 * Requests that all need Postgres, on one host, until stopped: reads of a filtered page
 * and idempotent writes (an entry and its idempotency record in one transaction).
 */
export class DatabaseLoad {
  private readonly loads: RecordedHttpLoad[];

  constructor(options: DatabaseLoadOptions) {
    const authorization = { Authorization: `Bearer ${options.token}` };
    this.loads = [
      new RecordedHttpLoad({ port: options.port, path: '/entries?category=work&limit=20', concurrency: options.readers, headers: authorization }),
      new RecordedHttpLoad({
        port: options.port,
        path: '/entries',
        method: 'POST',
        body: JSON.stringify({ text: 'under load', mood: 5, category: 'work' }),
        concurrency: options.writers,
        headers: () => ({ ...authorization, 'Content-Type': 'application/json', 'Idempotency-Key': crypto.randomUUID() }),
      }),
    ];
  }

  /** Requests answered so far (any status). */
  get answered(): number {
    return this.loads.reduce((sum, load) => sum + load.records.filter((r) => r.status !== undefined).length, 0);
  }

  async stop(): Promise<DatabaseLoadReport> {
    await Promise.all(this.loads.map((load) => load.stop()));
    const failures = new Map<string, number>();
    let answered = 0;
    for (const record of this.loads.flatMap((load) => load.records)) {
      if (record.error !== undefined) increment(failures, record.error);
      else if (record.status! < 200 || record.status! >= 300) increment(failures, `HTTP ${record.status}`);
      else answered += 1;
    }
    return { answered, failures: Object.fromEntries(failures) };
  }
}
