import type { Context, Next } from 'koa';
import createError from 'http-errors';
import { TokenVerifier, type UserExists } from './tokens.js';

export const INVALID_TOKEN = 'Invalid or expired token';

const challenge = { headers: { 'WWW-Authenticate': 'Bearer' } };

/**
 * Requires `Authorization: Bearer <token>` for an existing user and puts the token's user
 * id in ctx.state.userId. The user is looked up once per token and worker; a database
 * error during that lookup reaches the error envelope (503), it is not a bad token.
 */
export function authenticate(jwtSecret: string, userExists: UserExists) {
  const tokens = new TokenVerifier(jwtSecret, userExists);
  return async (ctx: Context, next: Next): Promise<void> => {
    const header = ctx.get('Authorization');
    if (!header) throw createError(401, 'Authorization header required', challenge);
    const match = /^Bearer +(\S+) *$/i.exec(header);
    if (!match) throw createError(401, 'Invalid authorization format. Use: Bearer <token>', challenge);
    const token = match[1]!;
    const userId = tokens.rememberedUserId(token) ?? (await tokens.userIdOf(token));
    if (userId === undefined) throw createError(401, INVALID_TOKEN, challenge);
    ctx.state.userId = userId;
    await next();
  };
}

/** The authenticated user's id; only valid behind `authenticate`. */
export function currentUserId(ctx: Context): number {
  return ctx.state.userId as number;
}
