import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { registerBuildInfo } from '../shared/build-info.js';
import { NOT_CONFIGURED, type HealthAnswer } from '../shared/health-types.js';
import { RESTART_REASONS } from './managed-worker.js';

/** Why the supervisor SIGKILLed a worker. */
export const FORCED_KILL_REASONS = ['hung', 'startup_timeout', 'stop_timeout'] as const;

/** The primary's own metrics, exported next to the workers' aggregated ones. */
export function createSupervisorMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'pulse_primary_' });
  const m = {
    registry,
    workersExpected: new Gauge({ name: 'pulse_workers_expected', help: 'Workers the supervisor is configured to run', registers: [registry] }),
    workersReady: new Gauge({ name: 'pulse_workers_ready', help: 'Workers that are listening and not draining', registers: [registry] }),
    workers: new Gauge({
      name: 'pulse_workers',
      help: 'Worker processes by generation (a rolling restart moves them to the next one) and state (forked, booting, ready, draining)',
      labelNames: ['generation', 'state'] as const,
      registers: [registry],
    }),
    workerRestarts: new Counter({
      name: 'pulse_worker_restarts_total',
      help: `Workers that left and were replaced, by reason (${RESTART_REASONS.join(', ')})`,
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    forcedKills: new Counter({
      name: 'pulse_worker_forced_kills_total',
      help: `Workers SIGKILLed by the supervisor, by reason (${FORCED_KILL_REASONS.join(', ')})`,
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    strandedConnections: new Counter({
      name: 'pulse_stranded_connections_total',
      help: 'Connections an exited worker had been handed but never took: rescued (handed to another worker) or closed',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
    lastShutdownSeconds: new Gauge({ name: 'pulse_last_drain_duration_seconds', help: 'Duration of the last worker drain', registers: [registry] }),
    rollingRestartInProgress: new Gauge({ name: 'pulse_rolling_restart_in_progress', help: '1 while a rolling restart runs', registers: [registry] }),
    rollingRestarts: new Counter({
      name: 'pulse_rolling_restarts_total',
      help: 'Rolling restarts finished, by result (succeeded, failed)',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    lastRollingRestartSeconds: new Gauge({ name: 'pulse_last_rolling_restart_duration_seconds', help: 'Duration of the last rolling restart', registers: [registry] }),
    dependencyUp: new Gauge({
      name: 'pulse_dependency_up',
      help: '1 when every ready worker reports the dependency connected, 0 when one does not; absent while no ready worker has measured it, and for Redis when REDIS_URL is not set',
      labelNames: ['dependency'] as const,
      registers: [registry],
    }),
    workersUnresponsive: new Gauge({
      name: 'pulse_workers_unresponsive',
      help: 'Ready workers whose health report is overdue (blocked event loop, stopped process)',
      registers: [registry],
    }),
    healthy: new Gauge({ name: 'pulse_healthy', help: '1 when /health answers 200', registers: [registry] }),
    rateLimitEvictions: new Counter({
      name: 'pulse_rate_limit_primary_evictions_total',
      help: "Rate-limit windows the primary dropped early to stay within its client cap (single-host store, no REDIS_URL): each such client's count restarted",
      registers: [registry],
    }),
    metricsScrapeMisses: new Counter({
      name: 'pulse_metrics_scrape_worker_misses_total',
      help: 'Workers that did not answer a metrics scrape in time',
      registers: [registry],
    }),
  };
  registerBuildInfo(registry, 'pulse_build_info', "The primary's build: package version, git commit of the build, Node.js version (always 1)");
  // Every series exists from the start, so that rate() and alerts see the first increment.
  for (const reason of RESTART_REASONS) m.workerRestarts.inc({ reason }, 0);
  for (const reason of FORCED_KILL_REASONS) m.forcedKills.inc({ reason }, 0);
  for (const outcome of ['rescued', 'closed']) m.strandedConnections.inc({ outcome }, 0);
  for (const result of ['succeeded', 'failed']) m.rollingRestarts.inc({ result }, 0);
  return m;
}

export type SupervisorMetrics = ReturnType<typeof createSupervisorMetrics>;

/** Exports the health just computed, so Prometheus sees what load balancers see. */
export function recordHealth(metrics: SupervisorMetrics, answer: HealthAnswer): void {
  const { body } = answer;
  metrics.healthy.set(answer.httpStatus === 200 ? 1 : 0);
  for (const dependency of ['database', 'redis'] as const) {
    const status = body[dependency];
    // No evidence, no sample: an alert must not fire on a dependency nobody could measure,
    // nor on one that was never configured (Redis without REDIS_URL).
    if (status === 'unknown' || status === NOT_CONFIGURED) metrics.dependencyUp.remove({ dependency });
    else metrics.dependencyUp.set({ dependency }, status === 'connected' ? 1 : 0);
  }
  metrics.workersUnresponsive.set(body.details.filter((detail) => detail.status === 'unresponsive').length);
}
