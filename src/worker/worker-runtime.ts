import cluster from 'node:cluster';
import http from 'node:http';
import { createApp } from '../app/app.js';
import { createAppMetrics } from '../app/metrics.js';
import { closeRedis, createRedis, pingRedis } from '../cache/redis.js';
import { createDatabase, pingDatabase } from '../db/database.js';
import type { Config } from '../shared/config.js';
import { DeadlineError, withDeadline } from '../shared/deadline.js';
import { WorkerExit } from '../shared/ipc-protocol.js';
import { createLogger, type Logger } from '../shared/logger.js';
import { answerClientErrorsWithJson } from './client-errors.js';
import { ConnectionDrainer } from './connection-drainer.js';
import { HealthProbe } from './health-reporter.js';
import { PrimaryChannel } from './primary-channel.js';

const POOL_CLOSE_TIMEOUT_MS = 2000;
const HEALTH_ANSWER_TIMEOUT_MS = 1000;

/** How closing a pool went; never throws, so a failed close cannot stop the exit. */
function closeWithin(closing: Promise<unknown>, what: string): Promise<'closed' | 'timeout' | 'failed'> {
  return withDeadline(closing, POOL_CLOSE_TIMEOUT_MS, what).then(
    () => 'closed' as const,
    (error: unknown) => (error instanceof DeadlineError ? 'timeout' : 'failed'),
  );
}

async function waitUntil(check: () => Promise<boolean>, log: Logger, what: string): Promise<void> {
  let delay = 100;
  for (let attempt = 1; !(await check()); attempt += 1) {
    if (attempt % 10 === 3) log.warn({ attempt }, `waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, 2000);
  }
}

/**
 * One HTTP worker: connects to Postgres and Redis, listens, reports `ready`, sends a
 * health report (its heartbeat) every interval, and drains on request, on SIGTERM or
 * SIGINT, or when the primary goes away.
 */
export async function runWorker(config: Config): Promise<void> {
  const workerId = cluster.worker?.id ?? 0;
  const log = createLogger(`worker-${workerId}`, config.logLevel);
  const channel = new PrimaryChannel();
  const db = createDatabase(config.databaseUrl, config.databasePoolMax, log, config);
  // Health pings get their own connection: a saturated request pool is busy, not disconnected.
  const healthDb = createDatabase(config.databaseUrl, 1, log, config);
  const redis = createRedis(config.redisUrl, log);
  const metrics = createAppMetrics({ db, redis });

  const app = createApp({
    config,
    db,
    redis,
    log,
    metrics,
    health: () => channel.requestHealth(HEALTH_ANSWER_TIMEOUT_MS),
  });
  const server = http.createServer(app.callback());
  answerClientErrorsWithJson(server);
  server.keepAliveTimeout = 5000;
  const drainer = new ConnectionDrainer(server);
  const probe = new HealthProbe(healthDb, redis, drainer);
  let heartbeat: NodeJS.Timeout | undefined;
  let stopping: Promise<void> | undefined;

  const stop = (reason: string): Promise<void> => {
    stopping ??= (async () => {
      clearInterval(heartbeat);
      log.info({ reason, inflight: drainer.inflight }, 'drain started');
      void channel.send({ type: 'drain-started', reason, inflight: drainer.inflight });
      const summary = await drainer.drain(config.shutdownTimeoutMs);
      const logDrain = summary.cut > 0 ? log.warn.bind(log) : log.info.bind(log);
      logDrain({ ...summary, requestsServed: drainer.requestsServed }, summary.cut > 0 ? 'drain deadline reached, connections cut' : 'drain finished');
      probe.stop();
      const [dbClosed, redisClosed] = await Promise.all([
        closeWithin(Promise.all([db.destroy(), healthDb.destroy()]), 'closing the database pools'),
        closeWithin(closeRedis(redis), 'closing redis'),
      ]);
      if (redisClosed !== 'closed') redis.destroy();
      log.info({ database: dbClosed, redis: redisClosed === 'closed' ? 'closed' : 'destroyed' }, 'pools closed');
      const finalMetrics = await metrics.registry.getMetricsAsJSON();
      await channel.send({ type: 'drain-finished', summary, finalMetrics });
      log.info('stopped');
      process.exit(summary.cut > 0 ? WorkerExit.drainTimedOut : WorkerExit.clean);
    })();
    return stopping;
  };

  // Node's cluster child exits at once when the IPC channel closes; drain instead, then exit.
  process.removeAllListeners('disconnect');
  process.on('disconnect', () => void stop('primary gone'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  channel.onMessage(async (message) => {
    if (message.type === 'drain') void stop(message.reason);
    if (message.type === 'metrics-request') {
      // A failing collect() must cost one scrape (the primary counts a miss), never the worker.
      const snapshot = await metrics.registry.getMetricsAsJSON().catch((error: Error) => {
        log.error({ err: error }, 'cannot collect metrics');
        return undefined;
      });
      if (snapshot) void channel.send({ type: 'metrics-response', requestId: message.requestId, metrics: snapshot });
    }
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  }).catch((error: Error) => {
    log.fatal({ err: error }, 'cannot listen');
    process.exit(WorkerExit.startupFailed);
  });

  redis.connect().catch(() => undefined);
  await Promise.all([
    waitUntil(() => pingDatabase(db, 1000), log, 'database'),
    waitUntil(() => pingRedis(redis, 1000), log, 'redis'),
  ]);
  if (stopping) return;

  const report = async () => {
    if (stopping) return;
    const health = await probe.measure();
    if (!stopping) void channel.send({ type: 'health-report', report: health });
  };
  await report();
  heartbeat = setInterval(() => void report(), config.healthReportIntervalMs);
  await channel.send({ type: 'ready' });
  log.info({ port: config.port }, 'ready');
}
