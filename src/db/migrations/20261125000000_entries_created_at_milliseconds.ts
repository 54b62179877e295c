import type { Knex } from 'knex';
import { dialectOf } from '../dialect.js';

/**
 * JavaScript dates carry milliseconds, Postgres timestamps microseconds. Storing
 * milliseconds makes a created_at that went through the API (RFC 3339, or a keyset
 * cursor) compare exactly equal to the stored value, so cursor pages never repeat a row.
 * SQLite stores milliseconds from the start (src/db/dialect.ts).
 */
export async function up(knex: Knex): Promise<void> {
  if (dialectOf(knex).client === 'sqlite') return;
  await knex.raw('ALTER TABLE entries ALTER COLUMN created_at TYPE timestamptz(3)');
}

export async function down(knex: Knex): Promise<void> {
  if (dialectOf(knex).client === 'sqlite') return;
  await knex.raw('ALTER TABLE entries ALTER COLUMN created_at TYPE timestamptz');
}
