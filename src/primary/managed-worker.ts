import type { WorkerHealthReport, WorkerState } from '../shared/health-types.js';
import type { DrainSummary, MetricsSnapshot } from '../shared/ipc-protocol.js';
import type { WorkerProcess } from './worker-cluster.js';

/**
 * Why a worker left: one vocabulary for the `worker exited` log line and the metrics.
 * Restart reasons are those after which another worker takes its place.
 */
export type RestartReason = 'crash' | 'boot_error' | 'startup_timeout' | 'hung' | 'rolling' | 'memory' | 'max_requests';
export type ExitReason = RestartReason | 'scale_down' | 'shutdown';
export const RESTART_REASONS: readonly RestartReason[] = ['crash', 'boot_error', 'startup_timeout', 'hung', 'rolling', 'memory', 'max_requests'];

/** Why a serving worker should be replaced, new worker first. */
export type ReplacementReason = 'hung' | 'memory' | 'max_requests';

/** Every legal move; anything else is a bug and throws. */
const NEXT_STATES: Record<WorkerState | 'exited', readonly (WorkerState | 'exited')[]> = {
  forked: ['booting', 'draining', 'exited'],
  booting: ['ready', 'draining', 'exited'],
  ready: ['draining', 'exited'],
  draining: ['exited'],
  exited: [],
};

export class IllegalTransitionError extends Error {}

/**
 * One worker process and everything the supervisor knows about it. Times are on the
 * monotonic clock. The state only moves along NEXT_STATES.
 */
export class ManagedWorker {
  private current: WorkerState | 'exited' = 'forked';
  /** The first health report, sent when it finished trying its dependencies. */
  bootReport?: WorkerHealthReport;
  /** When the primary told it to listen. */
  admittedAt?: number;
  /** Set while admission waits for a dependency the serving workers reach. */
  waitingFor?: string[];
  bootError?: string;
  readyAt?: number;
  lastReport?: WorkerHealthReport;
  /** Last message of any kind: a worker that stops talking is hung. */
  lastHeardAt: number;
  bootDeadline: number;
  killDeadline?: number;
  /** Why the supervisor asked it to go or killed it; undefined for an exit on its own. */
  leaveReason?: ExitReason;
  forceKilled = false;
  /** It asked to be drained by itself (a direct signal), not by the supervisor. */
  selfDrained = false;
  replaceBecause?: ReplacementReason;
  drainSummary?: DrainSummary;
  finalMetrics?: MetricsSnapshot;
  exitCode?: number | null;
  exitSignal?: string | null;

  constructor(
    readonly process: WorkerProcess,
    readonly generation: number,
    readonly forkedAt: number,
    readyTimeoutMs: number,
    /** Forked as extra capacity to replace another worker (rollout, recycling, hung). */
    readonly surge: boolean,
    readonly requestLimit: number | undefined,
  ) {
    this.lastHeardAt = forkedAt;
    this.bootDeadline = forkedAt + readyTimeoutMs;
  }

  get id(): number {
    return this.process.id;
  }

  get pid(): number {
    return this.process.pid;
  }

  get state(): WorkerState | 'exited' {
    return this.current;
  }

  get admitted(): boolean {
    return this.admittedAt !== undefined;
  }

  /** Not yet serving and still able to: forked or booting. */
  get starting(): boolean {
    return this.current === 'forked' || this.current === 'booting';
  }

  can(next: WorkerState | 'exited'): boolean {
    return NEXT_STATES[this.current].includes(next);
  }

  moveTo(next: WorkerState | 'exited'): void {
    if (!this.can(next)) throw new IllegalTransitionError(`worker ${this.id}: illegal transition ${this.current} -> ${next}`);
    this.current = next;
  }

  /** Why it left, once it has exited: what the supervisor asked, or what it did on its own. */
  exitReason(wasStarting: boolean): ExitReason {
    if (this.leaveReason) return this.leaveReason;
    if (this.selfDrained && this.exitCode === 0) return 'shutdown';
    return wasStarting ? 'boot_error' : 'crash';
  }

  /** A pause the supervisor itself slept through is nobody's fault: push every deadline by it. */
  forgive(lostMs: number, now: number): void {
    this.lastHeardAt = Math.min(now, this.lastHeardAt + lostMs);
    this.bootDeadline += lostMs;
    if (this.killDeadline !== undefined) this.killDeadline += lostMs;
  }
}
