import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Knex } from 'knex';

const here = path.dirname(fileURLToPath(import.meta.url));

/** Compiled migrations live next to this file's compiled copy: dist/src/db/migrations. */
export const MIGRATIONS_DIRECTORY = path.join(here, 'src', 'db', 'migrations');

/** Where knex's own warnings go (it prints plain text to the console otherwise). */
export interface KnexLogSink {
  warn(message: unknown): void;
  error(message: unknown): void;
  debug(message: unknown): void;
}

export function knexConfig(databaseUrl: string, poolMax = 10, logSink?: KnexLogSink): Knex.Config {
  return {
    client: 'pg',
    ...(logSink && {
      log: {
        warn: (message: unknown) => logSink.warn(message),
        error: (message: unknown) => logSink.error(message),
        deprecate: (message: unknown) => logSink.warn(message),
        debug: (message: unknown) => logSink.debug(message),
      },
    }),
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
