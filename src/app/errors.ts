import type { Context, Next } from 'koa';
import type { Logger } from '../shared/logger.js';
import { requestLogger } from './request-log.js';

/** An error whose status and message are safe to show to the client. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export const SERVICE_UNAVAILABLE = 'Service temporarily unavailable';

export function sendError(ctx: Context, status: number, message: string): void {
  ctx.status = status;
  ctx.body = { success: false, message };
}

/**
 * The one error envelope: `{success:false,message}`. Unknown errors are logged with
 * their stack and answered as a plain 500 (database/Redis outages as 503); a client
 * never sees a stack trace.
 */
export function errorEnvelope(log: Logger) {
  return async (ctx: Context, next: Next): Promise<void> => {
    try {
      await next();
    } catch (error) {
      if (error instanceof HttpError) {
        ctx.set(error.headers);
        return sendError(ctx, error.status, error.message);
      }
      const status = (error as { status?: number; expose?: boolean }).status;
      if (typeof status === 'number' && status >= 400 && status < 500 && (error as { expose?: boolean }).expose) {
        return sendError(ctx, status, (error as Error).message);
      }
      requestLogger(ctx, log).error({ err: error, route: ctx._matchedRoute }, 'request failed');
      if (isDependencyError(error)) return sendError(ctx, 503, SERVICE_UNAVAILABLE);
      sendError(ctx, 500, 'Internal server error');
    }
  };
}

/** Errors that mean Postgres or Redis is unreachable right now, not that the code is wrong. */
export function isDependencyError(error: unknown): boolean {
  const e = error as { code?: string; name?: string; message?: string };
  const codes = ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', '57P01', '57P03', '08006', '08001', '08003'];
  if (e?.code && codes.includes(e.code)) return true;
  if (e?.name === 'KnexTimeoutError') return true;
  if (e?.name === 'ClientClosedError' || e?.name === 'ConnectionTimeoutError') return true;
  return /Connection terminated|connect ECONNREFUSED|Timeout acquiring a connection/i.test(e?.message ?? '');
}
