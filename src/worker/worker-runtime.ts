import cluster from 'node:cluster';
import http from 'node:http';
import { createApp } from '../app/app.js';
import { createAppMetrics } from '../app/metrics.js';
import { closeRedis, createRedis, pingRedis, type RedisClient } from '../cache/redis.js';
import { createDatabase, pingDatabase, type Database } from '../db/database.js';
import { workerRequestPoolSize } from '../db/pool-budget.js';
import { registerBuildInfo } from '../shared/build-info.js';
import type { Config } from '../shared/config.js';
import { DeadlineError, withDeadline } from '../shared/deadline.js';
import { NOT_CONFIGURED } from '../shared/health-types.js';
import { WorkerEnv, WorkerExit, type DrainSummary } from '../shared/ipc-protocol.js';
import { createLogger } from '../shared/logger.js';
import { POOL_CLOSE_TIMEOUT_MS } from '../shared/shutdown-budget.js';
import { answerClientErrorsWithJson } from './client-errors.js';
import { ConnectionDrainer } from './connection-drainer.js';
import { limitConnections } from './connection-limit.js';
import { ConnectionTracker } from './connection-tracker.js';
import { HealthProbe } from './health-probe.js';
import { ConnectionTimeouts } from './connection-timeouts.js';
import { listenTarget } from './listen-target.js';
import type { PrimaryChannel } from './primary-channel.js';

const HEALTH_ANSWER_TIMEOUT_MS = 1000;
/**
 * How long a booting worker tries its dependencies before it reports what it reached.
 * A dependency that is down does not stop the boot: the worker serves degraded (the
 * limiter fails open, the cache is bypassed, database routes answer 503), exactly as when
 * the dependency fails later, and keeps reconnecting.
 */
const BOOT_DEPENDENCY_WAIT_MS = 2000;
const BOOT_PING_TIMEOUT_MS = 1000;
const NOTHING_DRAINED: DrainSummary = { inflightAtStart: 0, cut: 0, durationMs: 0 };

/** How closing a pool went; never throws, so a failed close cannot stop the exit. */
function closeWithin(closing: Promise<unknown>, what: string): Promise<'closed' | 'timeout' | 'failed'> {
  return withDeadline(closing, POOL_CLOSE_TIMEOUT_MS, what).then(
    () => 'closed' as const,
    (error: unknown) => (error instanceof DeadlineError ? 'timeout' : 'failed'),
  );
}

async function tryDependencies(db: Database, redis: RedisClient | undefined): Promise<void> {
  const giveUpAt = performance.now() + BOOT_DEPENDENCY_WAIT_MS;
  const until = async (reached: () => Promise<boolean>) => {
    while (!(await reached()) && performance.now() < giveUpAt) await new Promise((resolve) => setTimeout(resolve, 100));
  };
  await Promise.all([until(() => pingDatabase(db, BOOT_PING_TIMEOUT_MS)), redis && until(() => pingRedis(redis, BOOT_PING_TIMEOUT_MS))]);
}

/**
 * One HTTP worker. Boots (connects to Postgres and Redis, reports `booted` with what it
 * reached), listens only when the primary admits it (`serve`), reports `ready`, sends a
 * health report (its heartbeat) every interval, and stops on `drain`, on SIGTERM or
 * SIGINT, or when the primary goes away: a worker that never listened just closes its
 * pools; a serving one drains first.
 */
export async function runWorker(config: Config, channel: PrimaryChannel): Promise<void> {
  const log = createLogger('worker', config.logLevel).child({ worker: cluster.worker?.id ?? Number(process.env[WorkerEnv.id] ?? 0) });
  // The primary gives each worker its share of the host's DATABASE_POOL_MAX (one of it is the health connection).
  const poolSize = Number(process.env[WorkerEnv.databasePool]) || workerRequestPoolSize(config.databasePoolMax, config.workers);
  const db = createDatabase(config.databaseUrl, { poolMax: poolSize, log, settings: config });
  // Health pings get their own connection: a saturated request pool is busy, not disconnected.
  const healthDb = createDatabase(config.databaseUrl, { poolMax: 1, log, settings: config });
  // Without REDIS_URL: no client; the primary counts the rate limits and there is no entry list cache.
  const redis = config.redisUrl === undefined ? undefined : createRedis(config.redisUrl, log);
  const metrics = createAppMetrics({ db, redis });
  registerBuildInfo(metrics.registry, 'pulse_worker_build_info', 'Workers by the build they run (a rolling restart moves them to the new one)');

  const app = createApp({
    config,
    db,
    redis,
    primaryStore: channel,
    log,
    metrics,
    health: () => channel.requestHealth(HEALTH_ANSWER_TIMEOUT_MS),
  });
  // Node's own headers, request and keep-alive timeouts are off: ConnectionTimeouts keeps
  // them instead, without counting time the process was paused.
  const server = http.createServer({ headersTimeout: 0, requestTimeout: 0, keepAliveTimeout: 0 }, app.callback());
  answerClientErrorsWithJson(server);
  const connections = new ConnectionTracker(server);
  limitConnections(connections, config.maxConnectionsPerWorker, metrics.registry, log);
  const timeouts = new ConnectionTimeouts(connections, {
    headersTimeoutMs: config.httpHeadersTimeoutMs,
    requestTimeoutMs: config.httpRequestTimeoutMs,
    keepAliveTimeoutMs: config.httpKeepAliveTimeoutMs,
  });
  const drainer = new ConnectionDrainer(server, connections);
  const probe = new HealthProbe(healthDb, redis, connections);
  let heartbeat: NodeJS.Timeout | undefined;
  let listening: Promise<void> | undefined;
  let stopping: Promise<void> | undefined;

  const finish = async (summary: DrainSummary, exitCode: number): Promise<never> => {
    probe.stop();
    timeouts.stop();
    const [dbClosed, redisClosed] = await Promise.all([
      closeWithin(Promise.all([db.destroy(), healthDb.destroy()]), 'closing the database pools'),
      redis && closeWithin(closeRedis(redis), 'closing redis'),
    ]);
    if (redis && redisClosed !== 'closed') redis.destroy();
    const redisOutcome = !redis ? NOT_CONFIGURED : redisClosed === 'closed' ? 'closed' : 'destroyed';
    log.info({ database: dbClosed, redis: redisOutcome }, 'pools closed');
    const finalMetrics = await metrics.registry.getMetricsAsJSON().catch(() => []);
    await channel.send({ type: 'drain-finished', summary, finalMetrics });
    log.info('stopped');
    process.exit(exitCode);
  };

  const stop = (reason: string): Promise<void> => {
    stopping ??= (async () => {
      clearInterval(heartbeat);
      // Admitted and listening: connections handed over meanwhile are drained, never reset.
      if (listening) await listening;
      if (!server.listening) {
        log.info({ reason }, 'stopped before serving');
        await finish(NOTHING_DRAINED, WorkerExit.clean);
      }
      log.info({ reason, inflight: connections.inflight }, 'drain started');
      void channel.send({ type: 'drain-started' });
      const summary = await drainer.drain(config.shutdownTimeoutMs);
      const logDrain = summary.cut > 0 ? log.warn.bind(log) : log.info.bind(log);
      logDrain({ ...summary, requestsServed: connections.requestsServed }, summary.cut > 0 ? 'drain deadline reached, connections cut' : 'drain finished');
      await finish(summary, summary.cut > 0 ? WorkerExit.drainTimedOut : WorkerExit.clean);
    })();
    return stopping;
  };

  const target = listenTarget(config);
  const serve = () => {
    if (stopping || listening) return;
    listening = new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(target.options, () => {
        server.off('error', reject);
        resolve();
      });
    }).then(
      () => {
        void channel.send({ type: 'ready' });
        log.info({ listen: target.description }, 'ready');
      },
      async (error: Error) => {
        log.fatal({ err: error }, 'cannot listen');
        await channel.send({ type: 'boot-failed', error: `cannot listen on ${target.description}: ${error.message}` });
        process.exit(WorkerExit.startupFailed);
      },
    );
  };

  // Node's cluster child exits at once when the IPC channel closes; drain instead, then exit.
  process.removeAllListeners('disconnect');
  process.on('disconnect', () => void stop('primary gone'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  channel.onMessage(async (message) => {
    if (message.type === 'drain') void stop(message.reason);
    else if (message.type === 'serve') serve();
    else if (message.type === 'metrics-request') {
      // A failing collect() must cost one scrape (the primary counts a miss), never the worker.
      const snapshot = await metrics.registry.getMetricsAsJSON().catch((error: Error) => {
        log.error({ err: error }, 'cannot collect metrics');
        return undefined;
      });
      if (snapshot) void channel.send({ type: 'metrics-response', requestId: message.requestId, metrics: snapshot });
    }
  });

  redis?.connect().catch(() => undefined);
  await tryDependencies(healthDb, redis);
  if (stopping) return;
  const report = async () => {
    if (stopping) return;
    const health = await probe.measure();
    if (!stopping) void channel.send({ type: 'health-report', report: health });
  };
  const first = await probe.measure();
  if (stopping) return;
  heartbeat = setInterval(() => void report(), config.healthReportIntervalMs);
  await channel.send({ type: 'booted', report: first });
  log.info({ database: first.database, redis: first.redis }, 'booted; waiting for the primary to admit it');
}
