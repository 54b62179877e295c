import type { WorkerHealthReport } from '../shared/health-types.js';

/**
 * Why a serving worker should be recycled (replaced through the rolling-restart path), if
 * at all: its memory is over MAX_WORKER_MEMORY_MB, or it served its (jittered) request limit.
 */
export function recyclingReason(
  report: WorkerHealthReport,
  maxWorkerMemoryMb: number | undefined,
  requestLimit: number | undefined,
): 'memory' | 'max_requests' | undefined {
  if (maxWorkerMemoryMb && report.rssBytes > maxWorkerMemoryMb * 1024 * 1024) return 'memory';
  if (requestLimit && report.requestsServed >= requestLimit) return 'max_requests';
  return undefined;
}
