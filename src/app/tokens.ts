import { createSecretKey, type KeyObject } from 'node:crypto';
import jwt from 'jsonwebtoken';

const TOKEN_LIFETIME_SECONDS = 24 * 60 * 60;

const secretKeys = new Map<string, KeyObject>();

/**
 * jsonwebtoken 9 turns a string secret into a KeyObject on every call, first trying (and
 * failing) to parse it as a public key: about a millisecond of CPU per request on Node 20
 * (auth0/node-jsonwebtoken#966). A KeyObject made once per secret skips that.
 */
function secretKey(secret: string): KeyObject {
  let key = secretKeys.get(secret);
  if (!key) {
    key = createSecretKey(Buffer.from(secret));
    secretKeys.set(secret, key);
  }
  return key;
}

/** HS256 with the claims the original clients read: user_id (number) and exp (now + 24 h). */
export function issueToken(userId: number, secret: string): string {
  return jwt.sign({ user_id: userId }, secretKey(secret), { algorithm: 'HS256', expiresIn: TOKEN_LIFETIME_SECONDS });
}

/** The token's user id, or undefined for a bad signature, an expired token or odd claims. */
export function verifyToken(token: string, secret: string): number | undefined {
  try {
    const claims = jwt.verify(token, secretKey(secret), { algorithms: ['HS256'] });
    const userId = typeof claims === 'object' ? (claims as { user_id?: unknown }).user_id : undefined;
    return typeof userId === 'number' && Number.isSafeInteger(userId) && userId > 0 ? userId : undefined;
  } catch {
    return undefined;
  }
}
