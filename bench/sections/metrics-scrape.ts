import { CtlRun } from '../../test/support/ctl.js';
import { parseExposition, sampleValue } from '../../test/support/prometheus-text.js';
import type { PulseProcess } from '../../test/support/pulse-process.js';
import { RecordedAutocannon } from '../../test/support/recorded-autocannon.js';
import { markdownTable, type SectionResult, type SummaryRow } from '../lib/report.js';
import type { BenchSettings } from '../lib/settings.js';
import { ms, summarizeLatencies } from '../../test/support/stats.js';
import type { LoadTarget } from './rolling-restart.js';

interface ScrapeRun {
  workers: number;
  p50: number;
  p99: number;
  max: number;
  bytes: number;
  samples: number;
  non200: number;
  workerMisses: number;
}

async function scrapeMisses(pulse: PulseProcess): Promise<number> {
  const samples = parseExposition(await (await fetch(`${pulse.adminUrl}/metrics`)).text());
  return sampleValue(samples, 'pulse_metrics_scrape_worker_misses_total') ?? 0;
}

async function scrapeRepeatedly(pulse: PulseProcess, workers: number, scrapes: number): Promise<ScrapeRun> {
  const missesBefore = await scrapeMisses(pulse);
  const timings: number[] = [];
  let body = '';
  let non200 = 0;
  for (let i = 0; i < scrapes; i += 1) {
    const started = performance.now();
    const res = await fetch(`${pulse.adminUrl}/metrics`);
    body = await res.text();
    timings.push(performance.now() - started);
    if (res.status !== 200) non200 += 1;
  }
  const latency = summarizeLatencies(timings);
  return {
    workers,
    p50: latency.p50,
    p99: latency.p99,
    max: latency.max,
    bytes: Buffer.byteLength(body),
    samples: parseExposition(body).length,
    non200,
    workerMisses: (await scrapeMisses(pulse)) - missesBefore,
  };
}

/** Sequential scrapes of the admin /metrics (every worker asked over IPC, merged) at several worker counts. */
export async function benchMetricsScrape(pulse: PulseProcess, traffic: LoadTarget, settings: BenchSettings, log: (line: string) => void): Promise<SectionResult> {
  const runs: ScrapeRun[] = [];
  const problems: string[] = [];
  for (const workers of settings.scrapeWorkerCounts) {
    if ((await pulse.workerPids()).length !== workers) {
      const scaled = await new CtlRun(['scale', String(workers)], pulse.env).done;
      if (scaled.code !== 0) {
        problems.push(`ctl scale ${workers} failed (exit ${scaled.code}): ${(scaled.stderr || scaled.stdout).trim().slice(0, 200)}`);
        break;
      }
      await pulse.waitHealthy(60_000);
    }
    // Some traffic first, so that every worker has request series to report.
    const burst = new RecordedAutocannon({ url: traffic.url, connections: Math.max(4, workers), headers: traffic.headers, durationS: 1 });
    await burst.finished;
    const run = await scrapeRepeatedly(pulse, workers, settings.scrapes);
    log(`  ${workers} workers: p50 ${ms(run.p50)}, p99 ${ms(run.p99)} (${run.samples} samples, ${(run.bytes / 1024).toFixed(0)} KiB)`);
    runs.push(run);
  }

  const rows: SummaryRow[] = runs.map((run) => ({
    measure: `/metrics scrape, ${run.workers} workers`,
    value: `p50 ${ms(run.p50)}, p99 ${ms(run.p99)}`,
  }));
  for (const problem of problems) rows.push({ measure: 'scaling', value: problem, status: 'MISSED' });
  const details = [
    `${settings.scrapes} sequential scrapes of the admin port's \`GET /metrics\` per worker count, on an idle cluster after a 1 s burst of \`GET ${traffic.path}\` ` +
      `(so every worker has request series). Worker counts were changed with \`node dist/src/cli.js ctl scale N\` on the same running cluster (DATABASE_POOL_MAX=2). ` +
      `Each scrape asks every worker over IPC and merges the answers (prom-client AggregatorRegistry) plus the counts of retired workers.`,
    '',
    markdownTable(
      ['Workers', 'p50', 'p99', 'max', 'samples', 'body', 'non-200', 'worker misses'],
      runs.map((r) => [String(r.workers), ms(r.p50), ms(r.p99), ms(r.max), String(r.samples), `${(r.bytes / 1024).toFixed(0)} KiB`, String(r.non200), String(r.workerMisses)]),
    ),
    ...(problems.length ? ['', ...problems.map((p) => `- ${p}`)] : []),
  ].join('\n');
  return { title: '4. /metrics scrape latency', rows, details, failures: [] };
}
