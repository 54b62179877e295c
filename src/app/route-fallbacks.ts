import type { Context, Next } from 'koa';
import { sendError } from './errors.js';

export const METHOD_NOT_ALLOWED = 'Method not allowed';
export const NOT_FOUND = 'Not found';

/**
 * Gives the router's bare answers the JSON error envelope. A path some route serves
 * answers other methods 405 with the router's Allow header (also methods the router
 * does not know, which it would answer 501); any other request is 404 `Not found`.
 */
export function routeFallbacks() {
  return async (ctx: Context, next: Next): Promise<void> => {
    await next();
    if (ctx.body != null || (ctx.status !== 404 && ctx.status !== 405 && ctx.status !== 501)) return;
    if (ctx.status !== 404 && ctx.response.get('Allow')) return sendError(ctx, 405, METHOD_NOT_ALLOWED);
    ctx.remove('Allow');
    sendError(ctx, 404, NOT_FOUND);
  };
}
