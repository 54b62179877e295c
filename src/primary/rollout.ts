import type { ManagedWorker } from './managed-worker.js';

export interface RolloutResult {
  ok: boolean;
  replaced: number;
  total: number;
  durationMs: number;
  error?: string;
  /** A replacement failed because of its code or configuration (it exited while booting). */
  bootError?: boolean;
}

/**
 * One rolling restart: the generation it moves the workers to, how many old-generation
 * workers it set out to replace, and its progress lines. The supervisor's reconcile loop
 * does the replacing; this keeps the count and the promise `ctl reload` waits on.
 */
export class Rollout {
  readonly result: Promise<RolloutResult>;
  private resolve!: (result: RolloutResult) => void;

  constructor(
    readonly target: number,
    readonly startedAt: number,
    /** Old-generation workers when it started. */
    readonly total: number,
    private readonly onProgress: (line: string) => void,
  ) {
    this.result = new Promise((resolve) => (this.resolve = resolve));
  }

  isOutdated(worker: ManagedWorker): boolean {
    return worker.generation < this.target;
  }

  /** A replacement was forked; `stillOld` old-generation workers serve. */
  replacing(candidate: ManagedWorker, fresh: ManagedWorker, stillOld: number): void {
    this.onProgress(`replacing worker ${candidate.id} (${this.position(stillOld)}/${this.total}): starting worker ${fresh.id}`);
  }

  /** An old worker is drained because its replacement serves. */
  retiring(victim: ManagedWorker, stillOld: number): void {
    this.onProgress(`worker ${victim.id} retired: its replacement is ready (${this.position(stillOld)}/${this.total})`);
  }

  finish(ok: boolean, stillOld: number, now: number, error?: string, bootError = false): RolloutResult {
    const result: RolloutResult = {
      ok,
      replaced: ok ? this.total : Math.max(0, this.total - stillOld),
      total: this.total,
      durationMs: Math.round(now - this.startedAt),
      ...(error && { error }),
      ...(bootError && { bootError }),
    };
    this.resolve(result);
    return result;
  }

  private position(stillOld: number): number {
    return this.total - stillOld + 1;
  }
}
