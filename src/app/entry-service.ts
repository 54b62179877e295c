import type { EntryCountCache } from '../cache/entry-count-cache.js';
import type { EntriesRepository, EntryFilter, EntryInput } from '../db/entries-repository.js';

const isUnfiltered = (filter: EntryFilter) =>
  filter.category === undefined && filter.from === undefined && filter.until === undefined;

/**
 * Entry writes and counts with the per-user count cache: counts of the unfiltered list
 * come from Redis when it has them, and every write invalidates the count after the
 * database statement committed (each runs in its own implicit transaction).
 */
export class EntryService {
  constructor(
    readonly repository: EntriesRepository,
    private readonly counts: EntryCountCache,
  ) {}

  async total(userId: number, filter: EntryFilter): Promise<number> {
    if (!isUnfiltered(filter)) return this.repository.count(userId, filter);
    const cached = await this.counts.get(userId);
    if (cached !== undefined) return cached;
    const counted = await this.repository.count(userId);
    await this.counts.set(userId, counted);
    return counted;
  }

  async create(userId: number, input: EntryInput): Promise<number> {
    const id = await this.repository.create(userId, input);
    await this.counts.invalidate(userId);
    return id;
  }

  async update(userId: number, id: string, input: EntryInput): Promise<boolean> {
    const updated = await this.repository.updateOwned(userId, id, input);
    await this.counts.invalidate(userId);
    return updated;
  }

  async delete(userId: number, id: string): Promise<boolean> {
    const deleted = await this.repository.deleteOwned(userId, id);
    await this.counts.invalidate(userId);
    return deleted;
  }
}
