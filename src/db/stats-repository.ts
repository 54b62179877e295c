import type { Database } from './database.js';
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

/** The calendar day of an entry, in UTC. */
const UTC_DAY = `to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')`;

export class StatsRepository {
  constructor(private readonly db: Database) {}

  /** Total, per-category and per-day aggregates in one scan (GROUPING SETS). */
  async summarize(userId: number, filter: EntryFilter): Promise<EntryStats> {
    const rows: StatsRow[] = await scoped(this.db, userId, filter)
      .select(
        'category',
        this.db.raw(`${UTC_DAY} AS date`),
        this.db.raw('count(*)::int AS count'),
        this.db.raw('round(avg(mood), 2)::float8 AS average_mood'),
        this.db.raw(
          `CASE grouping(category, ${UTC_DAY})
             WHEN 3 THEN 'total' WHEN 1 THEN 'category' ELSE 'date' END AS grouped_by`,
        ),
      )
      .groupByRaw(`GROUPING SETS ((), (category), (${UTC_DAY}))`)
      .orderBy([{ column: 'category' }, { column: 'date' }]);

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
}
