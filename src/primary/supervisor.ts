import cluster, { type Worker } from 'node:cluster';
import { EventEmitter } from 'node:events';
import type { Config } from '../shared/config.js';
import {
  WorkerExit,
  isWorkerMessage,
  primaryMessage,
  type DrainSummary,
  type MetricsSnapshot,
  type PrimaryMessageBody,
  type WorkerHealthReport,
  type WorkerLifecycleState,
  type WorkerMessage,
} from '../shared/ipc-protocol.js';
import type { Logger } from '../shared/logger.js';
import { RespawnBackoff } from './backoff.js';
import type { RestartReason, SupervisorMetrics } from './supervisor-metrics.js';

/** Time the supervisor gives a draining worker beyond SHUTDOWN_TIMEOUT_MS to close its pools. */
export const KILL_MARGIN_MS = 2000;
const WATCHDOG_INTERVAL_MS = 1000;
const EXIT_DISCONNECT_WAIT_MS = 1000;

type RetireReason = RestartReason | 'shutdown' | 'scale-down';

export interface ManagedWorker {
  readonly id: number;
  readonly pid: number;
  readonly handle: Worker;
  slot: Slot | undefined;
  state: WorkerLifecycleState;
  forkedAt: number;
  readyAt?: number;
  lastReport?: WorkerHealthReport;
  lastReportAt?: number;
  /** Set when the supervisor asked this worker to go (drain) or killed it on purpose. */
  retireReason?: RetireReason;
  killReason?: RestartReason;
  forceKilled: boolean;
  drainSummary?: DrainSummary;
  finalMetrics?: MetricsSnapshot;
  requestLimit?: number;
  exit: Promise<WorkerExitInfo>;
}

export interface WorkerExitInfo {
  code: number | null;
  signal: string | null;
}

interface Slot {
  readonly index: number;
  readonly backoff: RespawnBackoff;
  workerId?: number;
  /** A replacement being started for this slot (rolling restart or recycling). */
  replacingWith?: number;
  respawnTimer?: NodeJS.Timeout;
  removed?: boolean;
  /** Added by scale(): counts as expected only once its first worker is ready, so
   * adding capacity never turns /health 503. */
  addedByScaleUp?: boolean;
}

export interface ShutdownResult {
  clean: boolean;
  durationMs: number;
  problems: string[];
}

export interface RolloutResult {
  ok: boolean;
  replaced: number;
  total: number;
  durationMs: number;
  error?: string;
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

export interface SupervisorEvents {
  'worker-message': [worker: ManagedWorker, message: WorkerMessage];
  'worker-gone': [worker: ManagedWorker];
  'all-ready': [];
}

/**
 * Forks and keeps N workers: respawns crashes with backoff, kills hung workers,
 * recycles by memory or request count, replaces workers one at a time for rolling
 * restarts and scaling, and drains them all on shutdown.
 */
export class Supervisor extends EventEmitter<SupervisorEvents> {
  readonly workers = new Map<number, ManagedWorker>();
  private readonly exitResolvers = new Map<number, (info: WorkerExitInfo) => void>();
  private slots: Slot[] = [];
  private shuttingDown = false;
  private rolloutRunning = false;
  /** The recycling under way, if any: rollouts and scaling wait for it to settle. */
  private recycling?: Promise<void>;
  private scaling = false;
  private watchdog?: NodeJS.Timeout;
  private allReadyAnnounced = false;

  constructor(
    private readonly config: Config,
    private readonly log: Logger,
    private readonly metrics: SupervisorMetrics,
    workerEntry: string,
  ) {
    super();
    cluster.setupPrimary({ exec: workerEntry });
    cluster.on('message', (handle, message: unknown) => this.onMessage(handle, message));
    cluster.on('exit', (handle, code, signal) => {
      // 'exit' can come before the worker's last IPC messages (its final metrics) are
      // read; the channel's disconnect comes after them.
      if (!handle.isConnected()) return this.onExit(handle, code, signal);
      const proceed = () => {
        clearTimeout(fallback);
        this.onExit(handle, code, signal);
      };
      const fallback = setTimeout(() => {
        handle.off('disconnect', proceed);
        proceed();
      }, EXIT_DISCONNECT_WAIT_MS);
      handle.once('disconnect', proceed);
    });
  }

  /** Slots that must be served for the service to count as healthy. */
  get expected(): number {
    return this.slots.filter((slot) => !slot.removed && !slot.addedByScaleUp).length;
  }

  get isShuttingDown(): boolean {
    return this.shuttingDown;
  }

  get isRolling(): boolean {
    return this.rolloutRunning;
  }

  /** Workers currently serving their slot and ready. */
  readyWorkers(): ManagedWorker[] {
    return [...this.workers.values()].filter((w) => w.state === 'ready');
  }

  start(count: number): void {
    this.metrics.workersExpected.set(count);
    for (let index = 0; index < count; index += 1) this.addSlot();
    this.watchdog = setInterval(() => this.checkWorkers(), WATCHDOG_INTERVAL_MS);
  }

  send(worker: ManagedWorker, body: PrimaryMessageBody): void {
    if (!worker.handle.isConnected()) return;
    // A worker whose channel is closing fails the send asynchronously: with a callback the
    // failure lands here instead of as an 'error' event, which would crash the primary.
    // Either way the worker is going away; its exit event tells the rest.
    try {
      worker.handle.send(primaryMessage(body), undefined, undefined, () => undefined);
    } catch {
      // closed between the check and the send
    }
  }

  private addSlot(options: { addedByScaleUp?: boolean } = {}): Slot {
    const slot: Slot = { index: this.slots.length, backoff: new RespawnBackoff(), ...options };
    this.slots.push(slot);
    slot.workerId = this.fork(slot).id;
    return slot;
  }

  private fork(slot: Slot): ManagedWorker {
    const handle = cluster.fork();
    handle.on('error', (error: Error) => this.log.warn({ worker: handle.id, err: { message: error.message } }, 'worker channel error'));
    const managed: ManagedWorker = {
      id: handle.id,
      pid: handle.process.pid ?? 0,
      handle,
      slot,
      state: 'starting',
      forkedAt: Date.now(),
      forceKilled: false,
      exit: new Promise((resolve) => this.exitResolvers.set(handle.id, resolve)),
    };
    if (this.config.maxRequestsPerWorker) {
      // Jitter up to 10% so that workers started together are not recycled together.
      const jitter = Math.floor(Math.random() * Math.ceil(this.config.maxRequestsPerWorker * 0.1));
      managed.requestLimit = this.config.maxRequestsPerWorker + jitter;
    }
    this.workers.set(managed.id, managed);
    this.log.info({ worker: managed.id, workerPid: managed.pid, slot: slot.index }, 'worker forked');
    return managed;
  }

  private onMessage(handle: Worker, raw: unknown): void {
    if (!isWorkerMessage(raw)) return;
    const worker = this.workers.get(handle.id);
    if (!worker) return;
    switch (raw.type) {
      case 'ready':
        if (worker.retireReason) {
          // Asked to drain while it was still loading its code, before it listened for
          // messages (a shutdown during a replacement): that drain was lost, repeat it.
          this.send(worker, { type: 'drain', reason: worker.retireReason });
          return;
        }
        if (worker.state !== 'starting') return;
        worker.state = 'ready';
        worker.readyAt = Date.now();
        if (worker.slot) worker.slot.addedByScaleUp = false;
        worker.lastReportAt ??= Date.now();
        this.log.info({ worker: worker.id, workerPid: worker.pid, startupMs: worker.readyAt - worker.forkedAt }, 'worker ready');
        this.updateReadyGauge();
        this.announceAllReady();
        return;
      case 'health-report':
        worker.lastReport = raw.report;
        worker.lastReportAt = Date.now();
        if (worker.state === 'ready') this.checkRecycling(worker);
        return;
      case 'drain-started':
        worker.state = 'draining';
        this.updateReadyGauge();
        return;
      case 'drain-finished':
        worker.drainSummary = raw.summary;
        worker.finalMetrics = raw.finalMetrics;
        this.metrics.lastShutdownSeconds.set(raw.summary.durationMs / 1000);
        return;
      default:
        this.emit('worker-message', worker, raw);
    }
  }

  private announceAllReady(): void {
    if (this.allReadyAnnounced || this.readyWorkers().length < this.expected) return;
    this.allReadyAnnounced = true;
    this.log.info({ workers: this.expected }, 'all workers ready');
    this.emit('all-ready');
  }

  private updateReadyGauge(): void {
    this.metrics.workersReady.set(this.readyWorkers().length);
  }

  private onExit(handle: Worker, code: number | null, signal: string | null): void {
    const worker = this.workers.get(handle.id);
    if (!worker) return;
    this.workers.delete(worker.id);
    this.updateReadyGauge();
    const uptimeMs = Date.now() - worker.forkedAt;
    const expectedExit = worker.retireReason !== undefined;
    const logExit = expectedExit && code === WorkerExit.clean ? this.log.info.bind(this.log) : this.log.warn.bind(this.log);
    logExit(
      { worker: worker.id, workerPid: worker.pid, code, signal, uptimeMs, reason: worker.retireReason ?? worker.killReason ?? 'unexpected' },
      'worker exited',
    );
    this.exitResolvers.get(worker.id)?.({ code, signal });
    this.exitResolvers.delete(worker.id);
    this.emit('worker-gone', worker);

    const slot = worker.slot;
    if (expectedExit || this.shuttingDown || !slot || slot.removed) return;
    if (slot.replacingWith === worker.id) return; // a failed replacement: the rollout reports it
    if (slot.workerId !== worker.id) return;
    slot.workerId = undefined;
    if (slot.replacingWith !== undefined) return; // its replacement is already on the way
    const reason: RestartReason = worker.killReason ?? 'crash';
    this.scheduleRespawn(slot, reason, uptimeMs);
  }

  private scheduleRespawn(slot: Slot, reason: RestartReason, uptimeMs: number): void {
    const delayMs = slot.backoff.next(uptimeMs);
    this.log.warn({ slot: slot.index, reason, delayMs, consecutiveFailures: slot.backoff.consecutiveFailures }, 'respawn scheduled');
    slot.respawnTimer = setTimeout(() => {
      slot.respawnTimer = undefined;
      if (this.shuttingDown || slot.removed || slot.workerId !== undefined) return;
      this.metrics.workerRestarts.inc({ reason });
      slot.workerId = this.fork(slot).id;
    }, delayMs);
  }

  private kill(worker: ManagedWorker, reason: RestartReason): void {
    worker.killReason = reason;
    worker.forceKilled = true;
    this.metrics.forcedKills.inc();
    worker.handle.process.kill('SIGKILL');
  }

  /** Startup timeouts and missed heartbeats: checked once a second. */
  private checkWorkers(): void {
    if (this.shuttingDown) return;
    const now = Date.now();
    for (const worker of this.workers.values()) {
      if (worker.retireReason || worker.killReason) continue;
      if (worker.state === 'starting' && now - worker.forkedAt > this.config.workerReadyTimeoutMs) {
        // A replacement in a rollout is judged by the rollout itself.
        if (worker.slot?.replacingWith === worker.id) continue;
        this.log.error({ worker: worker.id, workerPid: worker.pid, timeoutMs: this.config.workerReadyTimeoutMs }, 'worker not ready in time, killing it');
        this.kill(worker, 'startup_timeout');
      } else if (worker.state === 'ready' && now - (worker.lastReportAt ?? now) > this.config.workerHeartbeatTimeoutMs) {
        this.log.error(
          { worker: worker.id, workerPid: worker.pid, lastReportAgeMs: now - (worker.lastReportAt ?? now) },
          'worker hung: no heartbeat, killing it',
        );
        this.kill(worker, 'hung');
      }
    }
  }

  private checkRecycling(worker: ManagedWorker): void {
    if (this.recycling || this.rolloutRunning || this.scaling || this.shuttingDown || !worker.slot || !worker.lastReport) return;
    let reason: RestartReason | undefined;
    const { maxWorkerMemoryMb } = this.config;
    if (maxWorkerMemoryMb && worker.lastReport.rssBytes > maxWorkerMemoryMb * 1024 * 1024) reason = 'memory';
    else if (worker.requestLimit && worker.lastReport.requestsServed >= worker.requestLimit) reason = 'max_requests';
    if (!reason) return;
    this.log.warn(
      { worker: worker.id, reason, rssBytes: worker.lastReport.rssBytes, requestsServed: worker.lastReport.requestsServed },
      'recycling worker',
    );
    this.recycling = this.replaceSlot(worker.slot, reason)
      .catch((error: Error) => this.log.error({ worker: worker.id, err: { message: error.message } }, 'recycling failed; old worker kept'))
      .finally(() => (this.recycling = undefined));
  }

  private waitReady(worker: ManagedWorker, timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const started = Date.now();
      const poll = setInterval(() => {
        if (worker.state === 'ready') {
          clearInterval(poll);
          resolve();
        } else if (!this.workers.has(worker.id)) {
          clearInterval(poll);
          reject(new Error(`new worker ${worker.id} exited before it was ready`));
        } else if (Date.now() - started > timeoutMs) {
          clearInterval(poll);
          reject(new Error(`new worker ${worker.id} was not ready within ${timeoutMs} ms`));
        } else if (this.shuttingDown) {
          clearInterval(poll);
          reject(new Error('shutdown started'));
        }
      }, 20);
    });
  }

  /**
   * Starts a replacement for the slot, waits until it is ready, then drains the old
   * worker. If the replacement fails, it is killed and the old worker keeps serving.
   */
  private async replaceSlot(slot: Slot, reason: RestartReason): Promise<void> {
    const fresh = this.fork(slot);
    slot.replacingWith = fresh.id;
    try {
      await this.waitReady(fresh, this.config.workerReadyTimeoutMs);
    } catch (error) {
      slot.replacingWith = undefined;
      // During a shutdown the replacement is drained with everyone else, not killed.
      if (this.workers.has(fresh.id) && !this.shuttingDown) {
        this.kill(fresh, 'startup_timeout');
        await fresh.exit;
      }
      if (slot.workerId === undefined && !this.shuttingDown) this.scheduleRespawn(slot, 'crash', 0);
      throw error;
    }
    const old = slot.workerId === undefined ? undefined : this.workers.get(slot.workerId);
    slot.workerId = fresh.id;
    slot.replacingWith = undefined;
    this.metrics.workerRestarts.inc({ reason });
    if (old) await this.retire(old, reason);
  }

  /** Asks a worker to drain and waits for it to exit, SIGKILLing it after the budget. */
  private async retire(worker: ManagedWorker, reason: RetireReason): Promise<WorkerExitInfo> {
    worker.retireReason = reason;
    worker.state = 'draining';
    this.updateReadyGauge();
    this.send(worker, { type: 'drain', reason });
    const timer = setTimeout(() => {
      this.log.error({ worker: worker.id, workerPid: worker.pid, budgetMs: this.config.shutdownTimeoutMs + KILL_MARGIN_MS }, 'worker did not stop in time, SIGKILL');
      worker.forceKilled = true;
      this.metrics.forcedKills.inc();
      worker.handle.process.kill('SIGKILL');
    }, this.config.shutdownTimeoutMs + KILL_MARGIN_MS);
    const info = await worker.exit;
    clearTimeout(timer);
    return info;
  }

  /**
   * Replaces every worker, one at a time, new first. Stops at the first replacement
   * that fails to become ready and leaves the remaining old workers serving.
   */
  async rollingRestart(onProgress: (line: string) => void = () => undefined): Promise<RolloutResult> {
    if (this.rolloutRunning) throw new RolloutInProgressError();
    if (this.scaling) throw new ScalingInProgressError();
    if (this.shuttingDown) throw new Error('shutdown in progress');
    this.rolloutRunning = true;
    this.metrics.rollingRestartInProgress.set(1);
    const started = Date.now();
    const slots = this.slots.filter((slot) => !slot.removed);
    const result: RolloutResult = { ok: true, replaced: 0, total: slots.length, durationMs: 0 };
    this.log.info({ workers: slots.length }, 'rolling restart started');
    try {
      await this.recycling;
      for (const slot of slots) {
        if (slot.removed) continue;
        if (this.shuttingDown) throw new Error('shutdown started during the rolling restart');
        const current = slot.workerId === undefined ? undefined : this.workers.get(slot.workerId);
        // A worker forked after the rollout began (a respawn) already runs the new code.
        if (current && current.forkedAt >= started) {
          result.replaced += 1;
          continue;
        }
        onProgress(`replacing worker ${current?.id ?? '(respawning)'} in slot ${slot.index} (${result.replaced + 1}/${result.total})`);
        await this.replaceSlot(slot, 'rolling');
        result.replaced += 1;
        onProgress(`slot ${slot.index} now served by worker ${slot.workerId} (${result.replaced}/${result.total})`);
      }
    } catch (error) {
      result.ok = false;
      result.error = (error as Error).message;
    } finally {
      result.durationMs = Date.now() - started;
      this.rolloutRunning = false;
      this.metrics.rollingRestartInProgress.set(0);
      this.metrics.rollingRestarts.inc({ result: result.ok ? 'succeeded' : 'failed' });
      this.metrics.lastRollingRestartSeconds.set(result.durationMs / 1000);
    }
    const logResult = result.ok ? this.log.info.bind(this.log) : this.log.error.bind(this.log);
    logResult({ ...result }, result.ok ? 'rolling restart finished' : 'rolling restart failed; remaining old workers kept');
    return result;
  }

  /** Changes the number of workers: new ones are forked, surplus ones drained (newest first). */
  async scale(count: number): Promise<void> {
    if (this.shuttingDown) throw new Error('shutdown in progress');
    if (this.rolloutRunning) throw new RolloutInProgressError();
    if (this.scaling) throw new ScalingInProgressError();
    if (!Number.isInteger(count) || count < 1) throw new Error('worker count must be a whole number of at least 1');
    this.scaling = true;
    try {
      // A recycling replacement must not land in a slot that scaling removes.
      await this.recycling;
      const active = this.slots.filter((slot) => !slot.removed);
      this.log.info({ from: active.length, to: count }, 'scaling workers');
      this.metrics.workersExpected.set(count);
      if (count > active.length) {
        const added: ManagedWorker[] = [];
        for (let i = active.length; i < count; i += 1) added.push(this.workers.get(this.addSlot({ addedByScaleUp: true }).workerId!)!);
        await Promise.allSettled(added.map((worker) => this.waitReady(worker, this.config.workerReadyTimeoutMs)));
        // From now on the operator's count stands, whether or not every new worker made it.
        for (const worker of added) if (worker.slot) worker.slot.addedByScaleUp = false;
        return;
      }
      const surplus = active.slice(count).reverse();
      await Promise.all(
        surplus.map(async (slot) => {
          slot.removed = true;
          clearTimeout(slot.respawnTimer);
          const worker = slot.workerId === undefined ? undefined : this.workers.get(slot.workerId);
          if (worker) await this.retire(worker, 'scale-down');
        }),
      );
      this.slots = this.slots.filter((slot) => !slot.removed);
    } finally {
      this.scaling = false;
    }
  }

  /**
   * Drains every worker at once and waits for all of them. Clean means every worker
   * exited 0 by itself: nothing cut, nothing killed.
   */
  async shutdown(): Promise<ShutdownResult> {
    this.shuttingDown = true;
    const started = Date.now();
    clearInterval(this.watchdog);
    for (const slot of this.slots) clearTimeout(slot.respawnTimer);
    const workers = [...this.workers.values()];
    const problems: string[] = [];
    await Promise.all(
      workers.map(async (worker) => {
        const { code, signal } = worker.retireReason ? await worker.exit : await this.retire(worker, 'shutdown');
        if (worker.forceKilled) {
          problems.push(`worker ${worker.id} (pid ${worker.pid}) was killed after ${this.config.shutdownTimeoutMs + KILL_MARGIN_MS} ms`);
        } else if (code === WorkerExit.drainTimedOut) {
          const cut = worker.drainSummary?.cut ?? 'some';
          problems.push(`worker ${worker.id} (pid ${worker.pid}) cut ${cut} request(s) still in flight after ${this.config.shutdownTimeoutMs} ms`);
        } else if (code !== WorkerExit.clean) {
          problems.push(`worker ${worker.id} (pid ${worker.pid}) exited with ${signal ? `signal ${signal}` : `code ${code}`}`);
        }
      }),
    );
    return { clean: problems.length === 0, durationMs: Date.now() - started, problems };
  }

  /** Second signal: no more waiting. */
  killAll(): void {
    for (const worker of this.workers.values()) worker.handle.process.kill('SIGKILL');
  }
}
