import type { ManagedWorker } from './managed-worker.js';

export interface WatchdogSettings {
  heartbeatTimeoutMs: number;
  /** A ready worker heard from within this is responsive (it can vouch that the service is not frozen). */
  responsiveWithinMs: number;
}

export type Verdict =
  /** Its drain overran the kill deadline. */
  | { worker: ManagedWorker; action: 'kill'; reason: 'stop_timeout' }
  /** Not ready within the ready timeout. */
  | { worker: ManagedWorker; action: 'kill'; reason: 'startup_timeout' }
  /** Silent past the heartbeat timeout while another worker is responsive. */
  | { worker: ManagedWorker; action: 'kill'; reason: 'hung'; silentMs: number }
  /** Silent, and nobody is responsive: start its replacement first, kill it only once that serves. */
  | { worker: ManagedWorker; action: 'replace-first'; silentMs: number };

/**
 * Judges every worker against its deadlines, all on the monotonic clock: a draining worker
 * past its kill deadline, a booting one past its ready deadline, a ready one silent past the
 * heartbeat timeout. A silent worker is hung only if some other worker still talks; when
 * nobody does, the whole service may have been frozen, so it is only replaced first.
 * Deadlines the primary itself slept through were already moved (ManagedWorker.forgive).
 */
export function judgeWorkers(workers: readonly ManagedWorker[], now: number, settings: WatchdogSettings, stopping: boolean): Verdict[] {
  const verdicts: Verdict[] = [];
  const responsive = (w: ManagedWorker) => w.state === 'ready' && now - w.lastHeardAt <= settings.responsiveWithinMs;
  for (const worker of workers) {
    if (worker.state === 'draining') {
      if (!worker.forceKilled && worker.killDeadline !== undefined && now > worker.killDeadline) verdicts.push({ worker, action: 'kill', reason: 'stop_timeout' });
    } else if (stopping) {
      continue;
    } else if (worker.starting) {
      if (now > worker.bootDeadline) verdicts.push({ worker, action: 'kill', reason: 'startup_timeout' });
    } else if (worker.state === 'ready') {
      const silentMs = now - worker.lastHeardAt;
      if (silentMs <= settings.heartbeatTimeoutMs) continue;
      if (workers.some((peer) => peer !== worker && !peer.forceKilled && responsive(peer))) verdicts.push({ worker, action: 'kill', reason: 'hung', silentMs });
      else if (worker.replaceBecause !== 'hung') verdicts.push({ worker, action: 'replace-first', silentMs });
    }
  }
  return verdicts;
}
