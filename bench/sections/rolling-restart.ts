import { CtlRun } from '../../test/support/ctl.js';
import type { PulseProcess } from '../../test/support/pulse-process.js';
import { sleep } from '../../test/support/wait.js';
import { PM2_APP_NAME, type Pm2 } from '../lib/bare-koa.js';
import { RecordedAutocannon, type WindowReport } from '../../test/support/recorded-autocannon.js';
import { RecordedHttpLoad } from '../../test/support/recorded-http-load.js';
import { markdownTable, type SectionResult, type SummaryRow } from '../lib/report.js';
import type { BenchSettings } from '../lib/settings.js';
import { formatCounts, ms, sum } from '../../test/support/stats.js';

const WARMUP_S = 3;

/** `pulse ctl` exit code when no primary answers on the control socket. */
const CTL_NOT_RUNNING = 69;

export interface LoadTarget {
  port: number;
  url: string;
  path: string;
  headers?: Record<string, string>;
}

interface RestartOutcome {
  ok: boolean;
  trigger: string;
  detail: string;
}

interface ClientWindows {
  whole: WindowReport;
  steady: WindowReport;
  during: WindowReport;
}

interface RestartMeasurement {
  label: string;
  outcome: RestartOutcome;
  durationMs: number;
  autocannon: ClientWindows;
  compliant: ClientWindows;
}

/** Requests that did not get a 2xx and cannot be put on the client: non-2xx, resets without a close announcement, timeouts. */
export const failures = (report: WindowReport) => sum(report.non2xx.values()) + report.unexplainedErrors;

async function restartUnderLoad(
  label: string,
  target: LoadTarget,
  trigger: () => Promise<RestartOutcome>,
  settings: BenchSettings,
): Promise<RestartMeasurement> {
  // Workers fresh from the previous restart need a few seconds of this route before their
  // JIT and pools reach steady state: warm them up first, so "steady" means steady.
  await new RecordedAutocannon({ url: target.url, connections: settings.reloadConnections, headers: target.headers, durationS: WARMUP_S }).finished;
  const autocannon = new RecordedAutocannon({ url: target.url, connections: settings.reloadConnections, headers: target.headers });
  const compliant = new RecordedHttpLoad({ port: target.port, path: target.path, concurrency: settings.compliantConnections, headers: target.headers });
  let start = 0;
  let end = 0;
  let outcome: RestartOutcome;
  try {
    await sleep(settings.steadyMs);
    start = Date.now();
    outcome = await trigger();
    end = Date.now();
    await sleep(settings.afterRestartMs);
  } finally {
    await Promise.all([autocannon.stop(), compliant.stop()]);
  }
  // The first second (connections opening, JIT warm-up) is not steady state.
  const windows = (load: RecordedAutocannon | RecordedHttpLoad): ClientWindows => ({
    whole: load.window(),
    steady: load.window(load.startedAt + 1000, start),
    during: load.window(start, end),
  });
  return { label, outcome, durationMs: end - start, autocannon: windows(autocannon), compliant: windows(compliant) };
}

async function pulseReload(pulse: PulseProcess): Promise<RestartOutcome> {
  const before = await pulse.workerPids();
  const logFrom = pulse.logs.length;
  const ctl = await new CtlRun(['reload'], pulse.env).done;
  let trigger = '`node dist/src/cli.js ctl reload`';
  let ok = ctl.code === 0;
  if (ctl.code === CTL_NOT_RUNNING) {
    // No control socket: the CLI is not available in this build, SIGHUP does the same.
    trigger = 'SIGHUP (the CLI found no control socket)';
    pulse.signal('SIGHUP');
    const line = await pulse.waitForLog((l) => l.msg.startsWith('rolling restart f'), 60_000, logFrom);
    ok = line.msg === 'rolling restart finished';
  }
  const finished = pulse.logs.slice(logFrom).find((l) => l.msg === 'rolling restart finished');
  const after = await pulse.workerPids();
  const replacedAll = after.length === before.length && before.every((pid) => !after.includes(pid));
  return {
    ok: ok && replacedAll,
    trigger,
    detail:
      `exit ${ctl.code}, primary's own measure ${finished ? `${Number(finished.durationMs)} ms` : 'n/a'}, ` +
      `workers ${before.join(', ')} replaced by ${after.join(', ')}${replacedAll ? '' : ' (NOT all replaced)'}` +
      (ok ? '' : `; ctl said: ${(ctl.stderr || ctl.stdout).trim().slice(0, 300)}`),
  };
}

async function pm2Reload(pm2: Pm2): Promise<RestartOutcome> {
  const before = (await pm2.cli.list()).map((p) => p.pid);
  const reload = await pm2.cli.run('reload', PM2_APP_NAME);
  const after = (await pm2.cli.list()).filter((p) => p.pm2_env.status === 'online').map((p) => p.pid);
  const replacedAll = after.length === before.length && before.every((pid) => !after.includes(pid));
  return {
    ok: reload.code === 0 && replacedAll,
    trigger: `\`pm2 reload ${PM2_APP_NAME}\``,
    detail: `exit ${reload.code}, workers ${before.join(', ')} replaced by ${after.join(', ')}${replacedAll ? '' : ' (NOT all replaced)'}`,
  };
}

function measurementRows(m: RestartMeasurement, gated: boolean): SummaryRow[] {
  const goal = (count: number): Pick<SummaryRow, 'goal' | 'status'> => (gated ? { goal: '0', status: count === 0 ? 'ok' : 'FAILED' } : {});
  const compliantFailed = failures(m.compliant.whole);
  const autocannonFailed = failures(m.autocannon.whole);
  return [
    { measure: `${m.label}: failed requests, compliant client`, value: String(compliantFailed), ...goal(compliantFailed) },
    {
      measure: `${m.label}: failed requests, autocannon`,
      value: `${autocannonFailed} (+${m.autocannon.whole.errorsAfterConnectionClose} lost after Connection: close)`,
      ...goal(autocannonFailed),
    },
    { measure: `${m.label}: time to complete`, value: `${(m.durationMs / 1000).toFixed(2)} s`, ...(gated ? { goal: 'succeeds', status: m.outcome.ok ? 'ok' : 'FAILED' } : {}) },
    { measure: `${m.label}: p99 steady -> during restart`, value: `${ms(m.autocannon.steady.latency.p99)} -> ${ms(m.autocannon.during.latency.p99)}` },
  ];
}

function measurementDetails(m: RestartMeasurement, settings: BenchSettings): string {
  const clientRow = (name: string, w: ClientWindows, closeResets: boolean) => [
    name,
    String(w.whole.ok),
    formatCounts(w.whole.non2xx),
    formatCounts(w.whole.errors),
    closeResets ? String(w.whole.errorsAfterConnectionClose) : 'n/a',
    String(failures(w.whole)),
    `${w.steady.requestsPerSecond.toFixed(0)} -> ${w.during.requestsPerSecond.toFixed(0)}`,
    `${ms(w.steady.latency.p50)} -> ${ms(w.during.latency.p50)}`,
    `${ms(w.steady.latency.p99)} -> ${ms(w.during.latency.p99)}`,
  ];
  return [
    `**${m.label}**: ${m.outcome.trigger} took ${(m.durationMs / 1000).toFixed(2)} s (${m.outcome.detail}).`,
    '',
    markdownTable(
      ['Client', '2xx', 'non-2xx', 'lost requests', 'of which after Connection: close', 'failed', 'req/s steady -> during', 'p50 steady -> during', 'p99 steady -> during'],
      [
        clientRow(`autocannon, ${settings.reloadConnections} connections`, m.autocannon, true),
        clientRow(`compliant (http.Agent), ${settings.compliantConnections} connections`, m.compliant, false),
      ],
    ),
  ].join('\n');
}

export async function benchRollingRestart(
  pulse: PulseProcess,
  pulseTargets: { ping: LoadTarget; entries: LoadTarget },
  pm2: Pm2,
  settings: BenchSettings,
  log: (line: string) => void,
): Promise<SectionResult> {
  const measurements: Array<{ m: RestartMeasurement; gated: boolean }> = [];
  const run = async (label: string, target: LoadTarget, trigger: () => Promise<RestartOutcome>, gated: boolean) => {
    const m = await restartUnderLoad(label, target, trigger, settings);
    log(`  ${label}: ${(m.durationMs / 1000).toFixed(2)} s, failed: compliant ${failures(m.compliant.whole)}, autocannon ${failures(m.autocannon.whole)} (+${m.autocannon.whole.errorsAfterConnectionClose} after Connection: close)`);
    measurements.push({ m, gated });
  };
  await run('Pulse reload, GET /ping', pulseTargets.ping, () => pulseReload(pulse), true);
  await run('Pulse reload, GET /entries page 1', pulseTargets.entries, () => pulseReload(pulse), true);
  await pm2.startCluster(settings.workers);
  await run(`pm2 reload, bare Koa GET ${pm2.target.path}`, pm2.target, () => pm2Reload(pm2), false);

  const failed = measurements
    .filter(({ gated }) => gated)
    .flatMap(({ m }) => [
      ...(m.outcome.ok ? [] : [`${m.label}: the rolling restart did not succeed (${m.outcome.detail})`]),
      ...(failures(m.compliant.whole) > 0 ? [`${m.label}: ${failures(m.compliant.whole)} failed requests (compliant client)`] : []),
      ...(failures(m.autocannon.whole) > 0 ? [`${m.label}: ${failures(m.autocannon.whole)} failed requests (autocannon)`] : []),
    ]);
  const details = [
    `Load during each restart: autocannon with ${settings.reloadConnections} keep-alive connections and, at the same time, a compliant keep-alive client ` +
      `(Node's http.Agent, which honours \`Connection: close\`) with ${settings.compliantConnections} connections; after a ${WARMUP_S} s warm-up of the route ` +
      `(unrecorded), ${settings.steadyMs / 1000} s of steady state, ` +
      `the restart, then ${settings.afterRestartMs / 1000} s more. ${settings.workers} workers everywhere. A request is lost when it gets no answer: ` +
      `a socket error, a timeout, or (autocannon) its connection ended before the response, CLOSED_BEFORE_RESPONSE, which autocannon itself does not count. ` +
      `"Failed" = lost + non-2xx, except autocannon's losses on a connection whose last response said \`Connection: close\`: autocannon ignores the header ` +
      `and writes its next request on a socket the server is closing, which the server never reads (a race only the client can avoid: ` +
      `the compliant client shows what a client that honours the header sees). Steady state is the window from 1 s after the ` +
      `load started to the restart; "during" is from the restart command to its return.`,
    '',
    ...measurements.flatMap(({ m }) => [measurementDetails(m, settings), '']),
  ].join('\n');
  return { title: '2. Rolling restart under load', rows: measurements.flatMap(({ m, gated }) => measurementRows(m, gated)), details, failures: failed };
}
