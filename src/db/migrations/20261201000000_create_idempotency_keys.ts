import type { Knex } from 'knex';
import { createdAtColumn, dialectOf } from '../dialect.js';

/**
 * The answers to requests sent with an Idempotency-Key, per user, written in the same
 * transaction as what the request created, so that a retry replays the answer instead of
 * creating again. Expired rows are deleted oldest first, on the created_at index.
 */
export async function up(knex: Knex): Promise<void> {
  const sqlite = dialectOf(knex).client === 'sqlite';
  await knex.schema.createTable('idempotency_keys', (table) => {
    table.bigInteger('user_id').notNullable().references('id').inTable('users').onDelete('CASCADE');
    table.text('key').notNullable();
    table.text('request_hash').notNullable();
    table.smallint('response_status').notNullable();
    table.text('response_body').notNullable();
    createdAtColumn(knex, table);
    table.primary(['user_id', 'key']);
    table.index(['created_at'], 'idempotency_keys_created_at_idx');
    if (sqlite) table.check('length(key) BETWEEN 1 AND 255', [], 'idempotency_keys_key_length');
  });
  if (!sqlite) await knex.raw('ALTER TABLE idempotency_keys ADD CONSTRAINT idempotency_keys_key_length CHECK (length(key) BETWEEN 1 AND 255)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('idempotency_keys');
}
