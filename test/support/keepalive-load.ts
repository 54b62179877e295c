import http from 'node:http';

export interface LoadReport {
  statuses: Map<number, number>;
  errors: Map<string, number>;
  /** Errors on a kept-alive socket reused for another request (the close/reuse race). */
  reusedSocketErrors: number;
  answered: number;
}

/**
 * A well-behaved keep-alive HTTP client (Node's Agent honours `Connection: close`),
 * running `concurrency` request loops until stopped. Counts statuses and error codes.
 */
export class KeepAliveLoad {
  private running = true;
  private readonly agent: http.Agent;
  private readonly loops: Promise<void>[] = [];
  readonly report: LoadReport = { statuses: new Map(), errors: new Map(), reusedSocketErrors: 0, answered: 0 };

  constructor(
    private readonly port: number,
    private readonly path: string,
    concurrency: number,
    private readonly headers: Record<string, string> = {},
  ) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
    for (let i = 0; i < concurrency; i += 1) this.loops.push(this.loop());
  }

  private once(): Promise<void> {
    return new Promise((resolve) => {
      const req = http.get({ host: '127.0.0.1', port: this.port, path: this.path, agent: this.agent, headers: this.headers }, (res) => {
        res.resume();
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          this.report.statuses.set(status, (this.report.statuses.get(status) ?? 0) + 1);
          this.report.answered += 1;
          resolve();
        });
        res.on('error', () => resolve());
      });
      req.on('error', (error: NodeJS.ErrnoException) => {
        const code = error.code ?? error.message;
        this.report.errors.set(code, (this.report.errors.get(code) ?? 0) + 1);
        if (req.reusedSocket) this.report.reusedSocketErrors += 1;
        // Back off a little so a refused port does not spin the loop.
        setTimeout(resolve, 20);
      });
    });
  }

  private async loop(): Promise<void> {
    while (this.running) await this.once();
  }

  async stop(): Promise<LoadReport> {
    this.running = false;
    await Promise.all(this.loops);
    this.agent.destroy();
    return this.report;
  }
}
