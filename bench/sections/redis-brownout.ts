import { parseExposition, sampleValue } from '../../test/support/prometheus-text.js';
import type { LogLine, PulseProcess } from '../../test/support/pulse-process.js';
import { RecordedHttpLoad } from '../../test/support/recorded-http-load.js';
import type { RedisServerProcess } from '../../test/support/redis-server.js';
import { formatCounts, ms, sum } from '../../test/support/stats.js';
import { sleep } from '../../test/support/wait.js';
import { markdownTable, type SectionResult, type SummaryRow } from '../lib/report.js';
import type { BenchSettings } from '../lib/settings.js';
import type { LoadTarget } from './rolling-restart.js';

export const BROWNOUT_THROUGHPUT_GOAL = 0.7;
export const BROWNOUT_RECOVERY_GOAL_MS = 2000;
/** Throughput counts as back to normal from the first window of this length at ≥ 90% of normal. */
const RECOVERY_WINDOW_MS = 500;
const RECOVERY_STEP_MS = 50;
const RECOVERED_SHARE = 0.9;
const BREAKER_CLOSED_LOG = 'redis breaker closed: Redis answers again';

/** One load on one Pulse cluster of the private redis-server, frozen while it runs. */
export interface BrownoutScenario {
  label: string;
  pulse: PulseProcess;
  target: LoadTarget;
  /** The scenario the throughput and recovery goals are judged on. */
  judged?: boolean;
  /** A build or setting for comparison only: not judged, its failures not counted. */
  ablation?: boolean;
  /** Measured first, Redis healthy: the same answers without the cache (what the route costs when Redis is skipped). */
  withoutCache?: LoadTarget;
}

type Window = ReturnType<RecordedHttpLoad['window']>;

interface BrownoutRun {
  scenario: BrownoutScenario;
  normal: Window;
  hang: Window;
  after: Window;
  withoutCache: Window | undefined;
  failed: number;
  /** From Redis answering again to every worker's breaker closed (undefined: none had opened). */
  breakersClosedMs: number | undefined;
  /** From Redis answering again to throughput back at ≥ 90% of normal. */
  throughputBackMs: number | undefined;
  /** Answers per second, second by second, from the SIGSTOP on. */
  perSecond: number[];
  hangSeconds: number;
  /** Breakers opened (log lines, all workers) before the SIGSTOP, during the hang, after the SIGCONT. */
  openings: { before: number; during: number; after: number };
  breakerCounts: string;
}

const logTime = (line: LogLine) => Date.parse(String(line.time));
const percent = (value: number) => `${(value * 100).toFixed(0)}%`;
const rate = (window: Window) => `${window.requestsPerSecond.toFixed(0)} req/s`;
const shown = (value: number | undefined) => (value === undefined ? 'n/a' : Number.isFinite(value) ? `${Math.max(0, Math.round(value))} ms` : 'never');

/** The start of the first sliding window after `from` whose rate reaches `target` (ms after `from`). */
function backToRate(load: RecordedHttpLoad, from: number, to: number, target: number): number | undefined {
  for (let start = from; start + RECOVERY_WINDOW_MS <= to; start += RECOVERY_STEP_MS) {
    if (load.window(start, start + RECOVERY_WINDOW_MS).requestsPerSecond >= target) return start - from;
  }
  return undefined;
}

/** From Redis answering again until the service is back to normal: breakers closed and throughput back. */
function recoveryMs(run: BrownoutRun): number {
  return Math.max(run.breakersClosedMs ?? 0, run.throughputBackMs ?? Number.POSITIVE_INFINITY);
}

async function breakerCounts(pulse: PulseProcess): Promise<string> {
  const samples = parseExposition(await (await fetch(`${pulse.adminUrl}/metrics`)).text());
  const value = (name: string, labels: Record<string, string> = {}) => sampleValue(samples, name, labels) ?? 0;
  return (
    `breaker transitions to open ${value('pulse_redis_breaker_transitions_total', { to: 'open' })}, ` +
    `to half-open ${value('pulse_redis_breaker_transitions_total', { to: 'half_open' })}, ` +
    `to closed ${value('pulse_redis_breaker_transitions_total', { to: 'closed' })}; Redis calls skipped: ` +
    `rate limiter ${value('pulse_redis_breaker_short_circuits_total', { caller: 'rate_limit' })}, ` +
    `cache ${value('pulse_redis_breaker_short_circuits_total', { caller: 'entry_list_cache' })}; ` +
    `requests let through by the limiter ${value('pulse_rate_limit_fail_open_total')} (counts since the cluster started)`
  );
}

async function measureWithoutCache(target: LoadTarget, settings: BenchSettings): Promise<Window> {
  const load = new RecordedHttpLoad({ port: target.port, path: target.path, concurrency: settings.brownoutConnections, headers: target.headers });
  await sleep(settings.warmupS * 1000 + settings.brownoutNormalMs);
  await load.stop();
  return load.window(load.startedAt + settings.warmupS * 1000, load.stoppedAt);
}

async function brownout(scenario: BrownoutScenario, redis: RedisServerProcess, settings: BenchSettings, log: (line: string) => void): Promise<BrownoutRun> {
  const { pulse, target } = scenario;
  const logFrom = pulse.logs.length;
  const withoutCache = scenario.withoutCache && (await measureWithoutCache(scenario.withoutCache, settings));
  const load = new RecordedHttpLoad({ port: target.port, path: target.path, concurrency: settings.brownoutConnections, headers: target.headers });
  let freezeAt = 0;
  let unfreezeAt = 0;
  try {
    await sleep(settings.warmupS * 1000 + settings.brownoutNormalMs);
    freezeAt = Date.now();
    redis.freeze();
    await sleep(settings.brownoutHangMs);
  } finally {
    unfreezeAt = Date.now();
    redis.unfreeze();
  }
  await sleep(settings.brownoutAfterMs);
  await load.stop();
  const stoppedAt = load.stoppedAt!;

  const normal = load.window(load.startedAt + settings.warmupS * 1000, freezeAt);
  const whole = load.window(load.startedAt, stoppedAt);
  const logs = pulse.logs.slice(logFrom);
  const openedAt = logs.filter((line) => line.msg.startsWith('redis breaker opened')).map(logTime);
  const opened = openedAt.filter((at) => at >= freezeAt).length;
  const closings = logs.filter((line) => line.msg === BREAKER_CLOSED_LOG).map(logTime).filter((at) => at >= freezeAt);
  const perSecond: number[] = [];
  for (let from = freezeAt; from + 1000 <= stoppedAt; from += 1000) perSecond.push(load.window(from, from + 1000).ok);
  const run: BrownoutRun = {
    scenario,
    normal,
    hang: load.window(freezeAt, unfreezeAt),
    after: load.window(unfreezeAt, stoppedAt),
    withoutCache,
    failed: sum(whole.non2xx.values()) + whole.unexplainedErrors,
    breakersClosedMs: opened === 0 ? undefined : closings.length < opened ? Number.POSITIVE_INFINITY : Math.max(...closings) - unfreezeAt,
    throughputBackMs: backToRate(load, unfreezeAt, stoppedAt, RECOVERED_SHARE * normal.requestsPerSecond),
    perSecond,
    hangSeconds: Math.round((unfreezeAt - freezeAt) / 1000),
    openings: {
      before: openedAt.filter((at) => at < freezeAt).length,
      during: openedAt.filter((at) => at >= freezeAt && at < unfreezeAt).length,
      after: openedAt.filter((at) => at >= unfreezeAt).length,
    },
    breakerCounts: await breakerCounts(pulse),
  };
  log(
    `  ${scenario.label}: normal ${rate(normal)}, Redis hung ${rate(run.hang)} (${percent(run.hang.requestsPerSecond / normal.requestsPerSecond)}), ` +
      `p99 ${ms(run.hang.latency.p99)}; back to normal ${shown(recoveryMs(run))} after SIGCONT; failed ${run.failed}`,
  );
  return run;
}

/**
 * SIGSTOP the service's Redis under keep-alive load for a while, then SIGCONT it: how much
 * throughput survives the hang and how soon the service is back to normal. Pulse runs on a
 * private redis-server (the one the tests share must not be frozen). The scenarios run one
 * after the other: the judged one, the cached first page (whose answers come from Postgres
 * while Redis is skipped, so the same page without the cache is measured first for
 * comparison), and an ablation whose breaker a hang of this length never opens (the
 * service as it was before the breaker).
 */
export async function benchRedisBrownout(
  scenarios: BrownoutScenario[],
  redis: RedisServerProcess,
  settings: BenchSettings,
  log: (line: string) => void,
): Promise<SectionResult> {
  const runs: BrownoutRun[] = [];
  for (const scenario of scenarios) runs.push(await brownout(scenario, redis, settings, log));
  const judged = runs.find((run) => run.scenario.judged) ?? runs[0]!;
  const share = judged.hang.requestsPerSecond / judged.normal.requestsPerSecond;
  const recovery = recoveryMs(judged);
  const failed = sum(runs.filter((run) => !run.scenario.ablation).map((run) => run.failed));
  const rows: SummaryRow[] = [
    {
      measure: `${judged.scenario.label}: throughput while Redis hangs (${settings.brownoutHangMs / 1000} s SIGSTOP), share of normal`,
      value: `${percent(share)} (${judged.hang.requestsPerSecond.toFixed(0)} of ${judged.normal.requestsPerSecond.toFixed(0)} req/s)`,
      goal: `≥ ${percent(BROWNOUT_THROUGHPUT_GOAL)}`,
      status: share >= BROWNOUT_THROUGHPUT_GOAL ? 'met' : 'MISSED',
    },
    {
      measure: `${judged.scenario.label}: back to normal after SIGCONT (breakers closed, throughput ≥ 90%)`,
      value: shown(recovery),
      goal: `≤ ${BROWNOUT_RECOVERY_GOAL_MS} ms`,
      status: recovery <= BROWNOUT_RECOVERY_GOAL_MS ? 'met' : 'MISSED',
    },
    { measure: 'requests failed (non-2xx or no answer), Pulse scenarios', value: String(failed), goal: '0', status: failed === 0 ? 'ok' : 'FAILED' },
  ];
  for (const run of runs.filter((candidate) => candidate !== judged)) {
    rows.push({
      measure: `${run.scenario.label}: throughput while Redis hangs, share of normal`,
      value: `${percent(run.hang.requestsPerSecond / run.normal.requestsPerSecond)} (${run.hang.requestsPerSecond.toFixed(0)} of ${run.normal.requestsPerSecond.toFixed(0)} req/s)`,
    });
    if (!run.withoutCache || run.scenario.ablation) continue;
    // A cached page loses its cache while Redis is skipped, and nothing more.
    const ofUncached = run.hang.requestsPerSecond / run.withoutCache.requestsPerSecond;
    rows.push({
      measure: `${run.scenario.label}: throughput while Redis hangs, share of the same page without the cache`,
      value: `${percent(ofUncached)} (${run.hang.requestsPerSecond.toFixed(0)} of ${run.withoutCache.requestsPerSecond.toFixed(0)} req/s)`,
      goal: `≥ ${percent(BROWNOUT_THROUGHPUT_GOAL)}`,
      status: ofUncached >= BROWNOUT_THROUGHPUT_GOAL ? 'met' : 'MISSED',
    });
  }

  const table = markdownTable(
    ['Scenario', 'Normal', 'Redis hung', 'Share', 'p50 / p99 / max while hung', 'After SIGCONT', 'Breakers closed', 'Throughput ≥ 90%', 'Failed'],
    runs.map((run) => [
      `${run.scenario.label} (\`GET ${run.scenario.target.path}\`)`,
      `${rate(run.normal)} (p99 ${ms(run.normal.latency.p99)})${run.withoutCache ? `; without the cache ${rate(run.withoutCache)}` : ''}`,
      rate(run.hang),
      percent(run.hang.requestsPerSecond / run.normal.requestsPerSecond),
      `${ms(run.hang.latency.p50)} / ${ms(run.hang.latency.p99)} / ${ms(run.hang.latency.max)}`,
      rate(run.after),
      shown(run.breakersClosedMs),
      shown(run.throughputBackMs),
      `${run.failed}${run.failed ? ` (${formatCounts(run.hang.non2xx)})` : ''}`,
    ]),
  );
  const details = [
    `A compliant keep-alive client with ${settings.brownoutConnections} connections per scenario, one scenario at a time. After ` +
      `${settings.warmupS} s of warm-up (discarded) and ${settings.brownoutNormalMs / 1000} s of normal service ("Normal"), the private ` +
      `redis-server gets SIGSTOP for ${settings.brownoutHangMs / 1000} s (connections stay up, nothing answers), then SIGCONT, then ` +
      `${settings.brownoutAfterMs / 1000} s more. "Redis hung" counts every answer from the SIGSTOP to the SIGCONT, the moments before ` +
      `the breakers open included. "Breakers closed": the last worker's "${BREAKER_CLOSED_LOG}" log line after the SIGCONT; "Throughput ≥ 90%": ` +
      `the first ${RECOVERY_WINDOW_MS} ms window after the SIGCONT at 90% of normal. "Without the cache": the same page and count ` +
      `with a filter that matches every entry (\`from=1970-01-01\`, never cached), Redis healthy, measured just before. ` +
      `${settings.workers} workers per cluster, defaults otherwise (limiter deadline 500 ms, cache deadline 250 ms, breaker: 5 failures ` +
      `in a row, 1 s cool-off).`,
    '',
    table,
    '',
    'Answers per second, second by second from the SIGSTOP (| marks the SIGCONT):',
    '',
    ...runs.map((run) => `- ${run.scenario.label}: ${run.perSecond.slice(0, run.hangSeconds).join(', ')} | ${run.perSecond.slice(run.hangSeconds).join(', ')}`),
    '',
    ...runs.map(
      (run) =>
        `- ${run.scenario.label}: breakers opened (log lines) ${run.openings.before} times before the SIGSTOP, ${run.openings.during} during the hang, ` +
        `${run.openings.after} after the SIGCONT; ${run.breakerCounts}.`,
    ),
  ].join('\n');
  return {
    title: '6. Redis brownout',
    rows,
    details,
    failures: failed === 0 ? [] : [`${failed} requests failed during the Redis brownout`],
  };
}
