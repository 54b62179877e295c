import type { EntryLists } from '../cache/entry-list-cache.js';
import { EntriesRepository, type EntryFilter, type EntryInput } from '../db/entries-repository.js';
import type { StoredAnswer } from '../db/idempotency-repository.js';
import { requestFingerprint, type IdempotentAnswer, type IdempotentRequests } from './idempotency.js';

export const isUnfiltered = (filter: EntryFilter) =>
  filter.category === undefined && filter.from === undefined && filter.until === undefined;

/**
 * Entry writes, counts and first pages with the per-user list cache: counts and the first
 * page of the unfiltered list come from Redis when it has them (no cache without Redis), and every write
 * invalidates both after the database statement committed (each runs in its own
 * implicit transaction).
 */
export class EntryService {
  constructor(
    readonly repository: EntriesRepository,
    private readonly cache: EntryLists,
    private readonly idempotency: IdempotentRequests,
  ) {}

  async total(userId: number, filter: EntryFilter): Promise<number> {
    if (!isUnfiltered(filter)) return this.repository.count(userId, filter);
    const cached = await this.cache.getCount(userId);
    if (cached !== undefined) return cached;
    const counted = await this.repository.count(userId);
    await this.cache.setCount(userId, counted);
    return counted;
  }

  /** The unfiltered first page's JSON body: from the cache, or built and cached. */
  async firstPage(userId: number, limit: number, build: () => Promise<string>): Promise<string> {
    const cached = await this.cache.getFirstPage(userId, limit);
    if (cached !== undefined) return cached;
    const body = await build();
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
