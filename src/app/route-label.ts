import type { Context } from 'koa';
import { UNMATCHED_ROUTE } from './metrics.js';

/** Finds the route pattern a request would match when the router never ran (e.g. rate limited). */
export type RoutePatternOf = (ctx: Context) => string | undefined;

/**
 * The route pattern of a request for metrics and logs, never the raw URL (cardinality).
 * Looked up once per request when the router did not run: metrics and the access log both ask.
 */
export function routeLabel(ctx: Context, patternOf: RoutePatternOf): string {
  const matched = ctx._matchedRoute as string | undefined;
  if (matched !== undefined) return matched;
  return (ctx.state.routeLabel ??= patternOf(ctx) ?? UNMATCHED_ROUTE) as string;
}
