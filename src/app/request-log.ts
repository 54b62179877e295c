import type { Context, Next } from 'koa';
import type { Logger } from '../shared/logger.js';
import { REQUEST_ID_HEADER, requestIdFor } from './request-id.js';
import { routeLabel, type RoutePatternOf } from './route-label.js';

export interface RequestLogOptions {
  /** One `request` line per request (ACCESS_LOG). Request ids are given either way. */
  accessLog: boolean;
  patternOf: RoutePatternOf;
}

/**
 * The logger for lines about this request: carries its request id. Created on first use,
 * so a request that logs nothing but its access line costs no child logger.
 */
export function requestLogger(ctx: Context, fallback: Logger): Logger {
  const requestId = ctx.state.requestId as string | undefined;
  if (requestId === undefined) return fallback;
  return (ctx.state.log ??= fallback.child({ requestId })) as Logger;
}

/**
 * Gives every request an id (the caller's well-formed X-Request-Id, or a new one),
 * returns it on every response and, with the access log on, writes one line per request
 * when its response is done: method, route pattern, status, duration, bytes, client IP
 * (as Koa sees it: X-Forwarded-For only with TRUST_PROXY), user id, request id.
 * `aborted` marks a client that left before the whole response was sent.
 */
export function requestLog(log: Logger, options: RequestLogOptions) {
  const { accessLog, patternOf } = options;
  // The access line is built from the fixed fields below, none of them secret: it skips the
  // logger's redaction, whose wildcard paths would cost more than the rest of the line.
  const accessLogger = log.child({}, { redact: [] });
  return (ctx: Context, next: Next): Promise<void> => {
    const requestId = requestIdFor(ctx.get(REQUEST_ID_HEADER) || undefined);
    ctx.state.requestId = requestId;
    ctx.set(REQUEST_ID_HEADER, requestId);
    if (accessLog) {
      const startedAt = performance.now();
      ctx.res.once('close', () => {
        const { res } = ctx;
        const length = res.getHeader('content-length');
        accessLogger.info(
          {
            requestId,
            method: ctx.method,
            route: routeLabel(ctx, patternOf),
            status: res.statusCode,
            durationMs: Math.round((performance.now() - startedAt) * 1000) / 1000,
            bytes: length === undefined ? undefined : Number(length),
            ip: ctx.ip,
            userId: ctx.state.userId as number | undefined,
            aborted: res.writableFinished ? undefined : true,
          },
          'request',
        );
      });
    }
    return next();
  };
}
