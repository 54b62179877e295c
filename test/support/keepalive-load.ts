import { RecordedHttpLoad } from './recorded-http-load.js';
import { increment } from './stats.js';

export interface LoadReport {
  statuses: Map<number, number>;
  errors: Map<string, number>;
  /** Errors on a kept-alive socket reused for another request (the close/reuse race). */
  reusedSocketErrors: number;
  answered: number;
}

/**
 * A well-behaved keep-alive HTTP client (Node's Agent honours `Connection: close`),
 * running `concurrency` request loops until stopped; the report counts statuses and
 * error codes. The benchmark's RecordedHttpLoad, tallied.
 */
export class KeepAliveLoad {
  private readonly load: RecordedHttpLoad;

  /** `pauseMs`: each loop pauses this long between its requests (a paced load); none by default. */
  constructor(port: number, path: string, concurrency: number, headers: Record<string, string> = {}, pauseMs?: number) {
    this.load = new RecordedHttpLoad({ port, path, concurrency, headers, pauseMs });
  }

  /** Requests answered so far (any status). */
  get answered(): number {
    return this.load.answered;
  }

  async stop(): Promise<LoadReport> {
    await this.load.stop();
    const report: LoadReport = { statuses: new Map(), errors: new Map(), reusedSocketErrors: 0, answered: 0 };
    for (const record of this.load.records) {
      if (record.error !== undefined) {
        increment(report.errors, record.error);
        if (record.reusedSocket) report.reusedSocketErrors += 1;
      } else if (record.status !== undefined) {
        increment(report.statuses, record.status);
        report.answered += 1;
      }
    }
    return report;
  }
}
