import type { EntryLists } from '../cache/entry-list-cache.js';
import { EntriesRepository, type EntryFilter, type EntryInput, type EntryRow, type KeysetPosition } from '../db/entries-repository.js';
import type { StoredAnswer } from '../db/idempotency-repository.js';
import { encodeCursor } from './cursor.js';
import { presentEntry } from './entry-wire.js';
import { requestFingerprint, type IdempotentAnswer, type IdempotentRequests } from './idempotency.js';

const isUnfiltered = (filter: EntryFilter) => filter.category === undefined && filter.from === undefined && filter.until === undefined;

/** A page of a user's entries, newest first. */
export interface ListRequest {
  filter: EntryFilter;
  limit: number;
  /** An offset page (1-based), or a keyset page after a position (none: the first). */
  at: { page: number } | { after: KeysetPosition | undefined };
}

/**
 * A user's entries: the list pages (as the JSON bodies clients get), one entry, and the
 * writes. Counts and the first page of the unfiltered list come from the per-user list
 * cache when it has them (no cache without Redis), and every write invalidates both after
 * the database statement committed (each runs in its own implicit transaction).
 */
export class EntryService {
  constructor(
    private readonly repository: EntriesRepository,
    private readonly cache: EntryLists,
    private readonly idempotency: IdempotentRequests,
  ) {}

  /** The JSON body of the page asked for. */
  async listEntries(userId: number, { filter, limit, at }: ListRequest): Promise<string> {
    // Keyset page: one index range scan whatever the depth.
    if ('after' in at) {
      const rows = await this.repository.listAfter(userId, filter, limit + 1, at.after);
      const shown = rows.slice(0, limit);
      return JSON.stringify({ success: true, entries: shown.map(presentEntry), limit, next_cursor: nextCursor(rows, shown) });
    }
    // The busiest read: a user's newest entries. Cached whole, invalidated by every write.
    if (at.page === 1 && isUnfiltered(filter)) return this.firstPage(userId, limit);
    return this.offsetPage(userId, filter, at.page, limit);
  }

  find(userId: number, id: string): Promise<EntryRow | undefined> {
    return this.repository.findOwned(userId, id);
  }

  private async offsetPage(userId: number, filter: EntryFilter, page: number, limit: number): Promise<string> {
    const [rows, total] = await Promise.all([this.repository.listPage(userId, filter, limit + 1, (page - 1) * limit), this.total(userId, filter)]);
    const shown = rows.slice(0, limit);
    return JSON.stringify({
      success: true,
      entries: shown.map(presentEntry),
      page,
      limit,
      total,
      totalPages: Math.ceil(total / limit),
      next_cursor: nextCursor(rows, shown),
    });
  }

  private async total(userId: number, filter: EntryFilter): Promise<number> {
    if (!isUnfiltered(filter)) return this.repository.count(userId, filter);
    const cached = await this.cache.getCount(userId);
    if (cached !== undefined) return cached;
    const counted = await this.repository.count(userId);
    await this.cache.setCount(userId, counted);
    return counted;
  }

  /** The unfiltered first page: from the cache, or built and cached. */
  private async firstPage(userId: number, limit: number): Promise<string> {
    const cached = await this.cache.getFirstPage(userId, limit);
    if (cached !== undefined) return cached;
    const body = await this.offsetPage(userId, {}, 1, limit);
    await this.cache.setFirstPage(userId, limit, body);
    return body;
  }

  async create(userId: number, input: EntryInput): Promise<number> {
    const id = await this.repository.create(userId, input);
    await this.cache.invalidate(userId);
    return id;
  }

  /**
   * Creates the entry at most once per Idempotency-Key: the entry and the answer `present`
   * makes of its id commit together; a retry with the same key and input replays the answer.
   */
  async createOnce(userId: number, input: EntryInput, key: string, present: (id: number) => StoredAnswer): Promise<IdempotentAnswer> {
    const fingerprint = requestFingerprint('POST /entries', input.text, input.mood, input.category);
    const answer = await this.idempotency.answer(userId, key, fingerprint, async (trx) =>
      present(await new EntriesRepository(trx).create(userId, input)),
    );
    if (!answer.replayed) await this.cache.invalidate(userId);
    return answer;
  }

  async update(userId: number, id: string, input: EntryInput): Promise<boolean> {
    const updated = await this.repository.updateOwned(userId, id, input);
    await this.cache.invalidate(userId);
    return updated;
  }

  async delete(userId: number, id: string): Promise<boolean> {
    const deleted = await this.repository.deleteOwned(userId, id);
    await this.cache.invalidate(userId);
    return deleted;
  }
}

/** A cursor after the last shown row when the query found one row more than shown. */
function nextCursor(rows: EntryRow[], shown: EntryRow[]): string | null {
  const last = shown.at(-1);
  return rows.length > shown.length && last ? encodeCursor({ createdAt: last.created_at, id: last.id }) : null;
}
