import jwt from 'jsonwebtoken';

const TOKEN_LIFETIME_SECONDS = 24 * 60 * 60;

/** HS256 with the claims the original clients read: user_id (number) and exp (now + 24 h). */
export function issueToken(userId: number, secret: string): string {
  return jwt.sign({ user_id: userId }, secret, { algorithm: 'HS256', expiresIn: TOKEN_LIFETIME_SECONDS });
}

/** The token's user id, or undefined for a bad signature, an expired token or odd claims. */
export function verifyToken(token: string, secret: string): number | undefined {
  try {
    const claims = jwt.verify(token, secret, { algorithms: ['HS256'] });
    const userId = typeof claims === 'object' ? (claims as { user_id?: unknown }).user_id : undefined;
    return typeof userId === 'number' && Number.isSafeInteger(userId) && userId > 0 ? userId : undefined;
  } catch {
    return undefined;
  }
}
