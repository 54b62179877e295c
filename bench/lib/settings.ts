/**
 * How long and how hard each benchmark runs. BENCH_QUICK=1 shortens every phase for a
 * smoke run of the harness itself (its numbers are not worth recording).
 */
export interface BenchSettings {
  quick: boolean;
  /** BENCH_SECTIONS: only these sections run (all when undefined). */
  sections: number[] | undefined;
  /** Workers of every cluster compared for throughput and restarts (the machine has 2 cores). */
  workers: number;
  throughputConnections: number;
  warmupS: number;
  measureS: number;
  entries: number;
  /** The deep pages start after this row (newest first): offset page 901 of 10 = cursor after row 9000. */
  deepRow: number;
  pageLimit: number;
  reloadConnections: number;
  compliantConnections: number;
  steadyMs: number;
  afterRestartMs: number;
  sigtermConnections: number;
  crashLoadConnections: number;
  crashLoadPauseMs: number;
  scrapes: number;
  scrapeWorkerCounts: number[];
  brownoutConnections: number;
  /** Normal service measured before Redis is frozen (after the warm-up). */
  brownoutNormalMs: number;
  /** How long Redis stays SIGSTOPped. */
  brownoutHangMs: number;
  /** Measured after SIGCONT. */
  brownoutAfterMs: number;
}

const SECTION_COUNT = 7;

function parseSections(value: string | undefined): number[] | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const sections = value.split(',').map((part) => Number(part.trim()));
  if (sections.some((section) => !Number.isInteger(section) || section < 1 || section > SECTION_COUNT)) {
    throw new Error(`BENCH_SECTIONS must list section numbers from 1 to ${SECTION_COUNT}, comma-separated (got ${JSON.stringify(value)})`);
  }
  return [...new Set(sections)].sort((a, b) => a - b);
}

export function benchSettings(env: NodeJS.ProcessEnv = process.env): BenchSettings {
  const quick = env.BENCH_QUICK === '1';
  return {
    quick,
    sections: parseSections(env.BENCH_SECTIONS),
    workers: 2,
    throughputConnections: 32,
    warmupS: quick ? 1 : 2,
    measureS: quick ? 2 : 8,
    entries: 10_000,
    deepRow: 9000,
    pageLimit: 10,
    reloadConnections: 64,
    compliantConnections: 16,
    steadyMs: quick ? 2000 : 4000,
    afterRestartMs: quick ? 1000 : 2000,
    sigtermConnections: 64,
    crashLoadConnections: 4,
    crashLoadPauseMs: 10,
    scrapes: quick ? 10 : 50,
    scrapeWorkerCounts: [2, 8, 16],
    brownoutConnections: 32,
    brownoutNormalMs: quick ? 2000 : 5000,
    brownoutHangMs: quick ? 4000 : 10_000,
    brownoutAfterMs: quick ? 3000 : 5000,
  };
}
