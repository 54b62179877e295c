import type { Context, Next } from 'koa';
import type { AppMetrics } from './metrics.js';
import { routeLabel, type RoutePatternOf } from './route-label.js';

/** The status Koa answers for an error that escapes the middleware chain. */
function statusOfEscapedError(error: unknown): number {
  const { status, statusCode } = (error ?? {}) as { status?: unknown; statusCode?: unknown };
  const candidate = status ?? statusCode;
  return typeof candidate === 'number' && candidate >= 400 && candidate < 600 ? candidate : 500;
}

/** Counts and times every request by route pattern (never the raw URL). */
export function requestMetrics(metrics: AppMetrics, patternOf: RoutePatternOf = () => undefined) {
  return async (ctx: Context, next: Next): Promise<void> => {
    const stopTimer = metrics.httpRequestDuration.startTimer();
    const record = (status: number) => {
      const labels = {
        method: ctx.method,
        route: routeLabel(ctx, patternOf),
        status: String(status),
      };
      metrics.httpRequestsTotal.inc(labels);
      stopTimer(labels);
    };
    try {
      await next();
    } catch (error) {
      record(statusOfEscapedError(error));
      throw error;
    }
    record(ctx.status);
  };
}
