import { createSecretKey, type KeyObject } from 'node:crypto';
import jwt from 'jsonwebtoken';

const TOKEN_LIFETIME_SECONDS = 24 * 60 * 60;
/** Verified tokens remembered per worker; the server issues about 200-byte tokens, so ~2 MB at most. */
const DEFAULT_VERIFIED_TOKEN_CAPACITY = 10_000;

/**
 * jsonwebtoken 9 turns a string secret into a KeyObject on every call, first trying (and
 * failing) to parse it as a public key: about a millisecond of CPU per request on Node 20
 * (auth0/node-jsonwebtoken#966). A KeyObject made once, when the issuer or verifier is made, skips that.
 */
function secretKey(secret: string): KeyObject {
  return createSecretKey(Buffer.from(secret));
}

/** HS256 with the claims the original clients read: user_id (number) and exp (now + 24 h). */
export function tokenIssuer(secret: string): (userId: number) => string {
  const key = secretKey(secret);
  return (userId) => jwt.sign({ user_id: userId }, key, { algorithm: 'HS256', expiresIn: TOKEN_LIFETIME_SECONDS });
}

interface VerifiedToken {
  userId: number;
  /** When jsonwebtoken would start refusing it (exp is in seconds; refused from exp on). */
  expiresAtMs: number;
}

/**
 * Checks bearer tokens. A client sends the same token on every request, so a token that
 * verified is remembered (bounded, oldest first out) and only its expiry is checked
 * again: the signature check and claim parsing were about a tenth of an authenticated
 * request's CPU. Only tokens that verified are remembered, so forged ones cannot fill it.
 */
export class TokenVerifier {
  private readonly key: KeyObject;
  private readonly verified = new Map<string, VerifiedToken>();

  constructor(
    secret: string,
    private readonly capacity = DEFAULT_VERIFIED_TOKEN_CAPACITY,
    private readonly now: () => number = Date.now,
  ) {
    this.key = secretKey(secret);
  }

  /** The token's user id, or undefined for a bad signature, an expired token or odd claims. */
  userIdOf(token: string): number | undefined {
    const remembered = this.verified.get(token);
    if (remembered) {
      if (this.now() < remembered.expiresAtMs) return remembered.userId;
      this.verified.delete(token);
      return undefined;
    }
    const verified = this.verify(token);
    if (verified) this.remember(token, verified);
    return verified?.userId;
  }

  private verify(token: string): VerifiedToken | undefined {
    try {
      const claims = jwt.verify(token, this.key, { algorithms: ['HS256'], clockTimestamp: Math.floor(this.now() / 1000) });
      if (typeof claims !== 'object') return undefined;
      const { user_id: userId, exp } = claims as { user_id?: unknown; exp?: unknown };
      if (typeof userId !== 'number' || !Number.isSafeInteger(userId) || userId <= 0) return undefined;
      // jsonwebtoken has already refused an exp that is not a number.
      return { userId, expiresAtMs: typeof exp === 'number' ? exp * 1000 : Number.POSITIVE_INFINITY };
    } catch {
      return undefined;
    }
  }

  private remember(token: string, verified: VerifiedToken): void {
    if (this.verified.size >= this.capacity) {
      const oldest = this.verified.keys().next().value;
      if (oldest !== undefined) this.verified.delete(oldest);
    }
    this.verified.set(token, verified);
  }

  /** How many verified tokens are remembered (for tests). */
  get size(): number {
    return this.verified.size;
  }
}
