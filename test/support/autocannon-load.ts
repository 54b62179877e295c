import autocannon from 'autocannon';

export interface AutocannonReport {
  statuses: Map<number, number>;
  errors: Map<string, number>;
  answered: number;
}

/**
 * autocannon (keep-alive, no pipelining) hammering one URL until stopped; every status
 * and every socket error is counted, so a test can require "only 2xx, no errors".
 */
export class AutocannonLoad {
  readonly report: AutocannonReport = { statuses: new Map(), errors: new Map(), answered: 0 };
  private readonly instance: autocannon.Instance;
  private readonly finished: Promise<void>;

  constructor(url: string, connections: number) {
    let finish!: () => void;
    this.finished = new Promise<void>((resolve) => (finish = resolve));
    // The callback form returns the event-emitting instance (without it, the types say Promise).
    this.instance = autocannon({ url, connections, duration: 3600, timeout: 10 }, () => finish());
    this.instance.on('response', (_client: unknown, statusCode: number) => {
      this.report.statuses.set(statusCode, (this.report.statuses.get(statusCode) ?? 0) + 1);
      this.report.answered += 1;
    });
    this.instance.on('reqError', (error: NodeJS.ErrnoException) => {
      const code = error.code ?? error.message;
      this.report.errors.set(code, (this.report.errors.get(code) ?? 0) + 1);
    });
  }

  async stop(): Promise<AutocannonReport> {
    this.instance.stop();
    await this.finished;
    return this.report;
  }
}

/** Statuses outside 2xx, as "status: count" strings (empty when all were 2xx). */
export function non2xx(statuses: Map<number, number>): string[] {
  return [...statuses].filter(([status]) => status < 200 || status > 299).map(([status, count]) => `${status}: ${count}`);
}
