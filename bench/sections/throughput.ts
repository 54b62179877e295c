import { parseExposition, sampleValue } from '../../test/support/prometheus-text.js';
import type { PulseProcess } from '../../test/support/pulse-process.js';
import type { HttpTarget } from '../lib/bare-koa.js';
import { BARE_KOA_REDIS_PATH } from '../lib/bare-koa-route.js';
import { getJson, type JournalFixture } from '../lib/journal-fixture.js';
import { cpuMs, processAndChildren } from '../lib/process-cpu.js';
import { RecordedAutocannon, type WindowReport } from '../../test/support/recorded-autocannon.js';
import { markdownTable, type SectionResult, type SummaryRow } from '../lib/report.js';
import type { BenchSettings } from '../lib/settings.js';
import { formatCounts, mean, ms, percentile, sum } from '../../test/support/stats.js';

export const PAGE_ONE_GOAL = 0.6;
const ROUNDS = 3;

interface Scenario {
  label: string;
  url: string;
  headers?: Record<string, string>;
  /** The cluster primary serving it: its CPU and its workers' is what the scenario costs the server. */
  serverPid: number;
}

interface Measured extends Scenario {
  report: WindowReport;
  /** CPU (user + system) of the server's processes per answered request, over the whole run. */
  cpuPerRequestUs: number;
}

async function measure(scenario: Scenario, settings: BenchSettings, log: (line: string) => void): Promise<Measured> {
  const serverPids = processAndChildren(scenario.serverPid);
  const cpuBefore = cpuMs(serverPids);
  const load = new RecordedAutocannon({
    url: scenario.url,
    connections: settings.throughputConnections,
    headers: scenario.headers,
    durationS: settings.warmupS + settings.measureS,
  });
  await load.finished;
  const cpuPerRequestUs = ((cpuMs(serverPids) - cpuBefore) * 1000) / Math.max(1, load.window().ok);
  const report = load.window(load.startedAt + settings.warmupS * 1000, load.stoppedAt);
  log(
    `  ${scenario.label}: ${report.requestsPerSecond.toFixed(0)} req/s, p50 ${ms(report.latency.p50)}, p99 ${ms(report.latency.p99)}, ` +
      `server CPU ${cpuPerRequestUs.toFixed(0)} µs/request`,
  );
  return { ...scenario, report, cpuPerRequestUs };
}

const ids = (body: { entries?: { id: number }[] }) => (body.entries ?? []).map((entry) => entry.id);

/** Checks the pages return what they claim before their speed means anything. */
async function verifyPages(pulse: PulseProcess, fixture: JournalFixture, settings: BenchSettings): Promise<void> {
  const get = (query: string) => getJson(`${pulse.url}/entries?${query}`, fixture.headers);
  const limit = settings.pageLimit;
  const first = await get(`page=1&limit=${limit}`);
  if (first.status !== 200 || first.body.total !== fixture.entries || ids(first.body).length !== limit) {
    throw new Error(`page 1 is not what the fixture holds: ${first.status} ${JSON.stringify(first.body).slice(0, 300)}`);
  }
  const cursorFirst = await get(`cursor=&limit=${limit}`);
  const deepOffset = await get(`page=${fixture.deepRow / limit + 1}&limit=${limit}`);
  const deepCursor = await get(`cursor=${fixture.deepCursor}&limit=${limit}`);
  if (JSON.stringify(ids(cursorFirst.body)) !== JSON.stringify(ids(first.body))) throw new Error('the first keyset page differs from offset page 1');
  if (ids(deepOffset.body).length !== limit || JSON.stringify(ids(deepCursor.body)) !== JSON.stringify(ids(deepOffset.body))) {
    throw new Error('the deep keyset page differs from the deep offset page');
  }
}

async function countCacheLookups(pulse: PulseProcess): Promise<{ hit: number; miss: number }> {
  const samples = parseExposition(await (await fetch(`${pulse.adminUrl}/metrics`)).text());
  const lookups = (result: string) => sampleValue(samples, 'pulse_cache_lookups_total', { cache: 'entry_first_page', result }) ?? 0;
  return { hit: lookups('hit'), miss: lookups('miss') + lookups('error') };
}

const percentOf = (value: number, base: number) => `${((100 * value) / base).toFixed(0)}%`;

/** "45% (median round; rounds: 44%, 45%, 45%)" */
const medianOfRounds = (ratios: number[]) =>
  `${(percentile(ratios, 50) * 100).toFixed(0)}% (median round; rounds: ${ratios.map((r) => `${(r * 100).toFixed(0)}%`).join(', ')})`;

/** p50/p99 of one run, or the mean of each over the rounds of a scenario. */
const latencies = (runs: Measured[]) =>
  `p50 ${ms(mean(runs.map((m) => m.report.latency.p50)))}, p99 ${ms(mean(runs.map((m) => m.report.latency.p99)))}`;

/** Another Pulse cluster, from the limiterless ablation build (bench/lib/limiterless-build.ts), with its own fixture. */
export interface LimiterlessTarget {
  pulse: PulseProcess;
  fixture: JournalFixture;
}

export async function benchThroughput(
  pulse: PulseProcess,
  bare: HttpTarget & { pid: number },
  fixture: JournalFixture,
  limiterless: LimiterlessTarget,
  settings: BenchSettings,
  log: (line: string) => void,
): Promise<SectionResult> {
  await verifyPages(pulse, fixture, settings);
  await verifyPages(limiterless.pulse, limiterless.fixture, settings);
  const limit = settings.pageLimit;
  const entries = (query: string, label: string): Scenario => ({
    label,
    url: `${pulse.url}/entries?${query}&limit=${limit}`,
    headers: fixture.headers,
    serverPid: pulse.pid,
  });
  const bareScenario: Scenario = { label: `bare Koa GET ${bare.path}`, url: bare.url, serverPid: bare.pid };
  const bareRedisScenario: Scenario = {
    label: `bare Koa GET ${BARE_KOA_REDIS_PATH} (2 Redis round trips, the I/O of cached page 1)`,
    url: bare.url.replace(bare.path, BARE_KOA_REDIS_PATH),
    serverPid: bare.pid,
  };
  const pageOne = entries('page=1', 'GET /entries page 1 (offset, cached first page)');
  const pageOneLimiterless: Scenario = {
    label: 'GET /entries page 1, ablation build without the rate limiter',
    url: `${limiterless.pulse.url}/entries?page=1&limit=${limit}`,
    headers: limiterless.fixture.headers,
    serverPid: limiterless.pulse.pid,
  };
  const rest: Scenario[] = [
    { label: 'GET /ping (full middleware, no database)', url: `${pulse.url}/ping`, serverPid: pulse.pid },
    entries(`page=${fixture.deepRow / limit + 1}`, `GET /entries page ${fixture.deepRow / limit + 1} (deep offset)`),
    entries('cursor=', 'GET /entries first keyset page (cursor)'),
    entries(`cursor=${fixture.deepCursor}`, `GET /entries keyset page after row ${fixture.deepRow} (deep cursor)`),
  ];

  // Bare Koa and page 1 are measured in rounds, back to back, with the other scenarios
  // in between: each round's ratio compares two runs a few seconds apart, and the median
  // round keeps a burst of load from elsewhere on the machine from deciding the verdict.
  const bareRuns: Measured[] = [];
  const pageOneRuns: Measured[] = [];
  const limiterlessRuns: Measured[] = [];
  const bareRedisRuns: Measured[] = [];
  const others: Measured[] = [];
  const before = await countCacheLookups(pulse);
  for (let round = 0; round < ROUNDS; round += 1) {
    bareRuns.push(await measure(bareScenario, settings, log));
    pageOneRuns.push(await measure(pageOne, settings, log));
    limiterlessRuns.push(await measure(pageOneLimiterless, settings, log));
    bareRedisRuns.push(await measure(bareRedisScenario, settings, log));
    for (const scenario of rest.slice(round * 2, round * 2 + 2)) others.push(await measure(scenario, settings, log));
  }
  const after = await countCacheLookups(pulse);

  const bareRps = mean(bareRuns.map((m) => m.report.requestsPerSecond));
  const pageOneRps = mean(pageOneRuns.map((m) => m.report.requestsPerSecond));
  /** Each round's throughput of `runs` over that round's `bases`. */
  const ratiosPerRound = (runs: Measured[], bases: Measured[]) =>
    runs.map((m, i) => m.report.requestsPerSecond / bases[i]!.report.requestsPerSecond);
  const roundRatios = ratiosPerRound(pageOneRuns, bareRuns);
  const ratio = percentile(roundRatios, 50);
  const limiterlessRatios = ratiosPerRound(limiterlessRuns, bareRuns);
  const ioMatchedRatio = percentile(ratiosPerRound(pageOneRuns, bareRedisRuns), 50);
  const bareRedisRps = mean(bareRedisRuns.map((m) => m.report.requestsPerSecond));
  const bareCpu = mean(bareRuns.map((m) => m.cpuPerRequestUs));
  const pageOneCpu = mean(pageOneRuns.map((m) => m.cpuPerRequestUs));
  const cacheHits = after.hit - before.hit;
  const cacheLookups = cacheHits + after.miss - before.miss;

  const inRounds = (runs: Measured[]) => runs.map((m, i) => ({ ...m, label: `${m.label} (round ${i + 1})` }));
  const all = [...inRounds(bareRuns), ...inRounds(pageOneRuns), ...inRounds(limiterlessRuns), ...inRounds(bareRedisRuns), ...others];
  const invalid = all.filter((m) => m.report.non2xx.size > 0 || sum(m.report.errors.values()) > 0);
  const rows: SummaryRow[] = [
    { measure: bareScenario.label, value: `${bareRps.toFixed(0)} req/s, ${latencies(bareRuns)}` },
    { measure: pageOne.label, value: `${pageOneRps.toFixed(0)} req/s, ${latencies(pageOneRuns)} (${percentOf(pageOneRps, bareRps)} of bare Koa)` },
    ...others.map((m) => ({
      measure: m.label,
      value: `${m.report.requestsPerSecond.toFixed(0)} req/s, ${latencies([m])} (${percentOf(m.report.requestsPerSecond, bareRps)} of bare Koa)`,
    })),
    {
      measure: 'cached page 1 vs bare Koa',
      value: medianOfRounds(roundRatios),
      goal: `>= ${PAGE_ONE_GOAL * 100}%`,
      status: ratio >= PAGE_ONE_GOAL ? 'met' : 'MISSED',
    },
  ];
  rows.push({
    measure: 'cached page 1 without the rate limiter (ablation build) vs bare Koa',
    value: `${medianOfRounds(limiterlessRatios)}: what page 1 reaches without the shared limiter's Redis round trip`,
  });
  rows.push({
    measure: 'cached page 1 vs bare Koa with the same Redis I/O',
    value: `${(ioMatchedRatio * 100).toFixed(0)}% (median round; baseline ${bareRedisRps.toFixed(0)} req/s, ${latencies(bareRedisRuns)})`,
  });
  rows.push({
    measure: 'server CPU per request, page 1 vs bare Koa',
    value: `${pageOneCpu.toFixed(0)} µs vs ${bareCpu.toFixed(0)} µs: ${percentOf(bareCpu, pageOneCpu)} (CPU-only ratio, less sensitive to noise)`,
  });
  if (invalid.length > 0) {
    rows.push({ measure: 'runs with errors or non-2xx (not comparable)', value: invalid.map((m) => m.label).join('; '), status: 'MISSED' });
  }

  const table = markdownTable(
    ['Scenario', 'req/s', 'p50', 'p99', 'vs bare Koa', 'server CPU/request', 'non-2xx', 'errors'],
    all.map((m) => [
      m.label,
      m.report.requestsPerSecond.toFixed(0),
      ms(m.report.latency.p50),
      ms(m.report.latency.p99),
      percentOf(m.report.requestsPerSecond, bareRps),
      `${m.cpuPerRequestUs.toFixed(0)} µs`,
      formatCounts(m.report.non2xx),
      formatCounts(m.report.errors),
    ]),
  );
  const details = [
    `${settings.workers} workers each (Pulse: the real compiled cluster; bare Koa: bench/bare-koa-cluster.ts), autocannon with ${settings.throughputConnections} keep-alive connections, ` +
      `${settings.warmupS} s warm-up discarded, then ${settings.measureS} s measured per scenario. Authenticated requests carry a Bearer token; ` +
      `the user has ${fixture.entries} entries; pages hold ${limit} entries. Before measuring, the bench checked that the first keyset page equals offset page 1 ` +
      `and that the deep keyset page equals the deep offset page.`,
    '',
    table,
    '',
    `Page 1 at ${(ratio * 100).toFixed(0)}% of bare Koa in the median of ${ROUNDS} back-to-back rounds ` +
      `(goal ${PAGE_ONE_GOAL * 100}%: ${ratio >= PAGE_ONE_GOAL ? 'met' : '**missed**'}); the "vs bare Koa" column divides by the mean of the bare Koa rounds. ` +
      `First-page cache during the run: ${cacheHits} hits of ${cacheLookups} lookups. ` +
      `"Server CPU/request" is the user + system CPU time of the cluster's primary and workers during the whole run (warm-up included; ` +
      `10 ms tick resolution) divided by the requests answered: it leaves out Postgres, Redis and the load generator, and it varies ` +
      `far less than throughput when other work shares the machine. By that measure bare Koa costs ${percentOf(bareCpu, pageOneCpu)} of what page 1 costs.` +
      ` The ablation build is a copy of the compiled service whose app does not mount the rate limiter (bench/lib/limiterless-build.ts), ` +
      `run as a third cluster with its own database and the same fixture, measured in each round right after page 1: it shows what page 1 ` +
      `would reach if the shared limiter cost nothing.`,
  ].join('\n');
  return { title: '1. Throughput', rows, details, failures: [] };
}
