import type { Context, Next } from 'koa';
import { sendError } from './errors.js';

export const METHOD_NOT_ALLOWED = 'Method not allowed';
export const NOT_FOUND = 'Not found';

/**
 * Gives the router's bare answers the JSON error envelope: 405 (and 501 for methods the
 * router does not know, which on a known path is a 405 too) keep the router's Allow
 * header; a request no route took becomes 404 `Not found`.
 */
export function routeFallbacks() {
  return async (ctx: Context, next: Next): Promise<void> => {
    await next();
    if (ctx.body != null) return;
    if (ctx.status === 405 || (ctx.status === 501 && ctx.response.get('Allow'))) {
      sendError(ctx, 405, METHOD_NOT_ALLOWED);
    } else if (ctx.status === 404) {
      sendError(ctx, 404, NOT_FOUND);
    }
  };
}
