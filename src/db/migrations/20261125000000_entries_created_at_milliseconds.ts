import type { Knex } from 'knex';

/**
 * JavaScript dates carry milliseconds, Postgres timestamps microseconds. Storing
 * milliseconds makes a created_at that went through the API (RFC 3339, or a keyset
 * cursor) compare exactly equal to the stored value, so cursor pages never repeat a row.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE entries ALTER COLUMN created_at TYPE timestamptz(3)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE entries ALTER COLUMN created_at TYPE timestamptz');
}
