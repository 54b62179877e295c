import knexFactory, { type Knex } from 'knex';
import pg from 'pg';
import { knexConfig } from '../../knexfile.js';

// BIGINT ids and counts fit comfortably in a double for this service; return numbers, not strings.
pg.types.setTypeParser(pg.types.builtins.INT8, (value: string) => Number.parseInt(value, 10));

export type Database = Knex;

export function createDatabase(databaseUrl: string, poolMax: number): Database {
  return knexFactory(knexConfig(databaseUrl, poolMax));
}

/** `select 1` bounded by a timeout: the truth about the database right now. */
export async function pingDatabase(db: Database, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('database ping timed out')), timeoutMs);
    });
    await Promise.race([db.raw('select 1'), timeout]);
    return true;
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}
