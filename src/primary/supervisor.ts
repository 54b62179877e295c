import { EventEmitter } from 'node:events';
import type { WorkerHealthReport } from '../shared/health-types.js';
import { WorkerExit, type PrimaryMessageBody, type WorkerMessage } from '../shared/ipc-protocol.js';
import type { Logger } from '../shared/logger.js';
import type { RespawnBackoff } from './backoff.js';
import type { Clock } from './clock.js';
import { ManagedWorker, RESTART_REASONS, type ExitReason, type RestartReason } from './managed-worker.js';
import type { SupervisorMetrics } from './supervisor-metrics.js';
import { recyclingReason } from './recycling.js';
import { Rollout, type RolloutResult } from './rollout.js';
import { judgeWorkers, type WatchdogSettings } from './watchdog.js';
import type { WorkerCluster } from './worker-cluster.js';

export type { RolloutResult } from './rollout.js';

/** How often the primary's loop runs when nothing else wakes it. */
export const TICK_MS = 100;
/** A loop run this much later than the tick was due means the primary itself did not run (VM pause, freeze). */
const PAUSE_TOLERANCE_MS = 1000;
/** After a failed recycling, the old worker is kept this long before the next attempt. */
const RECYCLE_RETRY_AFTER_MS = 30_000;

export interface SupervisorSettings extends WatchdogSettings {
  readyTimeoutMs: number;
  shutdownTimeoutMs: number;
  /** When a worker asked to drain is SIGKILLed. */
  killAfterMs: number;
  maxWorkerMemoryMb: number | undefined;
  maxRequestsPerWorker: number | undefined;
  backoff: RespawnBackoff;
  /** Variables a new worker gets from the primary, given how many workers are wanted now. */
  workerEnv?: (desired: number) => Record<string, string>;
}

export interface ScaleResult {
  workers: number;
  ready: number;
}

export interface StopReport {
  clean: boolean;
  durationMs: number;
  problems: string[];
}

/** The supervisor is already changing its set of workers; the caller may retry later. */
export class SupervisorBusyError extends Error {}

export class RolloutInProgressError extends SupervisorBusyError {
  constructor() {
    super('a rolling restart is already in progress; wait for it to finish');
  }
}

export class ScalingInProgressError extends SupervisorBusyError {
  constructor() {
    super('a scaling operation is in progress; wait for it to finish');
  }
}

export class ShutdownInProgressError extends Error {
  constructor(message = 'pulse is shutting down') {
    super(message);
  }
}

export interface SupervisorEvents {
  'worker-message': [worker: ManagedWorker, message: WorkerMessage];
  'worker-exit': [worker: ManagedWorker];
  'all-ready': [];
  /** A worker cannot boot and none ever has: nothing will serve (gunicorn's WORKER_BOOT_ERROR). */
  halt: [exitCode: number, reason: string];
}

interface Scaling {
  to: number;
  bootFailures: number;
  resolve: (result: ScaleResult) => void;
}

interface Stopping {
  startedAt: number;
  finished?: boolean;
  problems: string[];
  resolve: (report: StopReport) => void;
  promise: Promise<StopReport>;
}

function describeExit(code: number | null, signal: string | null): string {
  return signal ? `signal ${signal}` : `code ${code}`;
}

/**
 * Keeps `desired` workers serving, as one reconcile loop (gunicorn's arbiter, puma's
 * check_workers): events and commands only change what is wanted (the desired count, the
 * generation a rolling restart moves to, a worker marked for replacement); each pass of
 * `reconcile()` compares that with what runs and takes the safe steps: admit booted
 * workers, kill hung ones, retire surplus ones, fork missing ones, and start at most one
 * replacement at a time, new worker first.
 */
export class Supervisor extends EventEmitter<SupervisorEvents> {
  private readonly all = new Map<number, ManagedWorker>();
  private desired = 0;
  /** What /health expects: the desired count, except while added capacity is still booting. */
  private healthFloor = 0;
  private generation = 1;
  private nextGeneration = 2;
  private readonly generationEnv = new Map<number, Record<string, string>>();
  private rollout: Rollout | undefined;
  private scaling: Scaling | undefined;
  private stopping: Stopping | undefined;
  /** A shutdown is coming (the deregistration delay runs): no new rollout or scaling. */
  private stopAnnounced = false;
  private halted = false;
  private everReady = false;
  private allReadyAnnounced = false;
  private respawnNotBefore = 0;
  private recycleNotBefore = 0;
  /** When the loop last ran: ticks keep the gap near TICK_MS unless the primary stood still. */
  private lastRunAt: number;
  private reconciling = false;
  private reconcileAgain = false;

  constructor(
    private readonly settings: SupervisorSettings,
    private readonly cluster: WorkerCluster,
    private readonly clock: Clock,
    private readonly log: Logger,
    private readonly metrics: SupervisorMetrics,
  ) {
    super();
    this.lastRunAt = clock.now();
    cluster.on('message', (id, message) => this.onMessage(id, message));
    cluster.on('exit', (id, code, signal) => this.onExit(id, code, signal));
    cluster.on('stranded', (outcome) => {
      this.metrics.strandedConnections.inc({ outcome });
      if (outcome === 'closed' && this.stopping) this.stopping.problems.push('a connection left by an exited worker was closed without an answer');
    });
  }

  // ---- what runs -------------------------------------------------------------------

  /** Every worker that has not exited yet. */
  get workers(): ManagedWorker[] {
    return [...this.all.values()];
  }

  worker(id: number): ManagedWorker | undefined {
    return this.all.get(id);
  }

  get expected(): number {
    return this.healthFloor;
  }

  get desiredWorkers(): number {
    return this.desired;
  }

  get isRolling(): boolean {
    return this.rollout !== undefined;
  }

  get isStopping(): boolean {
    return this.stopAnnounced || this.stopping !== undefined;
  }

  serving(): ManagedWorker[] {
    return this.workers.filter((w) => w.state === 'ready');
  }

  send(worker: ManagedWorker, body: PrimaryMessageBody): void {
    worker.process.send(body);
  }

  // ---- commands: each changes what is wanted, then reconciles ------------------------

  start(desired: number): void {
    this.setDesired(desired);
    this.healthFloor = desired;
    this.reconcile();
  }

  /** The periodic tick: a loop run when nothing else wakes the supervisor. */
  tick(): void {
    this.reconcile();
  }

  /** A rolling restart: every worker of an older generation is replaced, one at a time, new first. */
  startRollout(onProgress: (line: string) => void = () => undefined, env?: Record<string, string>): Promise<RolloutResult> {
    if (this.isStopping) throw new ShutdownInProgressError();
    if (this.rollout) throw new RolloutInProgressError();
    const target = this.nextGeneration++;
    if (env) this.generationEnv.set(target, env);
    const total = this.workers.filter((w) => w.state !== 'draining').length;
    const rollout = new Rollout(target, this.clock.now(), total, onProgress);
    this.rollout = rollout;
    this.metrics.rollingRestartInProgress.set(1);
    this.log.info({ workers: total, generation: target }, 'rolling restart started');
    this.reconcile();
    return rollout.result;
  }

  /** `ctl scale`: resolves once the new count serves (or the new workers failed to boot). */
  scaleTo(count: number): Promise<ScaleResult> {
    if (this.isStopping) throw new ShutdownInProgressError();
    if (this.rollout) throw new RolloutInProgressError();
    if (this.scaling) throw new ScalingInProgressError();
    if (!Number.isInteger(count) || count < 1) throw new Error('worker count must be a whole number of at least 1');
    const result = new Promise<ScaleResult>((resolve) => {
      this.scaling = { to: count, bootFailures: 0, resolve };
    });
    this.setDesired(count);
    this.reconcile();
    return result;
  }

  /** SIGTTIN/SIGTTOU: one more or one fewer, never below one; applied at once, whatever else runs. */
  scaleBy(delta: number): void {
    if (this.isStopping) return;
    this.setDesired(Math.max(1, this.desired + delta));
    this.reconcile();
  }

  /**
   * A shutdown is coming but the workers keep serving for now (the deregistration delay):
   * a rolling restart in progress stops, and new ones and scaling are refused.
   */
  announceStop(): void {
    this.stopAnnounced = true;
    if (this.rollout) this.finishRollout(false, 'shutdown started during the rolling restart');
  }

  /** Drains every worker; resolves once all have exited. Clean means nothing was cut or killed. */
  stop(): Promise<StopReport> {
    if (this.stopping) return this.stopping.promise;
    let resolve!: (report: StopReport) => void;
    const promise = new Promise<StopReport>((r) => (resolve = r));
    this.stopping = { startedAt: this.clock.now(), problems: [], resolve, promise };
    this.cluster.stopping();
    if (this.rollout) this.finishRollout(false, 'shutdown started during the rolling restart');
    this.scaling?.resolve({ workers: this.desired, ready: this.serving().length });
    this.scaling = undefined;
    this.reconcile();
    return promise;
  }

  /** Second signal: no more waiting. */
  killAll(): void {
    for (const worker of this.all.values()) worker.process.kill('SIGKILL');
  }

  private setDesired(count: number): void {
    if (count !== this.desired && this.desired > 0) this.log.info({ from: this.desired, to: count }, 'scaling workers');
    this.desired = count;
    this.healthFloor = Math.min(this.healthFloor, count);
    this.metrics.workersExpected.set(count);
  }

  // ---- events from the workers -------------------------------------------------------

  private onMessage(id: number, message: WorkerMessage): void {
    const worker = this.all.get(id);
    if (!worker) return;
    const now = this.clock.now();
    worker.lastHeardAt = now;
    switch (message.type) {
      case 'hello':
        if (worker.state === 'forked') worker.moveTo('booting');
        // Asked to stop before it could hear us: now it can.
        else if (worker.state === 'draining') this.send(worker, { type: 'drain', reason: worker.leaveReason ?? 'shutdown' });
        break;
      case 'booted':
        worker.bootReport = message.report;
        this.noteReport(worker, message.report);
        break;
      case 'boot-failed':
        worker.bootError = message.error;
        return;
      case 'ready':
        if (worker.state !== 'booting' || !worker.admitted) return; // told to stop meanwhile: it drains by itself
        this.becameReady(worker, now);
        break;
      case 'health-report':
        this.noteReport(worker, message.report);
        break;
      case 'drain-started':
        if (worker.state !== 'draining') {
          worker.selfDrained = true;
          this.markLeaving(worker, now);
        }
        break;
      case 'drain-finished':
        worker.drainSummary = message.summary;
        worker.finalMetrics = message.finalMetrics;
        this.metrics.lastShutdownSeconds.set(message.summary.durationMs / 1000);
        return;
      default:
        this.emit('worker-message', worker, message);
        return;
    }
    this.reconcile();
  }

  private noteReport(worker: ManagedWorker, report: WorkerHealthReport): void {
    worker.lastReport = report;
    if (worker.replaceBecause === 'hung') {
      worker.replaceBecause = undefined;
      this.log.info({ worker: worker.id, workerPid: worker.pid }, 'silent worker is responsive again; it is kept');
    }
    if (worker.state === 'ready') this.checkRecycling(worker, report);
  }

  private becameReady(worker: ManagedWorker, now: number): void {
    worker.moveTo('ready');
    worker.readyAt = now;
    this.everReady = true;
    this.log.info({ worker: worker.id, workerPid: worker.pid, generation: worker.generation, startupMs: Math.round(now - worker.forkedAt) }, 'worker ready');
    this.cluster.workerReady(worker.id);
    this.healthFloor = Math.max(this.healthFloor, Math.min(this.desired, this.serving().length));
  }

  private onExit(id: number, code: number | null, signal: string | null): void {
    const worker = this.all.get(id);
    if (!worker) return;
    const now = this.clock.now();
    const wasStarting = worker.starting || (worker.state === 'draining' && worker.readyAt === undefined);
    const wasAdmitted = worker.admitted;
    worker.moveTo('exited');
    worker.exitCode = code;
    worker.exitSignal = signal;
    this.all.delete(id);
    const reason = worker.exitReason(wasStarting);
    const uptimeMs = Math.round(now - worker.forkedAt);
    const planned = worker.leaveReason !== undefined && !worker.forceKilled && code === WorkerExit.clean;
    (planned ? this.log.info : this.log.warn).call(
      this.log,
      { worker: id, workerPid: worker.pid, generation: worker.generation, code, signal, uptimeMs, reason, ...(worker.bootError && { bootError: worker.bootError }) },
      'worker exited',
    );
    this.emit('worker-exit', worker);
    if (this.stopping) {
      if (wasAdmitted) this.recordStopOutcome(worker, code, signal);
      this.reconcile();
      return;
    }
    if ((RESTART_REASONS as readonly string[]).includes(reason)) this.metrics.workerRestarts.inc({ reason: reason as RestartReason });
    if (this.scaling && !worker.surge && (reason === 'boot_error' || reason === 'startup_timeout')) this.scaling.bootFailures += 1;

    if (worker.surge && wasStarting && reason !== 'scale_down') {
      this.replacementFailed(worker, reason, code, signal, uptimeMs);
    } else if (reason === 'crash' || reason === 'boot_error' || reason === 'startup_timeout' || reason === 'hung') {
      if (reason === 'boot_error' && !this.everReady && code !== null && code !== WorkerExit.clean) {
        this.halt(code === 78 ? 78 : WorkerExit.startupFailed, `worker ${id} failed to boot (${describeExit(code, signal)})${worker.bootError ? `: ${worker.bootError}` : ''}`);
        return;
      }
      this.scheduleRespawn(reason, uptimeMs, now);
    }
    this.reconcile();
  }

  private scheduleRespawn(reason: RestartReason, uptimeMs: number, now: number): void {
    const delayMs = this.settings.backoff.next(uptimeMs);
    this.respawnNotBefore = Math.max(this.respawnNotBefore, now + delayMs);
    this.log.warn({ reason, delayMs, consecutiveFailures: this.settings.backoff.consecutiveFailures }, 'respawn scheduled');
  }

  /** A worker started to replace another never became ready: the one it was to replace stays. */
  private replacementFailed(worker: ManagedWorker, reason: ExitReason, code: number | null, signal: string | null, uptimeMs: number): void {
    const bootError = reason === 'boot_error';
    let why: string;
    if (reason === 'startup_timeout') {
      why = `new worker ${worker.id} was not ready within ${this.settings.readyTimeoutMs} ms`;
      if (worker.waitingFor?.length) why += ` (it cannot reach ${worker.waitingFor.join(' and ')}, which the serving workers reach)`;
    } else {
      why = `new worker ${worker.id} exited before it was ready (${describeExit(code, signal)})${worker.bootError ? `: ${worker.bootError}` : ''}`;
    }
    if (this.rollout && worker.generation === this.rollout.target) {
      this.finishRollout(false, why, bootError);
    } else if (this.workers.some((w) => w.replaceBecause === 'memory' || w.replaceBecause === 'max_requests')) {
      for (const w of this.all.values()) if (w.replaceBecause === 'memory' || w.replaceBecause === 'max_requests') w.replaceBecause = undefined;
      this.recycleNotBefore = this.clock.now() + RECYCLE_RETRY_AFTER_MS;
      this.log.error({ err: { message: why } }, 'recycling failed; old worker kept');
    } else {
      this.scheduleRespawn(reason as RestartReason, uptimeMs, this.clock.now());
    }
  }

  private halt(exitCode: number, reason: string): void {
    this.halted = true;
    this.emit('halt', exitCode, reason);
  }

  private recordStopOutcome(worker: ManagedWorker, code: number | null, signal: string | null): void {
    const problems = this.stopping!.problems;
    const name = `worker ${worker.id} (pid ${worker.pid})`;
    if (worker.forceKilled) problems.push(`${name} was killed after ${this.settings.killAfterMs} ms`);
    else if (code === WorkerExit.drainTimedOut) {
      problems.push(`${name} cut ${worker.drainSummary?.cut ?? 'some'} request(s) still in flight after ${this.settings.shutdownTimeoutMs} ms`);
    } else if (code !== WorkerExit.clean) problems.push(`${name} exited with ${describeExit(code, signal)}`);
  }

  // ---- the reconcile loop -------------------------------------------------------------

  private reconcile(): void {
    if (this.reconciling) {
      this.reconcileAgain = true;
      return;
    }
    this.reconciling = true;
    try {
      this.noticePause(this.clock.now());
      do {
        this.reconcileAgain = false;
        this.reconcileOnce(this.clock.now());
      } while (this.reconcileAgain);
    } finally {
      this.reconciling = false;
    }
    this.updateGauges();
  }

  /**
   * Whatever woke the loop (the tick, or a worker's message that arrived first after a
   * thaw), a long gap since the last run means the primary did not run: the deadlines it
   * slept through are moved before any worker is judged, or a worker that spoke first
   * after the thaw would vouch that its silent peers hung.
   */
  private noticePause(now: number): void {
    const lost = now - this.lastRunAt - TICK_MS;
    this.lastRunAt = now;
    if (lost <= PAUSE_TOLERANCE_MS) return;
    this.log.warn({ pausedMs: Math.round(lost) }, 'the primary was paused (VM pause, freeze or CPU starvation): every worker gets a fresh grace period');
    for (const worker of this.all.values()) worker.forgive(lost, now);
    if (this.respawnNotBefore > now - lost) this.respawnNotBefore += lost;
  }

  private reconcileOnce(now: number): void {
    if (this.halted) return;
    if (this.stopping) {
      for (const worker of this.all.values()) this.leave(worker, 'shutdown', now);
      this.applyWatchdog(now);
      if (this.all.size === 0) this.finishStop(now);
      return;
    }
    this.applyWatchdog(now);
    this.admitBootedWorkers(now);
    this.retireSurplus(now);
    this.forkMissing(now);
    this.startOneReplacement(now);
    this.settleRollout(now);
    this.settleScaling();
    this.announceAllReady();
  }

  /** Kills what the watchdog judges overdue; a silent worker with nobody responsive gets its replacement first. */
  private applyWatchdog(now: number): void {
    for (const verdict of judgeWorkers(this.workers, now, this.settings, this.stopping !== undefined)) {
      const { worker } = verdict;
      const who = { worker: worker.id, workerPid: worker.pid };
      if (verdict.action === 'replace-first') {
        worker.replaceBecause = 'hung';
        this.log.error(
          { ...who, lastReportAgeMs: Math.round(verdict.silentMs) },
          'worker silent and no other worker is responsive: starting its replacement before killing it',
        );
      } else if (verdict.reason === 'stop_timeout') {
        this.log.error({ ...who, budgetMs: this.settings.killAfterMs }, 'worker did not stop in time, SIGKILL');
        worker.forceKilled = true;
        this.metrics.forcedKills.inc({ reason: 'stop_timeout' });
        worker.process.kill('SIGKILL');
      } else if (verdict.reason === 'startup_timeout') {
        this.log.error({ ...who, timeoutMs: this.settings.readyTimeoutMs, ...(worker.waitingFor && { waitingFor: worker.waitingFor }) }, 'worker not ready in time, killing it');
        this.kill(worker, 'startup_timeout', now);
      } else {
        this.log.error({ ...who, lastReportAgeMs: Math.round(verdict.silentMs) }, 'worker hung: no heartbeat, killing it');
        this.kill(worker, 'hung', now);
      }
    }
  }

  /**
   * Booted workers are told to listen. A replacement that cannot reach a dependency the
   * serving workers reach waits (it would only serve worse); its ready timeout decides.
   */
  private admitBootedWorkers(now: number): void {
    for (const worker of this.all.values()) {
      if (worker.state !== 'booting' || !worker.bootReport || worker.admitted) continue;
      const gap = worker.surge ? this.dependencyGap(worker) : [];
      worker.waitingFor = gap.length ? gap : undefined;
      if (gap.length) continue;
      worker.admittedAt = now;
      this.send(worker, { type: 'serve' });
    }
  }

  private dependencyGap(worker: ManagedWorker): string[] {
    const mine = worker.lastReport;
    if (!mine) return [];
    const reachedByServing = (key: 'database' | 'redis') =>
      this.serving().some((peer) => peer.lastReport?.[key] === 'connected');
    return (['database', 'redis'] as const).filter((key) => mine[key] === 'disconnected' && reachedByServing(key));
  }

  private retireSurplus(now: number): void {
    const serving = this.serving();
    while (serving.length > this.desired) {
      const victim = this.pickVictim(serving);
      serving.splice(serving.indexOf(victim), 1);
      if (victim.replaceBecause === 'hung') {
        this.kill(victim, 'hung', now);
        continue;
      }
      const reason = this.isOutdated(victim) ? 'rolling' : (victim.replaceBecause ?? 'scale_down');
      if (reason === 'rolling') this.rollout?.retiring(victim, this.outdated().length);
      this.leave(victim, reason, now);
    }
    // Booting workers nobody needs any more (scaled down meanwhile, or the worker they were to replace recovered).
    const starting = this.workers.filter((w) => w.starting);
    let excess = serving.length + starting.filter((w) => !w.surge).length - this.desired;
    for (const worker of starting.reverse()) {
      if (worker.surge ? !this.replacementWanted() : excess-- > 0) this.leave(worker, 'scale_down', now);
    }
  }

  /** Hung first, then the oldest generation, then workers marked for recycling, then the newest. */
  private pickVictim(serving: ManagedWorker[]): ManagedWorker {
    const rank = (w: ManagedWorker) =>
      w.replaceBecause === 'hung' ? 0 : this.isOutdated(w) ? 1 : w.replaceBecause ? 2 : 3;
    return [...serving].sort((a, b) => rank(a) - rank(b) || (rank(a) === 3 ? b.id - a.id : a.generation - b.generation || a.id - b.id))[0]!;
  }

  private forkMissing(now: number): void {
    if (now < this.respawnNotBefore) return;
    const regular = this.serving().length + this.workers.filter((w) => w.starting && !w.surge).length;
    for (let missing = this.desired - regular; missing > 0; missing -= 1) this.fork(false, now);
  }

  /**
   * Rollouts, recycling and hung workers are served by one replacement at a time, new first.
   * A planned one also waits until the worker it last retired has exited: a draining worker
   * still holds its database connections, and the host's budget (DATABASE_POOL_MAX) has room
   * for one extra worker, not for a replacement per slow drain. A hung worker does not wait.
   */
  private startOneReplacement(now: number): void {
    // A replacement that never became ready and has not exited yet still counts: its exit says how it failed.
    if (now < this.respawnNotBefore || this.workers.some((w) => w.starting || (w.surge && w.readyAt === undefined))) return;
    const serving = this.serving();
    if (serving.length < this.desired) return;
    const candidate = serving.find((w) => w.replaceBecause === 'hung') ?? serving.find((w) => this.isOutdated(w)) ?? serving.find((w) => w.replaceBecause);
    if (!candidate) return;
    if (candidate.replaceBecause !== 'hung' && this.workers.some((w) => w.state === 'draining')) return;
    const fresh = this.fork(true, now);
    if (this.isOutdated(candidate)) this.rollout?.replacing(candidate, fresh, this.outdated().length);
  }

  private replacementWanted(): boolean {
    return this.serving().some((w) => this.isOutdated(w) || w.replaceBecause !== undefined);
  }

  private isOutdated(worker: ManagedWorker): boolean {
    return this.rollout?.isOutdated(worker) ?? false;
  }

  /** Workers of an older generation that have not been retired yet. */
  private outdated(): ManagedWorker[] {
    return this.rollout ? this.outdatedOf(this.rollout) : [];
  }

  private outdatedOf(rollout: Rollout): ManagedWorker[] {
    return this.workers.filter((w) => w.state !== 'draining' && rollout.isOutdated(w));
  }

  private settleRollout(now: number): void {
    if (!this.rollout) return;
    const target = this.rollout.target;
    if (this.workers.some((w) => w.generation < target)) return;
    this.finishRollout(true, undefined, false, now);
  }

  private finishRollout(ok: boolean, error?: string, bootError = false, now = this.clock.now()): void {
    const rollout = this.rollout!;
    this.rollout = undefined;
    if (ok) this.generation = rollout.target;
    const result = rollout.finish(ok, this.outdatedOf(rollout).length, now, error, bootError);
    // The replacement that failed, if it still runs, goes; the old workers stay.
    for (const worker of this.all.values()) {
      if (!ok && worker.surge && worker.starting && worker.generation === rollout.target) this.leave(worker, 'scale_down', now);
    }
    this.metrics.rollingRestartInProgress.set(0);
    this.metrics.rollingRestarts.inc({ result: ok ? 'succeeded' : 'failed' });
    this.metrics.lastRollingRestartSeconds.set(result.durationMs / 1000);
    if (ok) this.log.info({ ...result, generation: rollout.target }, 'rolling restart finished');
    else this.log.error({ ...result, generation: rollout.target }, 'rolling restart failed; remaining old workers kept');
  }

  private settleScaling(): void {
    const scaling = this.scaling;
    if (!scaling) return;
    const serving = this.serving().length;
    const booting = this.workers.some((w) => w.starting && !w.surge);
    const shrinking = this.workers.some((w) => w.state === 'draining' && w.leaveReason === 'scale_down');
    if (booting || shrinking || (serving < this.desired && scaling.bootFailures === 0)) return;
    this.scaling = undefined;
    // From now on the operator's count stands, whether or not every new worker made it.
    this.healthFloor = this.desired;
    scaling.resolve({ workers: this.desired, ready: serving });
  }

  private announceAllReady(): void {
    if (!this.scaling && !this.workers.some((w) => w.starting && !w.surge)) this.healthFloor = this.desired;
    if (this.allReadyAnnounced || this.serving().length < this.desired) return;
    this.allReadyAnnounced = true;
    this.log.info({ workers: this.desired }, 'all workers ready');
    this.emit('all-ready');
  }

  private finishStop(now: number): void {
    const stopping = this.stopping!;
    if (stopping.finished) return;
    stopping.finished = true;
    stopping.resolve({ clean: stopping.problems.length === 0, durationMs: Math.round(now - stopping.startedAt), problems: stopping.problems });
  }

  // ---- the steps ----------------------------------------------------------------------

  private fork(surge: boolean, now: number): ManagedWorker {
    const generation = this.rollout?.target ?? this.generation;
    const process = this.cluster.fork({ ...this.generationEnv.get(generation), ...this.settings.workerEnv?.(this.desired) });
    const worker = new ManagedWorker(process, generation, now, this.settings.readyTimeoutMs, surge, this.requestLimit());
    this.all.set(worker.id, worker);
    this.log.info({ worker: worker.id, workerPid: worker.pid, generation, ...(surge && { replacement: true }) }, 'worker forked');
    return worker;
  }

  private requestLimit(): number | undefined {
    const max = this.settings.maxRequestsPerWorker;
    // Up to 10% jitter so that workers started together are not recycled together.
    return max ? max + Math.floor(Math.random() * Math.ceil(max * 0.1)) : undefined;
  }

  /** Asks a worker to go: a booting one simply exits, a serving one drains first. */
  private leave(worker: ManagedWorker, reason: ExitReason, now: number): void {
    if (worker.state === 'draining') return;
    worker.leaveReason ??= reason;
    const heardUs = worker.state !== 'forked';
    this.markLeaving(worker, now);
    if (heardUs) this.send(worker, { type: 'drain', reason });
  }

  private markLeaving(worker: ManagedWorker, now: number): void {
    worker.moveTo('draining');
    worker.killDeadline = now + this.settings.killAfterMs;
    this.cluster.workerLeaving(worker.id);
  }

  private kill(worker: ManagedWorker, reason: ExitReason, now: number): void {
    worker.leaveReason = reason;
    if (worker.can('draining')) this.markLeaving(worker, now);
    worker.forceKilled = true;
    this.metrics.forcedKills.inc({ reason });
    worker.process.kill('SIGKILL');
  }

  private checkRecycling(worker: ManagedWorker, report: WorkerHealthReport): void {
    if (this.rollout || worker.replaceBecause || this.clock.now() < this.recycleNotBefore) return;
    if (this.workers.some((w) => w.replaceBecause === 'memory' || w.replaceBecause === 'max_requests')) return;
    const reason = recyclingReason(report, this.settings.maxWorkerMemoryMb, worker.requestLimit);
    if (!reason) return;
    worker.replaceBecause = reason;
    this.log.warn({ worker: worker.id, reason, rssBytes: report.rssBytes, requestsServed: report.requestsServed }, 'recycling worker');
  }

  private updateGauges(): void {
    this.metrics.workersReady.set(this.serving().length);
    this.metrics.workers.reset();
    for (const worker of this.all.values()) {
      this.metrics.workers.inc({ generation: String(worker.generation), state: worker.state });
    }
  }
}
