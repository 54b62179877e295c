import type { Context, Next } from 'koa';
import { UNMATCHED_ROUTE, type AppMetrics } from './metrics.js';

/** Counts and times every request by route pattern (never the raw URL). */
export function requestMetrics(metrics: AppMetrics) {
  return async (ctx: Context, next: Next): Promise<void> => {
    const stopTimer = metrics.httpRequestDuration.startTimer();
    try {
      await next();
    } finally {
      const labels = {
        method: ctx.method,
        route: (ctx._matchedRoute as string | undefined) ?? UNMATCHED_ROUTE,
        status: String(ctx.status),
      };
      metrics.httpRequestsTotal.inc(labels);
      stopTimer(labels);
    }
  };
}
