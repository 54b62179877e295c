import pg from 'pg';
import { POSTGRES_ADMIN_URL } from './databases.js';

export interface SamplerReport {
  samples: number;
  max: number;
  failedSamples: number;
}

/**
 * Samples a count every `intervalMs` until stopped and keeps its maximum: how many
 * connections a database (or a pooler's pool) held at the worst moment of a run.
 */
export class CountSampler {
  private running = true;
  private readonly loop: Promise<void>;
  readonly report: SamplerReport = { samples: 0, max: 0, failedSamples: 0 };

  constructor(
    private readonly count: () => Promise<number>,
    private readonly intervalMs = 100,
  ) {
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    while (this.running) {
      try {
        const value = await this.count();
        this.report.samples += 1;
        this.report.max = Math.max(this.report.max, value);
      } catch {
        this.report.failedSamples += 1;
      }
      await new Promise((resolve) => setTimeout(resolve, this.intervalMs));
    }
  }

  async stop(): Promise<SamplerReport> {
    this.running = false;
    await this.loop;
    return this.report;
  }
}

/** Connections Postgres itself holds open to one database, as pg_stat_activity lists them. */
/**
 * Counts the connections to a database (pg_stat_activity). `exceptApplication`: leave out
 * those of that application_name (e.g. the migrations', which may bypass a pooler).
 */
export async function postgresConnectionCounter(
  databaseName: string,
  exceptApplication?: string,
): Promise<{ count: () => Promise<number>; close: () => Promise<void> }> {
  // Connected to the maintenance database: the sampler's own connection is never counted.
  const client = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
  await client.connect();
  return {
    count: async () => {
      const result = await client.query<{ n: number }>(
        'select count(*)::int as n from pg_stat_activity where datname = $1 and application_name is distinct from $2',
        [databaseName, exceptApplication ?? null],
      );
      return result.rows[0]!.n;
    },
    close: () => client.end(),
  };
}

export function databaseNameOf(databaseUrl: string): string {
  return decodeURIComponent(new URL(databaseUrl).pathname.slice(1));
}
