import { BrokenCircuitError, CircuitState, ConsecutiveBreaker, circuitBreaker, handleAll, type CircuitBreakerPolicy } from 'cockatiel';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Config } from '../shared/config.js';
import type { Logger } from '../shared/logger.js';

/** Who made a Redis call (a metric label). */
export type RedisCaller = 'rate_limit' | 'entry_list_cache';
export type RedisBreakerState = 'closed' | 'open' | 'half_open';

const STATE_NAMES: Record<CircuitState, RedisBreakerState> = {
  [CircuitState.Closed]: 'closed',
  [CircuitState.Open]: 'open',
  [CircuitState.HalfOpen]: 'half_open',
  // Never used here (isolate() is not called); open is what it means.
  [CircuitState.Isolated]: 'open',
};
const ALL_STATES: RedisBreakerState[] = ['closed', 'open', 'half_open'];
const ALL_CALLERS: RedisCaller[] = ['rate_limit', 'entry_list_cache'];

/** What a caller gets instead of a Redis answer while the breaker is open or probing. */
export class RedisBreakerOpenError extends Error {
  constructor() {
    super('redis breaker is open: call skipped');
    this.name = 'RedisBreakerOpenError';
  }
}

export interface RedisBreakerMetrics {
  state: Gauge<'state'>;
  shortCircuits: Counter<'caller'>;
  transitions: Counter<'to'>;
}

export function createRedisBreakerMetrics(registry: Registry): RedisBreakerMetrics {
  const metrics: RedisBreakerMetrics = {
    state: new Gauge({
      name: 'pulse_redis_breaker_state',
      help: "1 for the state this worker's Redis breaker is in (closed, open, half_open); summed over workers: how many are in each state",
      labelNames: ['state'] as const,
      registers: [registry],
    }),
    shortCircuits: new Counter({
      name: 'pulse_redis_breaker_short_circuits_total',
      help: 'Redis calls skipped because the breaker was open or probing, by caller (rate_limit: request let through, entry_list_cache: database used)',
      labelNames: ['caller'] as const,
      registers: [registry],
    }),
    transitions: new Counter({
      name: 'pulse_redis_breaker_transitions_total',
      help: 'Redis breaker state changes, by the state entered (open, half_open, closed)',
      labelNames: ['to'] as const,
      registers: [registry],
    }),
  };
  for (const caller of ALL_CALLERS) metrics.shortCircuits.inc({ caller }, 0);
  for (const to of ALL_STATES) metrics.transitions.inc({ to }, 0);
  return metrics;
}

/**
 * The circuit breaker of one worker's Redis client, shared by everything that calls Redis
 * on a request's path, so that a hung Redis costs a few deadlines instead of one per call:
 * - closed: calls go to Redis; `REDIS_BREAKER_THRESHOLD` failures in a row (errors or
 *   missed deadlines) open it;
 * - open: for `REDIS_BREAKER_COOL_OFF_MS` every call is skipped at once with a
 *   RedisBreakerOpenError (the limiter lets the request through, the cache reads the
 *   database), counted by caller;
 * - half-open: the first call after the cool-off is a probe; the others are still
 *   skipped until it settles. Success closes the breaker, failure opens it again.
 * cockatiel does the counting and the state machine; on its own it makes every call
 * during a probe wait for the probe, which is the very wait this is here to avoid, so
 * those calls are skipped here instead. State changes go to metrics; the log gets one
 * line when the breaker opens and one when it closes (with what happened in between),
 * not a line per probe.
 */
export class RedisBreaker {
  private readonly policy: CircuitBreakerPolicy;
  private outage: { startedAt: number; failedProbes: number; skipped: number } | undefined;

  constructor(
    private readonly config: Pick<Config, 'redisBreakerThreshold' | 'redisBreakerCoolOffMs'>,
    private readonly metrics: RedisBreakerMetrics,
    private readonly log: Logger,
  ) {
    this.policy = circuitBreaker(handleAll, {
      halfOpenAfter: config.redisBreakerCoolOffMs,
      breaker: new ConsecutiveBreaker(config.redisBreakerThreshold),
    });
    this.policy.onStateChange((state) => this.entered(STATE_NAMES[state]));
    this.publish('closed');
  }

  get state(): RedisBreakerState {
    return STATE_NAMES[this.policy.state];
  }

  /** Runs `operation` (one Redis call, bounded by its own deadline) unless the breaker skips it. */
  async run<T>(caller: RedisCaller, operation: () => Promise<T>): Promise<T> {
    if (this.policy.state === CircuitState.HalfOpen) throw this.skip(caller);
    try {
      return await this.policy.execute(operation);
    } catch (error) {
      if (error instanceof BrokenCircuitError) throw this.skip(caller);
      throw error;
    }
  }

  private skip(caller: RedisCaller): RedisBreakerOpenError {
    this.metrics.shortCircuits.inc({ caller });
    if (this.outage) this.outage.skipped += 1;
    return new RedisBreakerOpenError();
  }

  private entered(state: RedisBreakerState): void {
    this.publish(state);
    this.metrics.transitions.inc({ to: state });
    if (state === 'open') {
      if (this.outage) {
        this.outage.failedProbes += 1;
        return;
      }
      this.outage = { startedAt: performance.now(), failedProbes: 0, skipped: 0 };
      const failure = this.policy.lastFailure;
      const reason = failure && 'error' in failure ? failure.error.message : undefined;
      this.log.warn(
        { err: { message: reason }, failuresInARow: this.config.redisBreakerThreshold, coolOffMs: this.config.redisBreakerCoolOffMs },
        'redis breaker opened: skipping Redis (rate limiter lets requests through, cache reads the database) until a probe succeeds',
      );
    } else if (state === 'closed' && this.outage) {
      const { startedAt, failedProbes, skipped } = this.outage;
      this.outage = undefined;
      this.log.info({ openForMs: Math.round(performance.now() - startedAt), skippedCalls: skipped, failedProbes }, 'redis breaker closed: Redis answers again');
    }
  }

  private publish(current: RedisBreakerState): void {
    for (const state of ALL_STATES) this.metrics.state.set({ state }, state === current ? 1 : 0);
  }
}

export function isBreakerOpen(error: unknown): boolean {
  return error instanceof RedisBreakerOpenError;
}
