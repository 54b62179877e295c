import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Knex } from 'knex';

const here = path.dirname(fileURLToPath(import.meta.url));

/** Compiled migrations live next to this file's compiled copy: dist/src/db/migrations. */
export const MIGRATIONS_DIRECTORY = path.join(here, 'src', 'db', 'migrations');

export function knexConfig(databaseUrl: string, poolMax = 10): Knex.Config {
  return {
    client: 'pg',
    connection: { connectionString: databaseUrl, application_name: 'pulse' },
    pool: { min: 0, max: poolMax, acquireTimeoutMillis: 5000, idleTimeoutMillis: 30_000 },
    acquireConnectionTimeout: 5000,
    migrations: {
      directory: MIGRATIONS_DIRECTORY,
      loadExtensions: ['.js'],
      tableName: 'knex_migrations',
    },
  };
}

export default knexConfig(process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/pulse');
