import type { Counter } from 'prom-client';
import { withDeadline } from '../shared/deadline.js';
import { isBreakerOpen, type RedisBreaker } from './redis-breaker.js';
import type { RedisClient } from './redis.js';

/** Past this, a Redis call is abandoned: the database can answer instead. */
const REDIS_DEADLINE_MS = 250;
const RETRY_WHILE_CONNECTED_MS = 1000;

/**
 * After a write, no count or first page is stored for that user for this long. A reader
 * that read the database before the write committed reaches setCount()/setFirstPage()
 * after the write's invalidate() at the earliest; the fence keeps its stale value out
 * unless its query and the hop to the store took longer than this, far beyond any
 * healthy query.
 */
const WRITE_FENCE_MS = 10_000;

function parseCount(raw: string): number | undefined {
  const count = /^\d+$/.test(raw) ? Number(raw) : undefined;
  return count !== undefined && Number.isSafeInteger(count) ? count : undefined;
}

type CacheName = 'entry_count' | 'entry_first_page';
/** Why a Redis call failed: Redis failed it, or the open breaker skipped it. */
type Failure = 'error' | 'bypassed';
type LookupResult = 'hit' | 'miss' | Failure;
type CacheWrite = 'store_count' | 'store_first_page' | 'invalidate';

const failureOf = (error: unknown): Failure => (isBreakerOpen(error) ? 'bypassed' : 'error');

/** Where the cache counts what happened (the app's metrics provide both). */
export interface EntryListCacheMetrics {
  /** pulse_cache_lookups_total: by cache and result (hit, miss, error, bypassed). */
  cacheLookups: Counter<'cache' | 'result'>;
  /** pulse_cache_write_failures_total: stores and invalidations Redis did not take, by write and reason. */
  cacheWriteFailures: Counter<'write' | 'reason'>;
}

/**
 * The name the write fence had when it fenced only counts (`count-fence:`). Set and checked
 * beside the write fence so that workers of the previous release, still running during a
 * rolling restart or a deploy host by host, and of this one fence each other.
 */
const PREVIOUS_RELEASE_FENCE = 'count-fence';

export interface EntryListCacheOptions {
  writeFenceMs?: number;
  deadlineMs?: number;
}

/**
 * Per user, shared by all workers through Redis (TTL 60 s): the entry count
 * (`<prefix>count:user:<id>`) and the serialized first page of the unfiltered list, one
 * hash field per page size (`<prefix>first-page:user:<id>`). Redis trouble never fails
 * nor holds a request beyond a short deadline (none while the worker's Redis breaker is
 * open): a lookup becomes a miss and a store is skipped (counted in
 * pulse_cache_lookups_total: error, or bypassed when the breaker skipped the call).
 *
 * A read after a successful write must see the write, from any worker:
 * - invalidate() deletes the count and the first page and sets a short write fence
 *   (`<prefix>write-fence:user:<id>`) in one transaction, and the stores write only while no
 *   fence exists, so a value read before the write cannot land after the invalidation (see
 *   WRITE_FENCE_MS);
 * - when an invalidation fails (Redis away), stale values may still be cached: this
 *   worker stops using and storing that user's count and first page and retries the
 *   invalidation on that user's next lookup and when Redis is back.
 */
export class EntryListCache {
  private readonly writeFenceMs: number;
  private readonly deadlineMs: number;
  /** userId -> number of its latest failed invalidation attempt. */
  private readonly unconfirmedInvalidations = new Map<number, number>();
  private invalidationAttempts = 0;
  private retryScheduled = false;

  constructor(
    private readonly redis: RedisClient,
    private readonly breaker: RedisBreaker,
    private readonly keyPrefix: string,
    private readonly metrics: EntryListCacheMetrics,
    private readonly ttlSeconds = 60,
    options: EntryListCacheOptions = {},
  ) {
    this.writeFenceMs = options.writeFenceMs ?? WRITE_FENCE_MS;
    this.deadlineMs = options.deadlineMs ?? REDIS_DEADLINE_MS;
  }

  /** The cached count, or undefined on a miss or when Redis cannot answer. */
  async getCount(userId: number): Promise<number | undefined> {
    return this.lookup(userId, 'entry_count', () => this.redis.get(this.countKey(userId)), parseCount);
  }

  /** Stores a count just taken from the database, unless a write fenced it off. Never throws. */
  async setCount(userId: number, count: number): Promise<void> {
    await this.store(userId, 'store_count', () => this.redis.setUnlessFenced(this.countKey(userId), this.fenceKeys(userId), count, this.ttlSeconds));
  }

  /** The cached JSON body of the unfiltered first page of `limit` entries, if any. */
  async getFirstPage(userId: number, limit: number): Promise<string | undefined> {
    return this.lookup(userId, 'entry_first_page', () => this.redis.hGet(this.firstPageKey(userId), String(limit)), (raw) => raw);
  }

  /** Stores a first page just built from the database, unless a write fenced it off. Never throws. */
  async setFirstPage(userId: number, limit: number, body: string): Promise<void> {
    await this.store(userId, 'store_first_page', () =>
      this.redis.hSetUnlessFenced(this.firstPageKey(userId), this.fenceKeys(userId), limit, body, this.ttlSeconds),
    );
  }

  /** A read that counts as a hit only when it yields a usable value. */
  private async lookup<T>(
    userId: number,
    cache: CacheName,
    read: () => Promise<string | null | undefined>,
    parse: (raw: string) => T | undefined,
  ): Promise<T | undefined> {
    if (this.unconfirmedInvalidations.has(userId)) {
      this.countLookup(cache, (await this.tryInvalidate(userId)) ?? 'miss');
      return undefined;
    }
    try {
      const raw = await this.bounded(read, `read ${cache}`);
      const value = raw === null || raw === undefined ? undefined : parse(raw);
      this.countLookup(cache, value === undefined ? 'miss' : 'hit');
      return value;
    } catch (error) {
      this.countLookup(cache, failureOf(error));
      return undefined;
    }
  }

  private async store(userId: number, write: CacheWrite, store: () => Promise<unknown>): Promise<void> {
    if (this.unconfirmedInvalidations.has(userId)) return;
    try {
      await this.bounded(store, write);
    } catch (error) {
      this.countWriteFailure(write, failureOf(error));
    }
  }

  /** Call after every committed write of the user's entries. Never throws. */
  async invalidate(userId: number): Promise<void> {
    if (await this.tryInvalidate(userId)) this.scheduleRetry();
  }

  /** Undefined once the invalidation is confirmed, else why it failed. */
  private async tryInvalidate(userId: number): Promise<Failure | undefined> {
    this.invalidationAttempts += 1;
    const attempt = this.invalidationAttempts;
    // One transaction: no store can land between the fences and the delete.
    const [fence, previousReleaseFence] = this.fenceKeys(userId);
    const invalidation = () =>
      this.redis
        .multi()
        .set(fence, '1', { PX: this.writeFenceMs })
        .set(previousReleaseFence, '1', { PX: this.writeFenceMs })
        .del([this.countKey(userId), this.firstPageKey(userId)])
        .exec();
    try {
      await this.bounded(invalidation, 'invalidate count and first page');
      // Only an attempt that started after the latest failed one covers that failure's write.
      if ((this.unconfirmedInvalidations.get(userId) ?? 0) < attempt) this.unconfirmedInvalidations.delete(userId);
      return undefined;
    } catch (error) {
      const failure = failureOf(error);
      this.countWriteFailure('invalidate', failure);
      this.unconfirmedInvalidations.set(userId, Math.max(attempt, this.unconfirmedInvalidations.get(userId) ?? 0));
      return failure;
    }
  }

  /** Retries when Redis is back, or soon if it stayed connected (a slow or loading Redis). */
  private scheduleRetry(): void {
    if (this.retryScheduled) return;
    this.retryScheduled = true;
    const retry = () => {
      this.retryScheduled = false;
      void this.retryUnconfirmedInvalidations();
    };
    if (this.redis.isReady) setTimeout(retry, RETRY_WHILE_CONNECTED_MS).unref();
    else this.redis.once('ready', retry);
  }

  private async retryUnconfirmedInvalidations(): Promise<void> {
    for (const userId of [...this.unconfirmedInvalidations.keys()]) {
      if (await this.tryInvalidate(userId)) return this.scheduleRetry();
    }
  }

  /** One Redis call through the worker's breaker, bounded by the deadline. */
  private bounded<T>(operation: () => Promise<T>, what: string): Promise<T> {
    return this.breaker.run('entry_list_cache', () => withDeadline(operation(), this.deadlineMs, `redis ${what}`));
  }

  private countLookup(cache: CacheName, result: LookupResult): void {
    this.metrics.cacheLookups.inc({ cache, result });
  }

  private countWriteFailure(write: CacheWrite, reason: Failure): void {
    this.metrics.cacheWriteFailures.inc({ write, reason });
  }

  private countKey(userId: number): string {
    return `${this.keyPrefix}count:user:${userId}`;
  }

  private firstPageKey(userId: number): string {
    return `${this.keyPrefix}first-page:user:${userId}`;
  }

  /** The user's write fence, and its name in the previous release. */
  private fenceKeys(userId: number): [string, string] {
    return [`${this.keyPrefix}write-fence:user:${userId}`, `${this.keyPrefix}${PREVIOUS_RELEASE_FENCE}:user:${userId}`];
  }
}

/** What the entry service uses of the cache. */
export type EntryLists = Pick<EntryListCache, 'getCount' | 'setCount' | 'getFirstPage' | 'setFirstPage' | 'invalidate'>;

/**
 * The entry lists without a cache (no REDIS_URL): a per-worker copy could serve a worker a
 * list another worker's write has changed, so every read goes to the database.
 */
export const NO_ENTRY_LIST_CACHE: EntryLists = {
  getCount: async () => undefined,
  setCount: async () => undefined,
  getFirstPage: async () => undefined,
  setFirstPage: async () => undefined,
  invalidate: async () => undefined,
};
