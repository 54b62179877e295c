import type { Knex } from 'knex';
import type { DatabaseClient } from './database-url.js';

/**
 * The SQL that differs between PostgreSQL and SQLite, in one place. Timestamps: Postgres
 * stores timestamptz(3); SQLite stores integer milliseconds since the epoch (UTC), which
 * is what knex binds a Date as, so comparisons and the (created_at, id) order are the same,
 * and `created_at` is read back as a Date on both (knex-config.ts).
 */
export interface SqlDialect {
  client: DatabaseClient;
  /** The current time, as created_at stores it (Postgres: the transaction's start). */
  now: string;
  /** The current time minus whole hours, comparable with created_at. */
  hoursAgo(hours: number): string;
  /** The calendar day (YYYY-MM-DD) in UTC of a timestamp column. */
  utcDay(column: string): string;
  /** avg(column) rounded half away from zero to two decimals, as a double; null over no rows. */
  averageTwoDecimals(column: string): string;
  /** Whether GROUP BY GROUPING SETS exists (several aggregations in one scan). */
  groupingSets: boolean;
  /** A cheap statement that needs the database itself, not just a live connection. */
  ping: string;
  /** How many rows a raw statement returned or changed. */
  rowCount(result: unknown): number;
}

const postgres: SqlDialect = {
  client: 'postgres',
  now: 'now()',
  hoursAgo: (hours) => `now() - interval '${hours} hours'`,
  utcDay: (column) => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD')`,
  averageTwoDecimals: (column) => `round(avg(${column}), 2)::float8`,
  groupingSets: true,
  ping: 'select 1',
  rowCount: (result) => (result as { rowCount: number | null }).rowCount ?? 0,
};

/** Milliseconds since the epoch, now (SQLite ≥ 3.42 for 'subsec'). */
const SQLITE_NOW_MS = "CAST(round(unixepoch('subsec') * 1000) AS INTEGER)";

const sqlite: SqlDialect = {
  client: 'sqlite',
  now: SQLITE_NOW_MS,
  hoursAgo: (hours) => `(${SQLITE_NOW_MS} - ${Math.round(hours * 3_600_000)})`,
  utcDay: (column) => `strftime('%Y-%m-%d', ${column} / 1000.0, 'unixepoch')`,
  // avg() is a double in SQLite (2.675 would round down); integer arithmetic rounds the
  // exact mean as Postgres' numeric does. Moods are positive, so / truncates like floor.
  averageTwoDecimals: (column) => `((200 * sum(${column}) + count(${column})) / (2 * count(${column}))) / 100.0`,
  groupingSets: false,
  ping: 'select count(*) from sqlite_master',
  rowCount: (result) => (Array.isArray(result) ? result.length : (result as { changes: number }).changes),
};

/** The dialect of a knex instance or transaction. */
export function dialectOf(db: Knex): SqlDialect {
  return (db.client as { dialect: string }).dialect === 'sqlite3' ? sqlite : postgres;
}

/**
 * A `created_at` column for a migration: timestamptz defaulting to now() on Postgres;
 * integer milliseconds defaulting to the current time on SQLite.
 */
export function createdAtColumn(knex: Knex, table: Knex.CreateTableBuilder): void {
  if (dialectOf(knex).client === 'sqlite') {
    table.bigInteger('created_at').notNullable().defaultTo(knex.raw(`(${SQLITE_NOW_MS})`));
  } else {
    table.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
  }
}

/** SQLite returns created_at as the stored number: turn it into a Date, as pg does for timestamptz. */
function readTimestamps(row: unknown): void {
  if (row && typeof row === 'object' && typeof (row as { created_at?: unknown }).created_at === 'number') {
    const record = row as { created_at: number | Date };
    record.created_at = new Date(record.created_at as number);
  }
}

/** knex's postProcessResponse for SQLite: every row's created_at as a Date. */
export function sqliteTimestampsAsDates<T>(result: T): T {
  if (Array.isArray(result)) result.forEach(readTimestamps);
  else readTimestamps(result);
  return result;
}
