import http from 'node:http';
import path from 'node:path';
import type { Config } from '../shared/config.js';
import { usesDevelopmentJwtSecret } from '../shared/config.js';
import { parseDatabaseUrl } from '../db/database-url.js';
import { hostConnections, workerRequestPoolSize } from '../db/pool-budget.js';
import { readBuildInfo } from '../shared/build-info.js';
import type { HealthAnswer } from '../shared/health-types.js';
import { WorkerEnv } from '../shared/ipc-protocol.js';
import { createLogger, redactUrl, type Logger } from '../shared/logger.js';
import { workerKillAfterMs } from '../shared/shutdown-budget.js';
import { createAdminServer } from './admin-server.js';
import { RespawnBackoff } from './backoff.js';
import { monotonicClock } from './clock.js';
import { ControlServer, ControlSocketInUseError } from './control-server.js';
import { computeHealth, staleAfterMs } from './health.js';
import { MetricsCollector } from './metrics-collector.js';
import { SchemaMigrations } from './schema-migrations.js';
import { SignalQueue, type QueuedSignal } from './signals.js';
import { takeSystemdSocket } from './systemd-socket.js';
import { RolloutInProgressError, ShutdownInProgressError, Supervisor, TICK_MS, type RolloutResult } from './supervisor.js';
import { planReload } from './reload-plan.js';
import { runMigrations } from '../db/migrations-runner.js';
import { loadEnvFile } from '../shared/env-file.js';
import { createSupervisorMetrics, recordHealth } from './supervisor-metrics.js';
import { RateLimitWindows } from './rate-limit-windows.js';
import { RoundRobinWorkers } from './round-robin-workers.js';
import { SharedSocketWorkers } from './shared-socket-workers.js';
import type { WorkerProcesses } from './worker-cluster.js';

const METRICS_WORKER_TIMEOUT_MS = 1000;
/** Exit code when the control socket belongs to another running primary (EX_CANTCREAT). */
export const EXIT_ALREADY_RUNNING = 73;

type Phase = 'starting' | 'running' | 'stopping';

/**
 * The primary process: owns its start (migrations, control socket, admin server, the
 * workers), its signals (queued, handled by one loop), the one shutdown sequence, and
 * the exit code. Nothing else in the primary calls process.exit.
 */
export class Primary {
  private phase: Phase = 'starting';
  private readonly log: Logger;
  private readonly signals = new SignalQueue();
  private readonly metrics = createSupervisorMetrics();
  private readonly schema: SchemaMigrations;
  private readonly cluster: WorkerProcesses;
  private readonly systemdSocket: { fd: number; ignored: number } | undefined;
  private readonly supervisor: Supervisor;
  private readonly collector: MetricsCollector;
  private readonly admin: http.Server;
  private readonly control: ControlServer;
  /** The single-host store: rate limits of workers without Redis (no REDIS_URL). */
  private readonly rateLimits = new RateLimitWindows({
    monotonic: monotonicClock,
    wall: { now: () => Date.now() },
    onEvict: () => this.metrics.rateLimitEvictions.inc(),
  });
  private wakeScheduled = false;
  private reloading = false;
  /** The environment as the primary started: a reload replaces what came from the env file. */
  private readonly startEnv: NodeJS.ProcessEnv = { ...process.env };
  private readonly startFileVariables: ReadonlySet<string>;
  /** The migrations of the code the next workers will run (through a `current` symlink: the new release's). */
  private readonly migrationsToDeploy: string;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly config: Config,
    workerEntry: string,
  ) {
    this.log = createLogger('primary', config.logLevel);
    this.schema = new SchemaMigrations(config.databaseMigrationUrl, this.log);
    this.startFileVariables = this.envFileVariablesAtStart();
    this.migrationsToDeploy = path.resolve(path.dirname(workerEntry), '../src/db/migrations');
    this.systemdSocket = takeSystemdSocket();
    this.cluster = this.systemdSocket
      ? new SharedSocketWorkers(workerEntry, this.log, this.systemdSocket.fd)
      : new RoundRobinWorkers(workerEntry, this.log);
    const listenEnv: Record<string, string> = this.systemdSocket ? { [WorkerEnv.listenFd]: String(this.systemdSocket.fd) } : {};
    this.supervisor = new Supervisor(
      {
        readyTimeoutMs: config.workerReadyTimeoutMs,
        heartbeatTimeoutMs: config.workerHeartbeatTimeoutMs,
        responsiveWithinMs: staleAfterMs(config.healthReportIntervalMs),
        shutdownTimeoutMs: config.shutdownTimeoutMs,
        killAfterMs: workerKillAfterMs(config.shutdownTimeoutMs),
        maxWorkerMemoryMb: config.maxWorkerMemoryMb,
        maxRequestsPerWorker: config.maxRequestsPerWorker,
        backoff: new RespawnBackoff(100, config.workerRespawnBackoffMaxMs),
        workerEnv: (desired) => ({ ...listenEnv, [WorkerEnv.databasePool]: String(workerRequestPoolSize(config.databasePoolMax, desired)) }),
      },
      this.cluster,
      monotonicClock,
      this.log,
      this.metrics,
    );
    this.collector = new MetricsCollector(this.supervisor, this.metrics, METRICS_WORKER_TIMEOUT_MS);
    this.admin = createAdminServer(
      {
        health: () => this.health(),
        metrics: () => {
          this.health();
          return this.collector.scrape();
        },
      },
      this.log,
    );
    this.control = new ControlServer({
      supervisor: this.supervisor,
      health: () => this.health(),
      reload: (onProgress) => this.reload(onProgress),
      log: this.log,
    });
  }

  async run(): Promise<void> {
    this.signals.install(() => this.wake());
    const { config, log } = this;
    const database = parseDatabaseUrl(config.databaseUrl);
    log.info(
      {
        workers: config.workers,
        port: config.port,
        adminPort: config.adminPort,
        database: database.client === 'sqlite' ? config.databaseUrl : redactUrl(config.databaseUrl),
        redis: config.redisUrl === undefined ? 'none' : redactUrl(config.redisUrl),
        shutdownTimeoutMs: config.shutdownTimeoutMs,
        build: readBuildInfo(),
        // SQLite: one connection per pool (src/db/knex-config.ts), no budget to split.
        ...(database.client === 'postgres' && {
          databaseConnections: {
            hostBudget: config.databasePoolMax,
            perWorker: workerRequestPoolSize(config.databasePoolMax, config.workers) + 1,
            atMost: hostConnections(config.databasePoolMax, config.workers),
          },
        }),
      },
      'starting primary',
    );
    if (database.client === 'sqlite') {
      const why = config.databaseDefaulted ? 'DATABASE_URL is not set' : 'DATABASE_URL names it';
      log.info(
        { databaseFile: database.file },
        `database: the embedded SQLite file ${database.file} (${why}); one host only: set DATABASE_URL=postgres://… to use PostgreSQL`,
      );
    }
    if (this.systemdSocket) {
      log.info(
        { fd: this.systemdSocket.fd, ignoredSockets: this.systemdSocket.ignored },
        'serving on the socket passed by systemd (socket activation): PORT and HOST are not used; workers accept on it directly',
      );
    }
    if (config.redisUrl === undefined) {
      log.info('no REDIS_URL: the primary counts the rate limits (exact across the workers of this host, not shared with other hosts); the entry list cache is off');
    }
    if (usesDevelopmentJwtSecret(config)) log.warn('JWT_SECRET is unset or the published development secret: anyone can sign tokens this service accepts (refused when NODE_ENV=production)');
    await this.schema.migrateAtStart();
    await this.openControlSocket();
    await this.openAdminServer();
    this.wireSupervisor();
    this.phase = 'running';
    this.supervisor.start(config.workers);
    this.timer = setInterval(() => this.loop(), TICK_MS);
    this.wake();
  }

  private wireSupervisor(): void {
    this.supervisor.on('worker-message', (worker, message) => {
      if (message.type === 'health-request') {
        this.supervisor.send(worker, { type: 'health-response', requestId: message.requestId, answer: this.health() });
      } else if (message.type === 'rate-limit-request') {
        this.supervisor.send(worker, { type: 'rate-limit-response', requestId: message.requestId, reply: this.rateLimits.hit(message.hit) });
      }
    });
    this.supervisor.on('all-ready', () => {
      // pm2 (fork mode, wait_ready) waits for this message before it considers the app online.
      // With a callback a closed channel (pm2 gone) is ignored instead of crashing the primary.
      if (process.send) process.send('ready', undefined, undefined, () => undefined);
    });
    this.supervisor.on('halt', (exitCode, reason) => {
      this.log.fatal({ exitCode, err: { message: reason } }, 'a worker cannot boot and none ever has: stopping instead of respawning it forever');
      this.supervisor.killAll();
      this.exit(exitCode);
    });
  }

  private async openControlSocket(): Promise<void> {
    // Before the admin port: a second primary on the same socket gets the clearer error.
    try {
      await this.control.listen(this.config.controlSocket);
    } catch (error) {
      this.log.fatal({ controlSocket: this.config.controlSocket }, `cannot open the control socket: ${(error as Error).message}`);
      this.exit(error instanceof ControlSocketInUseError ? EXIT_ALREADY_RUNNING : 1);
    }
    process.on('exit', () => this.control.removeSocketFile());
    this.log.info({ controlSocket: this.config.controlSocket }, 'control socket listening');
  }

  private async openAdminServer(): Promise<void> {
    const { adminHost, adminPort } = this.config;
    await new Promise<void>((resolve) => {
      this.admin.once('error', (error) => {
        this.log.fatal({ err: error, adminHost, adminPort }, 'cannot start the admin server');
        this.exit(1);
      });
      this.admin.listen(adminPort, adminHost, resolve);
    });
    this.log.info({ adminHost, adminPort }, 'admin server listening');
  }

  health(): HealthAnswer {
    const answer = computeHealth({
      workers: this.supervisor.workers,
      expected: this.supervisor.expected,
      draining: this.phase === 'stopping',
      schemaReady: this.schema.ready,
      staleAfterMs: staleAfterMs(this.config.healthReportIntervalMs),
      now: monotonicClock.now(),
    });
    recordHealth(this.metrics, answer);
    return answer;
  }

  /** Which variables the environment file set when systemd started us (a reload may drop some). */
  private envFileVariablesAtStart(): ReadonlySet<string> {
    const file = this.config.envFile;
    if (!file) return new Set();
    try {
      return new Set(Object.keys(loadEnvFile(file)));
    } catch (error) {
      this.log.warn({ file, err: { message: (error as Error).message } }, 'cannot read PULSE_ENV_FILE at start; a reload will read it again');
      return new Set();
    }
  }

  /** Runs the loop soon (a signal arrived), at most once per turn of the event loop. */
  private wake(): void {
    if (this.wakeScheduled) return;
    this.wakeScheduled = true;
    setImmediate(() => this.loop());
  }

  private loop(): void {
    this.wakeScheduled = false;
    for (const signal of this.signals.take()) this.handleSignal(signal);
    if (this.phase !== 'starting') this.supervisor.tick();
  }

  private handleSignal({ signal, command }: QueuedSignal): void {
    const { log } = this;
    if (this.phase === 'starting') {
      if (command !== 'stop') return log.warn({ signal }, 'signal ignored: the primary is still starting');
      log.info({ signal }, 'stopped before any worker was started');
      return this.exit(0);
    }
    if (this.phase === 'stopping') {
      if (command !== 'stop') return log.warn({ signal }, 'signal ignored: the primary is shutting down');
      log.warn({ signal }, 'second signal during shutdown: killing workers and exiting now');
      this.supervisor.killAll();
      return this.exit(130);
    }
    switch (command) {
      case 'stop':
        void this.shutdown(signal);
        return;
      case 'reload':
        this.reload((line) => log.info(line)).catch((error: Error) => {
          log.warn({ signal, err: { message: error.message } }, 'rolling restart refused');
        });
        return;
      case 'scale-up':
      case 'scale-down':
        this.supervisor.scaleBy(command === 'scale-up' ? 1 : -1);
    }
  }

  /**
   * A reload deploys: it re-reads the environment file (PULSE_ENV_FILE, the one systemd's
   * EnvironmentFile= names) and validates it, runs pending migrations, and only then replaces
   * the workers, which get the new environment. Anything wrong before the first fork refuses
   * the reload with the old workers serving: an invalid file (ConfigError/EnvFileError,
   * naming the variable or line), a failing migration.
   */
  private async reload(onProgress: (line: string) => void): Promise<RolloutResult> {
    if (this.supervisor.isStopping) throw new ShutdownInProgressError();
    if (this.reloading || this.supervisor.isRolling) throw new RolloutInProgressError();
    this.reloading = true;
    try {
      let workerEnv: Record<string, string> | undefined;
      let migrationUrl = this.config.databaseMigrationUrl;
      const file = this.config.envFile;
      if (file) {
        onProgress(`reading ${file}`);
        const plan = planReload(this.startEnv, this.startFileVariables, loadEnvFile(file));
        for (const { variable, running, file: wanted } of plan.needsRestart) {
          onProgress(`${variable} changed (${running || '(unset)'} -> ${wanted || '(unset)'}): it takes a restart of pulse; the new workers keep ${running || 'the default'}`);
        }
        workerEnv = plan.workerEnv;
        migrationUrl = plan.config.databaseMigrationUrl;
      }
      onProgress('running pending database migrations');
      let applied: string[];
      try {
        applied = (await runMigrations(migrationUrl, this.migrationsToDeploy)).applied;
      } catch (error) {
        throw new Error(`database migration failed, no worker replaced: ${(error as Error).message}`);
      }
      onProgress(applied.length ? `migrations applied: ${applied.join(', ')}` : 'database schema up to date');
      return await this.supervisor.startRollout(onProgress, workerEnv);
    } finally {
      this.reloading = false;
    }
  }

  /**
   * The one shutdown sequence: readiness off (and, for SHUTDOWN_DELAY_MS, nothing else:
   * load balancers take the host out of rotation while it still serves), stop accepting,
   * drain every worker, close, exit with the truth.
   */
  private async shutdown(signal: string): Promise<void> {
    this.phase = 'stopping';
    this.schema.stop();
    this.supervisor.announceStop();
    const delayMs = this.config.shutdownDelayMs;
    this.log.info({ signal, workers: this.supervisor.workers.length, delayMs }, 'shutdown started');
    if (delayMs > 0) {
      this.log.info({ delayMs }, 'readiness is 503; still serving while load balancers take this host out of rotation');
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
    await this.cluster.stopAccepting();
    const report = await this.supervisor.stop();
    await new Promise<void>((resolve) => {
      this.admin.close(() => resolve());
      this.admin.closeAllConnections();
    });
    if (report.clean) {
      this.log.info({ durationMs: report.durationMs }, 'shutdown complete: every worker drained');
      return this.exit(0);
    }
    for (const problem of report.problems) this.log.error({ problem }, 'shutdown was not clean');
    this.log.error({ durationMs: report.durationMs, problems: report.problems.length }, 'shutdown finished with problems');
    this.exit(1);
  }

  private exit(code: number): never {
    clearInterval(this.timer);
    process.exit(code);
  }
}
