import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runMigrations } from '../db/migrations-runner.js';
import { loadConfigOrExit, usesDevelopmentJwtSecret } from '../shared/config.js';
import { ExitCode } from '../shared/exit-codes.js';
import { createLogger, redactUrl } from '../shared/logger.js';
import { createAdminServer } from './admin-server.js';
import { ControlServer, ControlSocketInUseError } from './control-server.js';
import { computeHealth, staleAfterMs } from './health.js';
import { MetricsCollector } from './metrics-collector.js';
import { holdSignalsDuringStartup, installSignalHandlers } from './signals.js';
import { Supervisor } from './supervisor.js';
import { createSupervisorMetrics, recordHealth } from './supervisor-metrics.js';

/**
 * Workers are forked through the path the primary was started with, not its realpath
 * (Node resolves symlinks for the main module): after a deploy that swaps a
 * `current -> releases/N` symlink, the next reload forks workers from the new release.
 */
function workerEntry(): string {
  const self = fileURLToPath(import.meta.url);
  const startedAs = process.argv[1] ? path.resolve(process.argv[1]) : undefined;
  let base = self;
  try {
    if (startedAs && fs.realpathSync(startedAs) === self) base = startedAs;
  } catch {
    // started some other way (a process manager's wrapper): use our own location
  }
  return path.resolve(path.dirname(base), '../../workers/http-worker.js');
}

const WORKER_ENTRY = workerEntry();
const METRICS_WORKER_TIMEOUT_MS = 1000;

const config = loadConfigOrExit();
const log = createLogger('primary', config.logLevel);
log.info(
  {
    workers: config.workers,
    port: config.port,
    adminPort: config.adminPort,
    database: redactUrl(config.databaseUrl),
    redis: redactUrl(config.redisUrl),
    shutdownTimeoutMs: config.shutdownTimeoutMs,
  },
  'starting primary',
);
const releaseStartupSignals = holdSignalsDuringStartup(log);
if (usesDevelopmentJwtSecret(config)) log.warn('JWT_SECRET is not set: using the development secret (never do this in production)');

try {
  const migration = await runMigrations(config.databaseUrl);
  if (migration.createdDatabase) log.info('database created');
  log.info({ applied: migration.applied }, migration.applied.length ? 'migrations applied' : 'database schema up to date');
} catch (error) {
  log.fatal({ err: { message: (error as Error).message, code: (error as { code?: string }).code } }, 'cannot migrate the database; not starting');
  process.exit(1);
}

const metrics = createSupervisorMetrics();
const supervisor = new Supervisor(config, log, metrics, WORKER_ENTRY);
const collector = new MetricsCollector(supervisor, metrics, METRICS_WORKER_TIMEOUT_MS);
let draining = false;

function currentHealth() {
  const answer = computeHealth({
    workers: supervisor.workers.values(),
    expected: supervisor.expected,
    draining,
    staleAfterMs: staleAfterMs(config.healthReportIntervalMs),
  });
  recordHealth(metrics, answer);
  return answer;
}

supervisor.on('worker-message', (worker, message) => {
  if (message.type === 'health-request') {
    supervisor.send(worker, { type: 'health-response', requestId: message.requestId, answer: currentHealth() });
  }
});
supervisor.on('all-ready', () => {
  // pm2 (fork mode, wait_ready) waits for this message before it considers the app online.
  // With a callback a closed channel (pm2 gone) is ignored instead of crashing the primary.
  if (process.send) process.send('ready', undefined, undefined, () => undefined);
});

const admin = createAdminServer(
  {
    health: currentHealth,
    metrics: () => {
      currentHealth();
      return collector.scrape();
    },
  },
  log,
);
// Before the admin port: a second primary on the same socket gets the clearer error.
const control = new ControlServer({ supervisor, health: currentHealth, log, isShuttingDown: () => draining });
try {
  await control.listen(config.controlSocket);
} catch (error) {
  log.fatal({ controlSocket: config.controlSocket }, `cannot open the control socket: ${(error as Error).message}`);
  process.exit(error instanceof ControlSocketInUseError ? ExitCode.controlSocketInUse : ExitCode.failure);
}
process.on('exit', () => control.removeSocketFile());
log.info({ controlSocket: config.controlSocket }, 'control socket listening');

await new Promise<void>((resolve) => {
  admin.once('error', (error) => {
    log.fatal({ err: error, adminHost: config.adminHost, adminPort: config.adminPort }, 'cannot start the admin server');
    process.exit(1);
  });
  admin.listen(config.adminPort, config.adminHost, resolve);
});
log.info({ adminHost: config.adminHost, adminPort: config.adminPort }, 'admin server listening');

supervisor.start(config.workers);

releaseStartupSignals();
installSignalHandlers({
  log,
  supervisor,
  onDrainStart: () => {
    draining = true;
  },
  closeAdmin: () => new Promise<void>((resolve) => {
    admin.close(() => resolve());
    admin.closeAllConnections();
  }),
});
