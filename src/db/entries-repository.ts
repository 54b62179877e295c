import type { Knex } from 'knex';
import type { Database } from './database.js';
import { violates } from './constraint-errors.js';

export interface EntryRow {
  id: number;
  user_id: number;
  text: string;
  mood: number;
  category: string;
  created_at: Date;
}

export interface EntryInput {
  text: string;
  mood: number;
  category: string;
}

/** Which of a user's entries to look at; `from` inclusive, `until` exclusive. */
export interface EntryFilter {
  category?: string;
  from?: Date;
  until?: Date;
}

/** A place in the newest-first order: the last row of the previous page. */
export interface KeysetPosition {
  createdAt: Date;
  id: number;
}

/** The entry's owner does not exist (any more). */
export class UnknownOwnerError extends Error {
  constructor() {
    super('entry owner does not exist');
    this.name = 'UnknownOwnerError';
  }
}

const ENTRY_COLUMNS = ['id', 'user_id', 'text', 'mood', 'category', 'created_at'] as const;

/**
 * Every query is scoped by user_id first, so it runs on one of the
 * (user_id[, category], created_at DESC, id DESC) indexes or on the primary key.
 * Ids arrive as decimal strings: they may exceed what a double holds exactly.
 */
export class EntriesRepository {
  constructor(private readonly db: Database) {}

  async create(userId: number, input: EntryInput): Promise<number> {
    try {
      const [row] = await this.db('entries')
        .insert({ user_id: userId, text: input.text, mood: input.mood, category: input.category })
        .returning<{ id: number }[]>('id');
      return row!.id;
    } catch (error) {
      if (violates(error, 'foreignKey')) throw new UnknownOwnerError();
      throw error;
    }
  }

  async findOwned(userId: number, id: string): Promise<EntryRow | undefined> {
    return this.db('entries').where({ id, user_id: userId }).first<EntryRow | undefined>(...ENTRY_COLUMNS);
  }

  async updateOwned(userId: number, id: string, input: EntryInput): Promise<boolean> {
    const updated = await this.db('entries')
      .where({ id, user_id: userId })
      .update({ text: input.text, mood: input.mood, category: input.category });
    return updated > 0;
  }

  async deleteOwned(userId: number, id: string): Promise<boolean> {
    return (await this.db('entries').where({ id, user_id: userId }).delete()) > 0;
  }

  async count(userId: number, filter: EntryFilter = {}): Promise<number> {
    const row = await scoped(this.db, userId, filter).count<{ count: number }[]>({ count: '*' }).first();
    return Number(row?.count ?? 0);
  }

  /** Offset pagination, newest first (ties by id). */
  async listPage(userId: number, filter: EntryFilter, limit: number, offset: number): Promise<EntryRow[]> {
    return newestFirst(scoped(this.db, userId, filter)).limit(limit).offset(offset);
  }

  /** Keyset pagination: the `limit` rows after `position` (from the top without one). */
  async listAfter(userId: number, filter: EntryFilter, limit: number, position?: KeysetPosition): Promise<EntryRow[]> {
    const query = scoped(this.db, userId, filter);
    if (position) query.whereRaw('(created_at, id) < (?, ?)', [position.createdAt, position.id]);
    return newestFirst(query).limit(limit);
  }
}

export function scoped(db: Database, userId: number, filter: EntryFilter): Knex.QueryBuilder {
  const query = db('entries').where('user_id', userId);
  if (filter.category !== undefined) query.where('category', filter.category);
  if (filter.from) query.where('created_at', '>=', filter.from);
  if (filter.until) query.where('created_at', '<', filter.until);
  return query;
}

function newestFirst(query: Knex.QueryBuilder): Knex.QueryBuilder {
  return query.select(...ENTRY_COLUMNS).orderBy([
    { column: 'created_at', order: 'desc' },
    { column: 'id', order: 'desc' },
  ]);
}
