/**
 * The timeline of a worker asked to stop, shared by the worker (which keeps to it) and the
 * primary (which SIGKILLs only after it): the drain (SHUTDOWN_TIMEOUT_MS), then closing the
 * pools, then the final report and the exit. Each stage has its own budget, so a worker whose
 * drain overran still closes its pools, reports what it cut and exits before the kill.
 */

/** How long a worker may take to close its Postgres and Redis pools after its drain. */
export const POOL_CLOSE_TIMEOUT_MS = 1500;

/** After the pools: collecting the final metrics, sending them over IPC and exiting. */
export const WORKER_EXIT_MARGIN_MS = 1500;

/** When the primary SIGKILLs a worker that was asked to drain and is still alive. */
export function workerKillAfterMs(shutdownTimeoutMs: number): number {
  return shutdownTimeoutMs + POOL_CLOSE_TIMEOUT_MS + WORKER_EXIT_MARGIN_MS;
}
