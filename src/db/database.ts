import knexFactory, { type Knex } from 'knex';
import pg from 'pg';
import { knexConfig } from '../../knexfile.js';
import { withDeadline } from '../shared/deadline.js';
import type { Logger } from '../shared/logger.js';

// BIGINT ids and counts fit comfortably in a double for this service; return numbers, not strings.
pg.types.setTypeParser(pg.types.builtins.INT8, (value: string) => Number.parseInt(value, 10));

export type Database = Knex;

export function createDatabase(databaseUrl: string, poolMax: number, log?: Logger): Database {
  const sink = log && {
    warn: (message: unknown) => log.warn({ knex: String(message) }, 'knex warning'),
    error: (message: unknown) => log.error({ knex: String(message) }, 'knex error'),
    debug: (message: unknown) => log.debug({ knex: String(message) }, 'knex debug'),
  };
  return knexFactory(knexConfig(databaseUrl, poolMax, sink));
}

/** `select 1` bounded by a timeout: the truth about the database right now. */
export async function pingDatabase(db: Database, timeoutMs: number): Promise<boolean> {
  try {
    await withDeadline(db.raw('select 1'), timeoutMs, 'database ping');
    return true;
  } catch {
    return false;
  }
}
