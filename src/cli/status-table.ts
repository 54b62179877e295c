import type { StatusOutcome, WorkerStatus } from '../shared/control-protocol.js';
import { NOT_CONFIGURED, type HealthAnswer } from '../shared/health-types.js';

export function formatDuration(seconds: number): string {
  const s = Math.floor(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(s / 86_400)}d${String(Math.floor((s % 86_400) / 3600)).padStart(2, '0')}h`;
}

function formatBytes(bytes: number | null): string {
  if (bytes === null) return '-';
  return `${(bytes / (1024 * 1024)).toFixed(1)}MB`;
}

/** One word or two about a worker, worst problem first. */
function workerHealth(detail: WorkerStatus): string {
  if (detail.status === 'unresponsive') {
    return `unresponsive (no report for ${formatDuration((detail.last_report_age_ms ?? 0) / 1000)})`;
  }
  if (detail.status !== 'ready') return '-';
  const redisUp = detail.redis === 'connected' || detail.redis === NOT_CONFIGURED;
  const down = [detail.database === 'connected' ? '' : 'database', redisUp ? '' : 'redis'].filter(Boolean);
  return down.length ? `${down.join(' and ')} down` : 'ok';
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)));
  return rows.map((row) => row.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd()).join('\n');
}

/** "healthy: 2/2 workers ready, database connected, redis connected" */
export function describeHealth(body: HealthAnswer['body']): string {
  const redis = body.redis === NOT_CONFIGURED ? `redis ${NOT_CONFIGURED} (rate limits counted by the primary)` : `redis ${body.redis}`;
  return `${body.status}: ${body.workers.ready}/${body.workers.expected} workers ready, database ${body.database}, ${redis}`;
}

/** The human-readable `ctl status`: a summary line, then one row per worker. */
export function formatStatus(status: StatusOutcome): string {
  const activity = [status.rollingRestart ? 'rolling restart in progress' : '', status.shuttingDown ? 'shutting down' : ''].filter(Boolean);
  const summary =
    `pulse ${describeHealth(status.health.body)}; primary pid ${status.primaryPid}, up ${formatDuration(status.primaryUptimeS)}` +
    (activity.length ? ` (${activity.join(', ')})` : '');
  const rows = [
    ['ID', 'PID', 'GEN', 'STATE', 'UPTIME', 'RSS', 'INFLIGHT', 'HEALTH'],
    ...status.workers.map((d) => [
      String(d.id),
      String(d.pid),
      String(d.generation),
      d.status,
      formatDuration(d.uptime_s),
      formatBytes(d.rss_bytes),
      d.inflight === null ? '-' : String(d.inflight),
      workerHealth(d),
    ]),
  ];
  return `${summary}\n${table(rows)}`;
}
