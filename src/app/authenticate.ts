import type { Context, Next } from 'koa';
import { HttpError } from './errors.js';
import { TokenVerifier } from './tokens.js';

export const INVALID_TOKEN = 'Invalid or expired token';

const challenge = { 'WWW-Authenticate': 'Bearer' };

/** Requires `Authorization: Bearer <token>` and puts the token's user id in ctx.state.userId. */
export function authenticate(jwtSecret: string) {
  const tokens = new TokenVerifier(jwtSecret);
  return async (ctx: Context, next: Next): Promise<void> => {
    const header = ctx.get('Authorization');
    if (!header) throw new HttpError(401, 'Authorization header required', challenge);
    const match = /^Bearer +(\S+) *$/i.exec(header);
    if (!match) throw new HttpError(401, 'Invalid authorization format. Use: Bearer <token>', challenge);
    const userId = tokens.userIdOf(match[1]!);
    if (userId === undefined) throw new HttpError(401, INVALID_TOKEN, challenge);
    ctx.state.userId = userId;
    await next();
  };
}

/** The authenticated user's id; only valid behind `authenticate`. */
export function currentUserId(ctx: Context): number {
  return ctx.state.userId as number;
}
