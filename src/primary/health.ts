import {
  HEALTH_PING_TIMEOUT_MS,
  NOT_CONFIGURED,
  type HealthAnswer,
  type HealthWorkerDetail,
  type ServiceDependencyStatus,
  type WorkerState,
} from '../shared/health-types.js';
import type { ManagedWorker } from './managed-worker.js';

/** The part of a managed worker that health is computed from. */
export type HealthSource = Pick<ManagedWorker, 'id' | 'pid' | 'generation' | 'forkedAt' | 'lastReport' | 'lastHeardAt'> & {
  state: WorkerState | 'exited';
};

export interface HealthInputs {
  workers: Iterable<HealthSource>;
  expected: number;
  draining: boolean;
  /** False while the primary could not run the database migrations yet (Postgres was away at start). */
  schemaReady: boolean;
  /** A ready worker whose last report is older than this counts as unresponsive. */
  staleAfterMs: number;
  /** On the supervisor's monotonic clock, like every time a worker carries. */
  now: number;
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
  const report = worker.lastReport;
  const age = report === undefined ? null : Math.round(now - worker.lastHeardAt);
  const stale = worker.state === 'ready' && (age === null || age > staleAfter);
  return {
    id: worker.id,
    pid: worker.pid,
    generation: worker.generation,
    status: stale ? 'unresponsive' : worker.state === 'exited' ? 'draining' : worker.state,
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
 * are starting or draining (a rolling restart) neither help nor hurt. A dependency that
 * no serving worker has measured is `unknown`, never `disconnected` without evidence.
 * Redis is `not configured` when no serving worker uses it (no REDIS_URL): not an outage.
 */
export function computeHealth(inputs: HealthInputs): HealthAnswer {
  const details = [...inputs.workers].map((worker) => detailOf(worker, inputs.now, inputs.staleAfterMs));
  const serving = details.filter((d) => d.status === 'ready');
  const reachedByAll = (statuses: string[]): ServiceDependencyStatus => {
    if (statuses.length === 0) return 'unknown';
    return statuses.every((status) => status === 'connected') ? 'connected' : 'disconnected';
  };
  const reached = reachedByAll(serving.map((d) => d.database));
  const database = reached === 'connected' && !inputs.schemaReady ? 'disconnected' : reached;
  const redisUsers = serving.filter((d) => d.redis !== NOT_CONFIGURED);
  const redis = serving.length > 0 && redisUsers.length === 0 ? NOT_CONFIGURED : reachedByAll(redisUsers.map((d) => d.redis));
  const allUp = serving.length >= inputs.expected && database === 'connected' && (redis === 'connected' || redis === NOT_CONFIGURED);
  const status = inputs.draining ? 'draining' : allUp ? 'healthy' : 'unhealthy';
  return {
    httpStatus: status === 'healthy' ? 200 : 503,
    body: { status, database, redis, workers: { expected: inputs.expected, ready: serving.length }, details },
  };
}

/** Readiness ("send me traffic"): a responsive worker serves and no shutdown is under way. Shared dependencies do not count. */
export function isReady(answer: HealthAnswer): boolean {
  return answer.body.status !== 'draining' && answer.body.workers.ready > 0;
}
