/** Capped exponential backoff for respawning one worker slot. */
export class RespawnBackoff {
  private failures = 0;

  constructor(
    private readonly initialMs = 100,
    private readonly maxMs = 30_000,
    /** A worker up this long is considered stable: the next crash starts from initialMs again. */
    private readonly stableAfterMs = 30_000,
  ) {}

  /** Delay before the next respawn, given how long the worker that just died was up. */
  next(uptimeMs: number): number {
    if (uptimeMs >= this.stableAfterMs) this.failures = 0;
    const delay = Math.min(this.initialMs * 2 ** this.failures, this.maxMs);
    this.failures += 1;
    return delay;
  }

  get consecutiveFailures(): number {
    return this.failures;
  }
}
