import type { DependencyStatus, HealthAnswer, HealthWorkerDetail } from '../shared/ipc-protocol.js';
import type { ManagedWorker } from './supervisor.js';

export interface HealthInputs {
  workers: Iterable<ManagedWorker>;
  expected: number;
  draining: boolean;
  /** A ready worker whose last report is older than this counts as unresponsive. */
  staleAfterMs: number;
  now?: number;
}

function detailOf(worker: ManagedWorker, now: number, staleAfterMs: number): HealthWorkerDetail {
  const age = worker.lastReportAt === undefined ? null : now - worker.lastReportAt;
  const stale = worker.state === 'ready' && (age === null || age > staleAfterMs);
  const report = worker.lastReport;
  return {
    id: worker.id,
    pid: worker.pid,
    status: stale ? 'unresponsive' : worker.state,
    database: stale || !report ? 'unknown' : report.database,
    redis: stale || !report ? 'unknown' : report.redis,
    uptime_s: Math.round((now - worker.forkedAt) / 100) / 10,
    event_loop_lag_ms: report?.eventLoopLagMs ?? null,
    inflight: report?.inflight ?? null,
    rss_bytes: report?.rssBytes ?? null,
    last_report_age_ms: age,
  };
}

/**
 * The combined health: healthy only when every expected worker is ready and
 * responsive and every one of them reaches Postgres and Redis.
 */
export function computeHealth(inputs: HealthInputs): HealthAnswer {
  const now = inputs.now ?? Date.now();
  const details = [...inputs.workers].map((worker) => detailOf(worker, now, inputs.staleAfterMs));
  const serving = details.filter((d) => d.status === 'ready');
  const dependency = (key: 'database' | 'redis'): DependencyStatus =>
    serving.length > 0 && serving.every((d) => d[key] === 'connected') ? 'connected' : 'disconnected';
  const database = dependency('database');
  const redis = dependency('redis');
  const allUp = serving.length >= inputs.expected && database === 'connected' && redis === 'connected';
  const status = inputs.draining ? 'draining' : allUp ? 'healthy' : 'unhealthy';
  return {
    httpStatus: status === 'healthy' ? 200 : 503,
    body: { status, database, redis, workers: { expected: inputs.expected, ready: serving.length }, details },
  };
}
