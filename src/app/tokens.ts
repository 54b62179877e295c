import { createSecretKey, type KeyObject } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { LRUCache } from 'lru-cache';

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

/** Whether a user id names a user; rejects when the database cannot say. */
export type UserExists = (userId: number) => Promise<boolean>;

/**
 * Checks bearer tokens: HS256 signature, an `exp` claim (required: the issuer always sets
 * one) not yet reached, a positive integer `user_id`, and a user of that id. A client sends
 * the same token on every request, so a token that passed is remembered until its exp
 * (an LRU cache: bounded, least recently used out) and only its expiry is checked again: the signature check and claim parsing
 * were about a tenth of an authenticated request's CPU, and the user lookup would be a
 * query per request. Only tokens that passed are remembered, so forged ones cannot fill it.
 */
export class TokenVerifier {
  private readonly key: KeyObject;
  private readonly accepted: LRUCache<string, VerifiedToken>;
  /** First checks of a token's user in progress, shared by concurrent requests with it. */
  private readonly checking = new Map<string, Promise<VerifiedToken | undefined>>();

  constructor(
    secret: string,
    private readonly userExists: UserExists,
    capacity = DEFAULT_VERIFIED_TOKEN_CAPACITY,
    private readonly now: () => number = Date.now,
  ) {
    this.key = secretKey(secret);
    // Timed by the clock jsonwebtoken checks exp against (the wall clock), read on every lookup.
    this.accepted = new LRUCache({ max: capacity, perf: { now: () => this.now() }, ttlResolution: 0 });
  }

  /** The user id of a token already accepted and not yet expired, else undefined (no I/O). */
  rememberedUserId(token: string): number | undefined {
    return this.accepted.get(token)?.userId;
  }

  /**
   * The token's user id, or undefined for a bad signature, a missing or reached exp, odd
   * claims or a user that does not exist. Rejects (nothing remembered) when the user
   * lookup fails.
   */
  async userIdOf(token: string): Promise<number | undefined> {
    const remembered = this.rememberedUserId(token);
    if (remembered !== undefined) return remembered;
    const verified = this.verify(token);
    if (!verified) return undefined;
    let check = this.checking.get(token);
    if (!check) {
      check = this.checkUser(token, verified);
      this.checking.set(token, check);
      void check.then(
        () => this.checking.delete(token),
        () => this.checking.delete(token),
      );
    }
    return (await check)?.userId;
  }

  private async checkUser(token: string, verified: VerifiedToken): Promise<VerifiedToken | undefined> {
    if (!(await this.userExists(verified.userId))) return undefined;
    this.remember(token, verified);
    return verified;
  }

  private verify(token: string): VerifiedToken | undefined {
    try {
      const claims = jwt.verify(token, this.key, { algorithms: ['HS256'], clockTimestamp: Math.floor(this.now() / 1000) });
      if (typeof claims !== 'object') return undefined;
      const { user_id: userId, exp } = claims as { user_id?: unknown; exp?: unknown };
      if (typeof userId !== 'number' || !Number.isSafeInteger(userId) || userId <= 0) return undefined;
      // jsonwebtoken refuses an exp that is not a number, but accepts a token without one.
      if (typeof exp !== 'number') return undefined;
      return { userId, expiresAtMs: exp * 1000 };
    } catch {
      return undefined;
    }
  }

  private remember(token: string, verified: VerifiedToken): void {
    // lru-cache serves an entry while its age is <= ttl; jsonwebtoken refuses from exp on.
    const ttl = verified.expiresAtMs - this.now() - 1;
    if (ttl > 0) this.accepted.set(token, verified, { ttl });
  }

  /** How many accepted tokens are remembered (for tests). */
  get size(): number {
    return this.accepted.size;
  }
}
