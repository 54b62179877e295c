import crypto from 'node:crypto';
import type { Context } from 'koa';
import type { Database } from '../db/database.js';
import { IdempotencyRepository, type IdempotencyRecord, type StoredAnswer } from '../db/idempotency-repository.js';
import createError from 'http-errors';

export const INVALID_IDEMPOTENCY_KEY = 'Idempotency-Key must be 1 to 255 characters: letters, digits and - _ . : ~ + / =';
export const IDEMPOTENCY_KEY_REUSED = 'Idempotency-Key was already used for a different request';
/** Set on an answer replayed from an earlier request with the same key. */
export const REPLAYED_HEADER = 'Idempotent-Replayed';

const KEY_FORMAT = /^[A-Za-z0-9._~:+/=-]{1,255}$/;
const PURGE_INTERVAL_MS = 60_000;
const PURGE_BATCH = 1000;

/**
 * The request's Idempotency-Key, undefined without one. A value in double quotes (a
 * structured-field string, as the IETF draft writes it) means the same key unquoted.
 */
export function idempotencyKeyOf(ctx: Context): string | undefined {
  const raw = ctx.headers['idempotency-key'];
  if (raw === undefined) return undefined;
  const value = Array.isArray(raw) ? raw.join(', ') : raw;
  const key = /^"(.*)"$/.exec(value)?.[1] ?? value;
  if (!KEY_FORMAT.test(key)) throw createError(400, INVALID_IDEMPOTENCY_KEY);
  return key;
}

/** What makes two requests with the same key the same request. */
export function requestFingerprint(...parts: unknown[]): string {
  return crypto.createHash('sha256').update(JSON.stringify(parts)).digest('hex');
}

export interface IdempotentAnswer extends StoredAnswer {
  replayed: boolean;
}

function replay(record: IdempotencyRecord, fingerprint: string): IdempotentAnswer {
  if (record.requestHash !== fingerprint) throw createError(422, IDEMPOTENCY_KEY_REUSED);
  return { ...record.answer, replayed: true };
}

/**
 * Answers a request at most once per (user, key) within the retention: the first request
 * runs `perform` and its answer is stored in the same transaction; a later one with the
 * same fingerprint gets that answer again, one with another fingerprint a 422. A duplicate
 * arriving while the first is still running waits for it (bounded by the statement
 * timeout). Expired records are purged, a batch at most once a minute per worker.
 */
export class IdempotentRequests {
  private readonly keys: IdempotencyRepository;
  private lastPurge = -Infinity;

  constructor(db: Database) {
    this.keys = new IdempotencyRepository(db);
  }

  async answer(userId: number, key: string, fingerprint: string, perform: (trx: Database) => Promise<StoredAnswer>): Promise<IdempotentAnswer> {
    this.purgeNowAndThen();
    const earlier = await this.keys.find(userId, key);
    if (earlier) return replay(earlier, fingerprint);
    const answer = await this.keys.recordWith(userId, key, fingerprint, perform);
    if (answer) return { ...answer, replayed: false };
    // A concurrent request with the same key committed first.
    const winner = await this.keys.find(userId, key);
    if (!winner) throw new Error('the idempotency record that won a conflict is gone');
    return replay(winner, fingerprint);
  }

  private purgeNowAndThen(): void {
    const now = performance.now();
    if (now - this.lastPurge < PURGE_INTERVAL_MS) return;
    this.lastPurge = now;
    // Housekeeping only: expired records are ignored by every read anyway.
    this.keys.purgeExpired(PURGE_BATCH).catch(() => undefined);
  }
}
