import type { PulseProcess } from '../../test/support/pulse-process.js';
import { sleep } from '../../test/support/wait.js';
import { RecordedHttpLoad } from '../../test/support/recorded-http-load.js';
import type { SectionResult } from '../lib/report.js';
import type { BenchSettings } from '../lib/settings.js';
import { formatCounts, increment, sum } from '../../test/support/stats.js';
import type { LoadTarget } from './rolling-restart.js';

const outcomeOf = (r: { status?: number; error?: string; end: number }) =>
  r.error ?? (r.status !== undefined ? String(r.status) : r.end === Infinity ? 'never answered' : 'unknown');

/**
 * SIGTERM to the primary while a compliant client keeps many requests in flight: every
 * request in flight at the signal must complete with its normal answer.
 */
export async function benchSigterm(pulse: PulseProcess, target: LoadTarget, settings: BenchSettings, log: (line: string) => void): Promise<SectionResult> {
  const load = new RecordedHttpLoad({ port: target.port, path: target.path, concurrency: settings.sigtermConnections, headers: target.headers });
  const logFrom = pulse.logs.length;
  let signalledAt = 0;
  let exitedAt = 0;
  let exit: { code: number | null; signal: NodeJS.Signals | null };
  try {
    await sleep(settings.steadyMs / 2);
    signalledAt = Date.now();
    pulse.signal('SIGTERM');
    exit = await pulse.waitExit(30_000);
    exitedAt = Date.now();
    await sleep(300);
  } finally {
    await load.stop();
  }

  const inFlight = load.inFlightAt(signalledAt);
  const completed = inFlight.filter((r) => r.status !== undefined && r.status >= 200 && r.status < 300);
  const notCompleted = new Map<string, number>();
  for (const r of inFlight) if (!completed.includes(r)) increment(notCompleted, outcomeOf(r));
  const afterSignal = new Map<string, number>();
  for (const r of load.records.filter((r) => r.start >= signalledAt)) increment(afterSignal, outcomeOf(r));

  const logs = pulse.logs.slice(logFrom);
  const drains = logs.filter((l) => l.msg === 'drain started');
  const finished = logs.filter((l) => l.msg.startsWith('drain finished') || l.msg.startsWith('drain deadline'));
  const serverInflight = sum(drains.map((l) => Number(l.inflight ?? 0)));
  const cut = sum(finished.map((l) => Number(l.cut ?? 0)));
  const complete = logs.find((l) => l.msg.startsWith('shutdown complete') || l.msg.startsWith('shutdown finished'));
  const shutdownMs = exitedAt - signalledAt;
  const allCompleted = inFlight.length > 0 && completed.length === inFlight.length;
  const clean = exit.code === 0 && cut === 0;
  log(`  in flight at SIGTERM: ${inFlight.length}, completed ${completed.length}; exit ${exit.code} after ${shutdownMs} ms`);

  const failures = [
    ...(allCompleted ? [] : [`SIGTERM: ${inFlight.length - completed.length} of ${inFlight.length} requests in flight did not complete (${formatCounts(notCompleted)})`]),
    ...(clean ? [] : [`SIGTERM: the shutdown was not clean (exit ${exit.code}, ${cut} requests cut)`]),
  ];
  const details = [
    `A compliant keep-alive client (http.Agent) with ${settings.sigtermConnections} connections on \`GET ${target.path}\` (a deep offset page: slow enough to keep ` +
      `requests in flight), SIGTERM to the primary after ${settings.steadyMs / 2000} s. "In flight" = sent before the signal, not answered before it (client clock).`,
    '',
    `- In flight at the signal (client view): ${inFlight.length}; completed with 2xx: ${completed.length}; not completed: ${formatCounts(notCompleted)}`,
    `- Workers' own count of in-flight requests when their drain started: ${serverInflight} (${drains.length} workers); requests cut at the deadline: ${cut}`,
    `- Shutdown duration: ${shutdownMs} ms from the signal to the primary's exit (primary's own measure: ${complete ? `${Number(complete.durationMs)} ms` : 'n/a'}); ` +
      `exit code ${exit.code}${exit.signal ? `, signal ${exit.signal}` : ''}`,
    `- Requests sent after the signal: ${formatCounts(afterSignal)}. Once the drain starts, new connections fail at the TCP level: refused when ` +
      `the listener is gone (each client loop retries every 20 ms, hence the count), reset when the kernel had already queued the connection; ` +
      `none of them reached the application, which is what a load balancer retries elsewhere.`,
  ].join('\n');
  return {
    title: '3. SIGTERM under load',
    rows: [
      { measure: 'in-flight requests completed', value: `${completed.length}/${inFlight.length}`, goal: 'all', status: allCompleted ? 'ok' : 'FAILED' },
      { measure: 'shutdown duration', value: `${shutdownMs} ms (exit ${exit.code}, ${cut} cut)`, goal: 'exit 0, 0 cut', status: clean ? 'ok' : 'FAILED' },
    ],
    details,
    failures,
  };
}
