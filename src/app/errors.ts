import type { HttpError } from 'http-errors';
import type { Context, Next } from 'koa';
import { isDatabaseDeadline, isDatabaseUnreachable } from '../db/connection-errors.js';
import type { Logger } from '../shared/logger.js';
import { ThrottledLog } from '../shared/throttled-log.js';
import { requestLogger } from './request-log.js';

export const SERVICE_UNAVAILABLE = 'Service temporarily unavailable';

export function sendError(ctx: Context, status: number, message: string): void {
  ctx.status = status;
  ctx.body = { success: false, message };
}

/** What groups repeats of a failure in the log: its kind and its code or message. */
function failureKey(error: unknown): string {
  const e = error as { code?: unknown; name?: unknown; message?: unknown } | undefined;
  return `${String(e?.name)}:${String(e?.code ?? e?.message).slice(0, 200)}`;
}

/**
 * The one error envelope: `{success:false,message}`. Unknown errors are logged with
 * their stack and answered as a plain 500 (database/Redis outages as 503); a client
 * never sees a stack trace. The same failure repeating (an outage fails every request)
 * is logged in full once, then counted (see ThrottledLog); http_requests_total counts
 * every answer by status.
 */
export function errorEnvelope(log: Logger) {
  const failures = new ThrottledLog(log, 'error');
  return async (ctx: Context, next: Next): Promise<void> => {
    try {
      await next();
    } catch (error) {
      if (isClientError(error)) {
        if (error.headers) ctx.set(error.headers);
        return sendError(ctx, error.status, error.message);
      }
      const route = ctx._matchedRoute;
      const { message, code } = error as { message?: string; code?: string };
      const requestId = ctx.state.requestId as string | undefined;
      failures.record(failureKey(error), 'request failed', { err: error, route }, { error: { message, code }, route, requestId }, requestLogger(ctx, log));
      if (isDependencyError(error)) return sendError(ctx, 503, SERVICE_UNAVAILABLE);
      sendError(ctx, 500, 'Internal server error');
    }
  };
}

/**
 * A 4xx error whose message is meant for the client: from http-errors (ours, Koa's
 * ctx.throw, raw-body), possibly another copy of the package, so checked by shape.
 */
function isClientError(error: unknown): error is HttpError {
  const e = error as Partial<HttpError> | undefined;
  return typeof e?.status === 'number' && e.status >= 400 && e.status < 500 && e.expose === true;
}

/** Errors that mean Postgres or Redis is unreachable or too slow right now, not that the code is wrong. */
export function isDependencyError(error: unknown): boolean {
  if (isDatabaseUnreachable(error) || isDatabaseDeadline(error)) return true;
  const name = (error as { name?: unknown } | undefined)?.name;
  return name === 'ClientClosedError' || name === 'ConnectionTimeoutError';
}
