/**
 * The health vocabulary shared by workers (which measure), the primary (which combines)
 * and the tools that read it (ctl, tests).
 */

/** What one worker measured about one dependency. */
export type DependencyStatus = 'connected' | 'disconnected';

/** A dependency as the service reports it: `unknown` while no serving worker has measured it. */
export type ServiceDependencyStatus = DependencyStatus | 'unknown';

/**
 * Redis is optional: without REDIS_URL the primary counts the rate limits and the entry
 * list cache is off. A dependency never configured is not down.
 */
export const NOT_CONFIGURED = 'not configured';
export type OptionalDependencyStatus = DependencyStatus | typeof NOT_CONFIGURED;

/** Each worker's Postgres and Redis pings are bounded by this, so a report is late by at most this much. */
export const HEALTH_PING_TIMEOUT_MS = 500;

/** A worker's heartbeat: sent every HEALTH_REPORT_INTERVAL_MS from boot on. */
export interface WorkerHealthReport {
  database: DependencyStatus;
  redis: OptionalDependencyStatus;
  eventLoopLagMs: number;
  inflight: number;
  rssBytes: number;
  uptimeS: number;
  requestsServed: number;
}

/**
 * A worker's place in its lifecycle, as the primary sees it: forked (process started),
 * booting (its code runs; it connects to its dependencies, then listens once the
 * primary admits it), ready (listening and serving), draining (on its way out).
 */
export type WorkerState = 'forked' | 'booting' | 'ready' | 'draining';

export interface HealthWorkerDetail {
  id: number;
  pid: number;
  generation: number;
  status: WorkerState | 'unresponsive';
  database: DependencyStatus | 'unknown';
  redis: OptionalDependencyStatus | 'unknown';
  uptime_s: number;
  event_loop_lag_ms: number | null;
  inflight: number | null;
  last_report_age_ms: number | null;
}

export interface HealthBody {
  status: 'healthy' | 'unhealthy' | 'draining';
  database: ServiceDependencyStatus;
  redis: ServiceDependencyStatus | typeof NOT_CONFIGURED;
  workers: { expected: number; ready: number };
  details: HealthWorkerDetail[];
}

export interface HealthAnswer {
  httpStatus: 200 | 503;
  body: HealthBody;
}
