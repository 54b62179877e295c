import type { Database } from './database.js';
import { dialectOf } from './dialect.js';
import { scoped, type EntryFilter } from './entries-repository.js';

export interface MoodAggregate {
  count: number;
  /** Rounded to two decimals; null when there is nothing to average. */
  average_mood: number | null;
}

export interface EntryStats extends MoodAggregate {
  by_category: Array<MoodAggregate & { category: string }>;
  /** Calendar days in UTC, oldest first. */
  by_day: Array<MoodAggregate & { date: string }>;
}

interface StatsRow extends MoodAggregate {
  category: string | null;
  date: string | null;
  grouped_by: 'total' | 'category' | 'date';
}

export class StatsRepository {
  constructor(private readonly db: Database) {}

  async summarize(userId: number, filter: EntryFilter): Promise<EntryStats> {
    const rows = await this.aggregates(userId, filter);
    const total = rows.find((row) => row.grouped_by === 'total');
    return {
      count: total?.count ?? 0,
      average_mood: total?.average_mood ?? null,
      by_category: rows
        .filter((row) => row.grouped_by === 'category')
        .map((row) => ({ category: row.category!, count: row.count, average_mood: row.average_mood })),
      by_day: rows
        .filter((row) => row.grouped_by === 'date')
        .map((row) => ({ date: row.date!, count: row.count, average_mood: row.average_mood })),
    };
  }

  /**
   * Total, per-category and per-day aggregates, ordered by category and day: in one scan
   * with GROUPING SETS where the database has them (Postgres), else three grouped
   * selects of the same rows in one statement (SQLite).
   */
  private aggregates(userId: number, filter: EntryFilter): Promise<StatsRow[]> {
    const { db } = this;
    const sql = dialectOf(db);
    const day = sql.utcDay('created_at');
    const measures = [db.raw('count(*) AS count'), db.raw(`${sql.averageTwoDecimals('mood')} AS average_mood`)];
    const order = [{ column: 'category' }, { column: 'date' }];
    if (sql.groupingSets) {
      return scoped(db, userId, filter)
        .select(
          'category',
          db.raw(`${day} AS date`),
          ...measures,
          db.raw(`CASE grouping(category, ${day}) WHEN 3 THEN 'total' WHEN 1 THEN 'category' ELSE 'date' END AS grouped_by`),
        )
        .groupByRaw(`GROUPING SETS ((), (category), (${day}))`)
        .orderBy(order);
    }
    const grouping = (category: string, date: string, groupedBy: StatsRow['grouped_by']) =>
      scoped(db, userId, filter).select(db.raw(`${category} AS category`), db.raw(`${date} AS date`), ...measures, db.raw(`'${groupedBy}' AS grouped_by`));
    return grouping('NULL', 'NULL', 'total')
      .unionAll([grouping('category', 'NULL', 'category').groupBy('category'), grouping('NULL', day, 'date').groupByRaw(day)])
      .orderBy(order);
  }
}
