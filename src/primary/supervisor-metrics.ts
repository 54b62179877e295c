import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { HealthAnswer } from '../shared/ipc-protocol.js';

export type RestartReason = 'crash' | 'hung' | 'memory' | 'max_requests' | 'rolling' | 'startup_timeout';

/** The primary's own metrics, exported next to the workers' aggregated ones. */
export function createSupervisorMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'pulse_primary_' });
  const m = {
    registry,
    workersExpected: new Gauge({ name: 'pulse_workers_expected', help: 'Workers the supervisor is configured to run', registers: [registry] }),
    workersReady: new Gauge({ name: 'pulse_workers_ready', help: 'Workers that reported ready and are not draining', registers: [registry] }),
    workerRestarts: new Counter({
      name: 'pulse_worker_restarts_total',
      help: 'Workers replaced, by reason (crash, hung, memory, max_requests, rolling, startup_timeout)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    forcedKills: new Counter({ name: 'pulse_worker_forced_kills_total', help: 'Workers SIGKILLed by the supervisor', registers: [registry] }),
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
      help: '1 when every ready worker reports the dependency connected',
      labelNames: ['dependency'] as const,
      registers: [registry],
    }),
    workersUnresponsive: new Gauge({
      name: 'pulse_workers_unresponsive',
      help: 'Ready workers whose health report is overdue (blocked event loop, stopped process)',
      registers: [registry],
    }),
    healthy: new Gauge({ name: 'pulse_healthy', help: '1 when /health answers 200', registers: [registry] }),
    metricsScrapeMisses: new Counter({
      name: 'pulse_metrics_scrape_worker_misses_total',
      help: 'Workers that did not answer a metrics scrape in time',
      registers: [registry],
    }),
  };
  // Every series exists from the start, so that rate() and alerts see the first increment.
  for (const reason of ['crash', 'hung', 'memory', 'max_requests', 'rolling', 'startup_timeout'] satisfies RestartReason[]) {
    m.workerRestarts.inc({ reason }, 0);
  }
  for (const result of ['succeeded', 'failed']) m.rollingRestarts.inc({ result }, 0);
  return m;
}

export type SupervisorMetrics = ReturnType<typeof createSupervisorMetrics>;

/** Exports the health just computed, so Prometheus sees what load balancers see. */
export function recordHealth(metrics: SupervisorMetrics, answer: HealthAnswer): void {
  const { body } = answer;
  metrics.healthy.set(answer.httpStatus === 200 ? 1 : 0);
  metrics.dependencyUp.set({ dependency: 'database' }, body.database === 'connected' ? 1 : 0);
  metrics.dependencyUp.set({ dependency: 'redis' }, body.redis === 'connected' ? 1 : 0);
  metrics.workersUnresponsive.set(body.details.filter((detail) => detail.status === 'unresponsive').length);
}
