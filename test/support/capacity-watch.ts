interface HealthSample {
  at: number;
  httpStatus: number;
  expected: number;
  ready: number;
  pids: number[];
}

export interface CapacityReport {
  samples: number;
  /** Samples in which fewer workers were ready than expected, or /health was not 200. */
  dips: HealthSample[];
  /** Every worker pid seen in any sample. */
  pidsSeen: Set<number>;
  failedPolls: number;
}

/**
 * Polls the admin /health continuously until stopped, so that a test can prove that
 * capacity never dropped below the expected number of workers (e.g. during a rollout).
 */
export class CapacityWatch {
  private running = true;
  private readonly loop: Promise<void>;
  readonly report: CapacityReport = { samples: 0, dips: [], pidsSeen: new Set(), failedPolls: 0 };

  constructor(
    private readonly adminUrl: string,
    private readonly intervalMs = 25,
  ) {
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    while (this.running) {
      try {
        const res = await fetch(`${this.adminUrl}/health`);
        const body = (await res.json()) as { workers: { expected: number; ready: number }; details: { pid: number; status: string }[] };
        const sample: HealthSample = {
          at: Date.now(),
          httpStatus: res.status,
          expected: body.workers.expected,
          ready: body.workers.ready,
          pids: body.details.filter((d) => d.status === 'ready').map((d) => d.pid),
        };
        this.report.samples += 1;
        for (const pid of sample.pids) this.report.pidsSeen.add(pid);
        if (sample.httpStatus !== 200 || sample.ready < sample.expected) this.report.dips.push(sample);
      } catch {
        this.report.failedPolls += 1;
      }
      await new Promise((resolve) => setTimeout(resolve, this.intervalMs));
    }
  }

  async stop(): Promise<CapacityReport> {
    this.running = false;
    await this.loop;
    return this.report;
  }
}
