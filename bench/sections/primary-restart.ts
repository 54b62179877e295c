import type { PulseProcess, StartOptions } from '../../test/support/pulse-process.js';
import { RecordedHttpLoad } from '../../test/support/recorded-http-load.js';
import { formatCounts, increment } from '../../test/support/stats.js';
import { sleep } from '../../test/support/wait.js';
import type { SectionResult } from '../lib/report.js';
import type { BenchSettings } from '../lib/settings.js';

interface Outcome {
  label: string;
  requests: number;
  refused: number;
  failed: Map<string, number>;
  slowestMs: number;
  gapMs: number;
}

/**
 * Restarts a primary under load and counts what clients saw: keep-alive clients and a new
 * connection per request, both through the restart. `restart` returns once the new primary
 * is ready and says how long the old one took to be replaced.
 */
async function measure(label: string, pulse: PulseProcess, restart: () => Promise<void>, settings: BenchSettings): Promise<Outcome> {
  const loads = [
    new RecordedHttpLoad({ port: pulse.port, path: '/ping', concurrency: settings.compliantConnections, timeoutMs: 30_000 }),
    new RecordedHttpLoad({ port: pulse.port, path: '/ping', concurrency: 4, headers: { Connection: 'close' }, timeoutMs: 30_000 }),
  ];
  await sleep(settings.steadyMs / 2);
  const began = Date.now();
  await restart();
  const gapMs = Date.now() - began;
  await sleep(settings.afterRestartMs);
  await Promise.all(loads.map((load) => load.stop()));
  const records = loads.flatMap((load) => load.records);
  const failed = new Map<string, number>();
  for (const r of records) {
    if (r.error !== undefined) increment(failed, r.error);
    else if (r.status === undefined || r.status < 200 || r.status >= 300) increment(failed, String(r.status));
  }
  return {
    label,
    requests: records.length,
    refused: failed.get('ECONNREFUSED') ?? 0,
    failed,
    slowestMs: Math.max(...records.filter((r) => r.end !== Infinity).map((r) => r.end - r.start)),
    gapMs,
  };
}

const failedCount = (o: Outcome) => [...o.failed.values()].reduce((a, b) => a + b, 0);

/**
 * 7. A restart of the primary itself (new Node version, new environment), under load: the
 * plain way (stop, start: the port is closed meanwhile) against systemd socket activation
 * (pulse.socket keeps the socket; connections wait in the backlog).
 */
export async function benchPrimaryRestart(
  start: (options: StartOptions) => Promise<PulseProcess>,
  startSocketActivated: () => Promise<PulseProcess>,
  settings: BenchSettings,
  log: (line: string) => void,
): Promise<SectionResult> {
  const plain = await start({ workers: settings.workers });
  let restarted: PulseProcess | undefined;
  const plainOutcome = await measure('plain restart (SIGTERM, then a new primary on the same port)', plain, async () => {
    plain.signal('SIGTERM');
    await plain.waitExit(30_000);
    restarted = await start({ workers: settings.workers, ports: { port: plain.port, adminPort: plain.adminPort }, env: plain.env });
  }, settings);
  await restarted?.stop();

  const activated = await startSocketActivated();
  const activatedOutcome = await measure('socket-activated restart (pulse.socket holds the socket)', activated, async () => {
    const from = activated.logs.length;
    activated.signal('SIGUSR2');
    await activated.waitForLog((l) => l.msg === 'all workers ready', 60_000, from);
  }, settings);
  await activated.stop();

  for (const o of [plainOutcome, activatedOutcome]) {
    log(`  ${o.label}: ${o.requests} requests, ${o.refused} refused, ${failedCount(o)} failed, slowest ${o.slowestMs} ms`);
  }
  const clean = failedCount(activatedOutcome) === 0;
  return {
    title: '7. primary restart under load',
    rows: [
      { measure: 'plain restart: refused / failed', value: `${plainOutcome.refused} / ${failedCount(plainOutcome)}` },
      {
        measure: 'socket-activated restart: refused / failed',
        value: `${activatedOutcome.refused} / ${failedCount(activatedOutcome)}`,
        goal: '0 / 0',
        status: clean ? 'ok' : 'FAILED',
      },
    ],
    details: [
      `${settings.workers} workers; a compliant keep-alive client (${settings.compliantConnections} connections) and 4 loops opening a new ` +
        'connection per request, all on `GET /ping`, through a restart of the primary. "Failed" counts every request that got no 2xx answer.',
      '',
      ...[plainOutcome, activatedOutcome].map(
        (o) => `- ${o.label}: ${o.requests} requests; failed: ${formatCounts(o.failed)}; slowest answered request ${o.slowestMs} ms; restart took ${o.gapMs} ms`,
      ),
      '',
      'With socket activation the socket is systemd\'s: no connection is refused, the ones that arrive while no primary runs wait in the ' +
        'backlog (the slowest request above) and are served by the new workers.',
    ].join('\n'),
    failures: clean ? [] : [`primary restart: ${failedCount(activatedOutcome)} requests failed with socket activation (${formatCounts(activatedOutcome.failed)})`],
  };
}
