/**
 * The one IPC protocol between the primary and its workers. Every message carries
 * `pulse: 1` so that other users of the cluster channel (prom-client, pm2) never
 * collide with ours.
 */
import type { MetricObjectWithValues, MetricValue } from 'prom-client';

export type DependencyStatus = 'connected' | 'disconnected';

export type MetricsSnapshot = MetricObjectWithValues<MetricValue<string>>[];

/** Worker exit codes the primary understands. */
export const WorkerExit = {
  /** Drained every request and closed its pools. */
  clean: 0,
  /** Could not start (bad environment, cannot bind). Respawning will not help quickly. */
  startupFailed: 70,
  /** Drain deadline reached: remaining connections were cut, pools closed anyway. */
  drainTimedOut: 75,
} as const;

/** Each worker's Postgres and Redis pings are bounded by this, so a report is late by at most this much. */
export const HEALTH_PING_TIMEOUT_MS = 500;

export interface WorkerHealthReport {
  database: DependencyStatus;
  redis: DependencyStatus;
  eventLoopLagMs: number;
  inflight: number;
  rssBytes: number;
  uptimeS: number;
  requestsServed: number;
}

export interface HealthWorkerDetail {
  id: number;
  pid: number;
  status: WorkerLifecycleState | 'unresponsive';
  database: DependencyStatus | 'unknown';
  redis: DependencyStatus | 'unknown';
  uptime_s: number;
  event_loop_lag_ms: number | null;
  inflight: number | null;
  last_report_age_ms: number | null;
}

export type WorkerLifecycleState = 'starting' | 'ready' | 'draining';

export interface HealthBody {
  status: 'healthy' | 'unhealthy' | 'draining';
  database: DependencyStatus;
  redis: DependencyStatus;
  workers: { expected: number; ready: number };
  details: HealthWorkerDetail[];
}

export interface HealthAnswer {
  httpStatus: 200 | 503;
  body: HealthBody;
}

export interface DrainSummary {
  inflightAtStart: number;
  cut: number;
  durationMs: number;
}

// Worker -> primary
export type WorkerMessage =
  | { pulse: 1; type: 'ready' }
  | { pulse: 1; type: 'health-report'; report: WorkerHealthReport }
  | { pulse: 1; type: 'health-request'; requestId: number }
  | { pulse: 1; type: 'metrics-response'; requestId: number; metrics: MetricsSnapshot }
  | { pulse: 1; type: 'drain-started'; reason: string; inflight: number }
  | { pulse: 1; type: 'drain-finished'; summary: DrainSummary; finalMetrics: MetricsSnapshot };

// Primary -> worker
export type PrimaryMessage =
  | { pulse: 1; type: 'drain'; reason: string }
  | { pulse: 1; type: 'metrics-request'; requestId: number }
  | { pulse: 1; type: 'health-response'; requestId: number; answer: HealthAnswer };

type WithoutTag<M> = M extends { pulse: 1 } ? Omit<M, 'pulse'> : never;
export type WorkerMessageBody = WithoutTag<WorkerMessage>;
export type PrimaryMessageBody = WithoutTag<PrimaryMessage>;

function isTagged(value: unknown): value is { pulse: 1; type: string } {
  return typeof value === 'object' && value !== null && (value as { pulse?: unknown }).pulse === 1
    && typeof (value as { type?: unknown }).type === 'string';
}

const workerTypes = new Set<WorkerMessage['type']>([
  'ready', 'health-report', 'health-request', 'metrics-response', 'drain-started', 'drain-finished',
]);
const primaryTypes = new Set<PrimaryMessage['type']>(['drain', 'metrics-request', 'health-response']);

export function isWorkerMessage(value: unknown): value is WorkerMessage {
  return isTagged(value) && workerTypes.has(value.type as WorkerMessage['type']);
}

export function isPrimaryMessage(value: unknown): value is PrimaryMessage {
  return isTagged(value) && primaryTypes.has(value.type as PrimaryMessage['type']);
}

export function workerMessage(body: WorkerMessageBody): WorkerMessage {
  return { pulse: 1, ...body } as WorkerMessage;
}

export function primaryMessage(body: PrimaryMessageBody): PrimaryMessage {
  return { pulse: 1, ...body } as PrimaryMessage;
}
