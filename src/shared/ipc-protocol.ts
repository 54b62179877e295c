/**
 * The one IPC protocol between the primary and its workers. Every message carries
 * `pulse: 1` so that other users of the cluster channel (prom-client, pm2) never
 * collide with ours.
 *
 * A worker's boot, as the messages tell it: `hello` (its message handler is installed),
 * `booted` (it has tried its dependencies; the report says what it reached), then the
 * primary answers `serve` when it admits the worker, and the worker says `ready` once it
 * listens. A worker is never in the cluster's connection rotation before `serve`.
 */
import type { MetricObjectWithValues, MetricValue } from 'prom-client';
import type { FixedWindowReply } from '../cache/fixed-window-ratelimiter.js';
import type { HealthAnswer, WorkerHealthReport } from './health-types.js';

export type MetricsSnapshot = MetricObjectWithValues<MetricValue<string>>[];

/** What the primary tells a worker at fork, in its environment (before there is a channel). */
export const WorkerEnv = {
  /** Its id when it is not a cluster worker (systemd socket activation). */
  id: 'PULSE_WORKER_ID',
  /** Listen on this inherited descriptor instead of PORT/HOST (systemd socket activation). */
  listenFd: 'PULSE_LISTEN_FD',
  /** Its share of the host's DATABASE_POOL_MAX (request pool; one more for health pings). */
  databasePool: 'PULSE_WORKER_DATABASE_POOL',
} as const;

/** Worker exit codes the primary understands. */
export const WorkerExit = {
  /** Drained every request (or never listened) and closed its pools. */
  clean: 0,
  /** Could not boot (its code failed to load, it cannot listen). Respawning will not help quickly. */
  startupFailed: 70,
  /** Drain deadline reached: remaining connections were cut, pools closed anyway. */
  drainTimedOut: 75,
} as const;

/**
 * One request to count in the primary's fixed window (the single-host store, without
 * REDIS_URL): the client's key, the window length and the limit, `peek` to read without
 * counting. The answer is the reply the Redis script gives (FixedWindowReply).
 */
export interface RateLimitHit {
  key: string;
  windowMs: number;
  max: number;
  peek: boolean;
}

export interface DrainSummary {
  inflightAtStart: number;
  cut: number;
  durationMs: number;
}

// Worker -> primary
export type WorkerMessage =
  | { pulse: 1; type: 'hello' }
  | { pulse: 1; type: 'booted'; report: WorkerHealthReport }
  | { pulse: 1; type: 'boot-failed'; error: string }
  | { pulse: 1; type: 'ready' }
  | { pulse: 1; type: 'health-report'; report: WorkerHealthReport }
  | { pulse: 1; type: 'health-request'; requestId: number }
  | { pulse: 1; type: 'rate-limit-request'; requestId: number; hit: RateLimitHit }
  | { pulse: 1; type: 'metrics-response'; requestId: number; metrics: MetricsSnapshot }
  | { pulse: 1; type: 'drain-started' }
  | { pulse: 1; type: 'drain-finished'; summary: DrainSummary; finalMetrics: MetricsSnapshot };

// Primary -> worker
export type PrimaryMessage =
  | { pulse: 1; type: 'serve' }
  | { pulse: 1; type: 'drain'; reason: string }
  | { pulse: 1; type: 'metrics-request'; requestId: number }
  | { pulse: 1; type: 'health-response'; requestId: number; answer: HealthAnswer }
  | { pulse: 1; type: 'rate-limit-response'; requestId: number; reply: FixedWindowReply };

type WithoutTag<M> = M extends { pulse: 1 } ? Omit<M, 'pulse'> : never;
export type WorkerMessageBody = WithoutTag<WorkerMessage>;
export type PrimaryMessageBody = WithoutTag<PrimaryMessage>;

function isTagged(value: unknown): value is { pulse: 1; type: string } {
  return typeof value === 'object' && value !== null && (value as { pulse?: unknown }).pulse === 1
    && typeof (value as { type?: unknown }).type === 'string';
}

const workerTypes = new Set<WorkerMessage['type']>([
  'hello', 'booted', 'boot-failed', 'ready', 'health-report', 'health-request', 'rate-limit-request', 'metrics-response', 'drain-started',
  'drain-finished',
]);
const primaryTypes = new Set<PrimaryMessage['type']>(['serve', 'drain', 'metrics-request', 'health-response', 'rate-limit-response']);

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
