import type { Context, Next } from 'koa';
import { UNMATCHED_ROUTE, type AppMetrics } from './metrics.js';

/** The status Koa answers for an error that escapes the middleware chain. */
function statusOfEscapedError(error: unknown): number {
  const { status, statusCode } = (error ?? {}) as { status?: unknown; statusCode?: unknown };
  const candidate = status ?? statusCode;
  return typeof candidate === 'number' && candidate >= 400 && candidate < 600 ? candidate : 500;
}

/** Finds the route pattern a request would match when the router never ran (e.g. rate limited). */
export type RoutePatternOf = (ctx: Context) => string | undefined;

/** Counts and times every request by route pattern (never the raw URL). */
export function requestMetrics(metrics: AppMetrics, patternOf: RoutePatternOf = () => undefined) {
  return async (ctx: Context, next: Next): Promise<void> => {
    const stopTimer = metrics.httpRequestDuration.startTimer();
    const record = (status: number) => {
      const labels = {
        method: ctx.method,
        route: (ctx._matchedRoute as string | undefined) ?? patternOf(ctx) ?? UNMATCHED_ROUTE,
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
