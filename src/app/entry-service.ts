import type { EntryListCache } from '../cache/entry-list-cache.js';
import type { EntriesRepository, EntryFilter, EntryInput } from '../db/entries-repository.js';

export const isUnfiltered = (filter: EntryFilter) =>
  filter.category === undefined && filter.from === undefined && filter.until === undefined;

/**
 * Entry writes, counts and first pages with the per-user list cache: counts and the first
 * page of the unfiltered list come from Redis when it has them, and every write
 * invalidates both after the database statement committed (each runs in its own
 * implicit transaction).
 */
export class EntryService {
  constructor(
    readonly repository: EntriesRepository,
    private readonly cache: EntryListCache,
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
