import type { LogLine, PulseProcess } from '../../test/support/pulse-process.js';
import { sleep, waitFor } from '../../test/support/wait.js';
import { RecordedHttpLoad } from '../../test/support/recorded-http-load.js';
import type { SectionResult } from '../lib/report.js';
import type { BenchSettings } from '../lib/settings.js';
import { formatCounts, increment, sum } from '../../test/support/stats.js';
import type { LoadTarget } from './rolling-restart.js';

const HEALTH_POLL_MS = 10;
const logTime = (line: LogLine | undefined) => (line ? Date.parse(String(line.time)) : Number.NaN);
const since = (from: number, to: number) => (Number.isFinite(to) ? `${to - from} ms` : 'n/a');

/** kill -9 one worker under light load; how long until the supervisor has a ready replacement. */
export async function benchWorkerCrash(pulse: PulseProcess, target: LoadTarget, settings: BenchSettings, log: (line: string) => void): Promise<SectionResult> {
  const load = new RecordedHttpLoad({
    port: target.port,
    path: target.path,
    concurrency: settings.crashLoadConnections,
    headers: target.headers,
    pauseMs: settings.crashLoadPauseMs,
  });
  const logFrom = pulse.logs.length;
  let killedAt = 0;
  let healthyAt = 0;
  let victim = 0;
  let replacement = 0;
  try {
    await sleep(1500);
    const before = await pulse.workerPids();
    victim = before[0]!;
    killedAt = Date.now();
    process.kill(victim, 'SIGKILL');
    await waitFor(
      async () => {
        const res = await fetch(`${pulse.adminUrl}/health`);
        const body = (await res.json()) as { workers: { expected: number; ready: number }; details: { pid: number; status: string }[] };
        const ready = body.details.filter((d) => d.status === 'ready').map((d) => d.pid);
        const fresh = ready.find((pid) => !before.includes(pid));
        if (res.status !== 200 || body.workers.ready < body.workers.expected || ready.includes(victim) || fresh === undefined) return false;
        replacement = fresh;
        return true;
      },
      'a ready replacement of the killed worker',
      30_000,
      HEALTH_POLL_MS,
    );
    healthyAt = Date.now();
    await sleep(1000);
  } finally {
    await load.stop();
  }

  const logs = pulse.logs.slice(logFrom);
  const exitLine = logs.find((l) => l.msg === 'worker exited' && l.workerPid === victim);
  const forkLine = logs.find((l) => l.msg === 'worker forked' && l.workerPid === replacement);
  const readyLine = logs.find((l) => l.msg === 'worker ready' && l.workerPid === replacement);
  const respawn = logs.find((l) => l.msg === 'respawn scheduled');
  const whole = load.window();
  const failed = sum(whole.non2xx.values()) + whole.unexplainedErrors;
  const inFlight = load.inFlightAt(killedAt);
  const inFlightOutcomes = new Map<string, number>();
  for (const r of inFlight) increment(inFlightOutcomes, r.error ?? String(r.status ?? 'never answered'));
  const recoveryMs = healthyAt - killedAt;
  log(`  kill -9 -> ready replacement: ${recoveryMs} ms (logs: ${since(killedAt, logTime(readyLine))}); failed requests ${failed}`);

  const details = [
    `Light load: a compliant keep-alive client with ${settings.crashLoadConnections} connections, each pausing ${settings.crashLoadPauseMs} ms between requests ` +
      `(${whole.requestsPerSecond.toFixed(0)} req/s) on \`GET ${target.path}\`. One worker (pid ${victim}) got SIGKILL; /health was polled every ${HEALTH_POLL_MS} ms.`,
    '',
    `- Primary saw the exit: ${since(killedAt, logTime(exitLine))} after the kill; respawn delay (backoff): ${respawn ? `${Number(respawn.delayMs)} ms` : 'n/a'}; ` +
      `replacement (pid ${replacement}) forked at ${since(killedAt, logTime(forkLine))}, ready at ${since(killedAt, logTime(readyLine))} ` +
      `(its own startup: ${readyLine ? `${Number(readyLine.startupMs)} ms` : 'n/a'}; log timestamps have millisecond resolution)`,
    `- /health back to 200 with every worker ready (the replacement included): ${recoveryMs} ms after the kill`,
    `- Requests: ${whole.ok} answered 2xx, non-2xx ${formatCounts(whole.non2xx)}, errors ${formatCounts(whole.errors)}; ` +
      `in flight at the kill (client view, on either worker): ${inFlight.length} (${formatCounts(inFlightOutcomes)}). ` +
      `A request in flight on the killed worker, or written on one of its kept-alive sockets before the client saw the socket close, ` +
      `dies with it (a reset: "reused socket"); nothing can answer it. The other worker serves everything meanwhile.`,
  ].join('\n');
  return {
    title: '5. Worker crash',
    rows: [
      { measure: 'kill -9 -> replacement ready (/health 200)', value: `${recoveryMs} ms` },
      { measure: 'requests failed under light load', value: `${failed} (${formatCounts(whole.errors)})` },
    ],
    details,
    failures: [],
  };
}
