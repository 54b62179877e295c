import type { Knex } from 'knex';
import { createdAtColumn, dialectOf } from '../dialect.js';

export async function up(knex: Knex): Promise<void> {
  // SQLite cannot add a constraint to an existing table: it is declared with the table there.
  const sqlite = dialectOf(knex).client === 'sqlite';
  await knex.schema.createTable('users', (table) => {
    table.bigIncrements('id').primary();
    table.text('email').notNullable().unique();
    table.text('password_hash').notNullable();
    createdAtColumn(knex, table);
  });
  await knex.schema.createTable('entries', (table) => {
    table.bigIncrements('id').primary();
    table.bigInteger('user_id').notNullable().references('id').inTable('users').onDelete('CASCADE');
    table.text('text').notNullable();
    table.smallint('mood').notNullable();
    table.text('category').notNullable();
    createdAtColumn(knex, table);
    if (sqlite) table.check('mood BETWEEN 1 AND 10', [], 'entries_mood_range');
  });
  if (!sqlite) await knex.raw('ALTER TABLE entries ADD CONSTRAINT entries_mood_range CHECK (mood BETWEEN 1 AND 10)');
  // Newest-first listing, keyset pagination and date ranges per user.
  await knex.raw('CREATE INDEX entries_user_created_id_idx ON entries (user_id, created_at DESC, id DESC)');
  // The same with a category filter.
  await knex.raw('CREATE INDEX entries_user_category_created_id_idx ON entries (user_id, category, created_at DESC, id DESC)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('entries');
  await knex.schema.dropTableIfExists('users');
}
