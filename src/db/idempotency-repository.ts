import type { Database } from './database.js';
import { dialectOf } from './dialect.js';

/** How long a key's answer is replayed. */
export const IDEMPOTENCY_RETENTION_HOURS = 24;

/** An HTTP answer as it was sent: status and body. */
export interface StoredAnswer {
  status: number;
  body: string;
}

export interface IdempotencyRecord {
  requestHash: string;
  answer: StoredAnswer;
}

/** Raised inside the transaction to roll it back: the key was taken by a concurrent request. */
class KeyTaken extends Error {}

/**
 * Idempotency keys per user, each with the hash of the request it was first used for and
 * the answer sent. A record older than the retention counts as absent and may be reused.
 */
export class IdempotencyRepository {
  constructor(private readonly db: Database) {}

  async find(userId: number, key: string): Promise<IdempotencyRecord | undefined> {
    const row = await this.db('idempotency_keys')
      .where({ user_id: userId, key })
      .whereRaw(`created_at > ${dialectOf(this.db).hoursAgo(IDEMPOTENCY_RETENTION_HOURS)}`)
      .first<{ request_hash: string; response_status: number; response_body: string } | undefined>('request_hash', 'response_status', 'response_body');
    return row && { requestHash: row.request_hash, answer: { status: row.response_status, body: row.response_body } };
  }

  /**
   * Runs `work` and records its answer under the key, in one transaction: both commit or
   * neither does. If a concurrent request holds the key, this waits for its transaction;
   * when that one committed, `work` is rolled back and the result is undefined (read the
   * winner's record). On SQLite the wait is for the write lock (one writer at a time), so
   * a concurrent duplicate finds the winner's committed record at its INSERT.
   */
  async recordWith(
    userId: number,
    key: string,
    requestHash: string,
    work: (trx: Database) => Promise<StoredAnswer>,
  ): Promise<StoredAnswer | undefined> {
    try {
      return await this.db.transaction(async (trx) => {
        const answer = await work(trx);
        const sql = dialectOf(trx);
        const claimed = await trx.raw(
          `INSERT INTO idempotency_keys (user_id, key, request_hash, response_status, response_body)
           VALUES (?, ?, ?, ?, ?)
           ON CONFLICT (user_id, key) DO UPDATE
             SET request_hash = EXCLUDED.request_hash, response_status = EXCLUDED.response_status,
                 response_body = EXCLUDED.response_body, created_at = ${sql.now}
             WHERE idempotency_keys.created_at <= ${sql.hoursAgo(IDEMPOTENCY_RETENTION_HOURS)}
           RETURNING 1`,
          [userId, key, requestHash, answer.status, answer.body],
        );
        if (sql.rowCount(claimed) !== 1) throw new KeyTaken();
        return answer;
      });
    } catch (error) {
      if (error instanceof KeyTaken) return undefined;
      throw error;
    }
  }

  /** Deletes up to `limit` expired records, oldest first; returns how many. */
  async purgeExpired(limit: number): Promise<number> {
    const sql = dialectOf(this.db);
    const result: unknown = await this.db.raw(
      `DELETE FROM idempotency_keys WHERE (user_id, key) IN (
         SELECT user_id, key FROM idempotency_keys WHERE created_at <= ${sql.hoursAgo(IDEMPOTENCY_RETENTION_HOURS)} ORDER BY created_at LIMIT ?)`,
      [limit],
    );
    return sql.rowCount(result);
  }
}
