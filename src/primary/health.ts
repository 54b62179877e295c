import { HEALTH_PING_TIMEOUT_MS, type DependencyStatus, type HealthAnswer, type HealthWorkerDetail } from '../shared/ipc-protocol.js';
import type { ManagedWorker } from './supervisor.js';

/** The part of a managed worker that health is computed from. */
export type HealthSource = Pick<ManagedWorker, 'id' | 'pid' | 'state' | 'forkedAt' | 'lastReport' | 'lastReportAt'>;

export interface HealthInputs {
  workers: Iterable<HealthSource>;
  expected: number;
  draining: boolean;
  /** A ready worker whose last report is older than this counts as unresponsive. */
  staleAfterMs: number;
  now?: number;
}

/**
 * How old a ready worker's last report may be before it counts as unresponsive. A
 * report is due every interval, plus up to one ping timeout spent measuring it; one
 * more interval (at least a second) of slack keeps a short GC pause or a busy core
 * from flapping /health, while a stopped worker is still caught within ~2-3 s.
 */
export function staleAfterMs(reportIntervalMs: number): number {
  return reportIntervalMs + HEALTH_PING_TIMEOUT_MS + Math.max(reportIntervalMs, 1000);
}

function detailOf(worker: HealthSource, now: number, staleAfter: number): HealthWorkerDetail {
  const age = worker.lastReportAt === undefined ? null : now - worker.lastReportAt;
  const stale = worker.state === 'ready' && (age === null || age > staleAfter);
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
    last_report_age_ms: age,
  };
}

/**
 * The combined health: healthy only when at least the expected number of workers are
 * ready and responsive and every one of them reaches Postgres and Redis. Workers that
 * are starting or draining (a rolling restart) neither help nor hurt.
 */
export function computeHealth(inputs: HealthInputs): HealthAnswer {
  const now = inputs.now ?? Date.now();
  const details = [...inputs.workers].map((worker) => detailOf(worker, now, inputs.staleAfterMs));
  const serving = details.filter((d) => d.status === 'ready');
  // With no responsive worker nobody can reach the dependency on the service's behalf.
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

/** Readiness: at least one responsive worker can take traffic and no shutdown is under way. */
export function isReady(answer: HealthAnswer): boolean {
  return answer.body.status !== 'draining' && answer.body.workers.ready > 0;
}
