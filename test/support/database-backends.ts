import type { DatabaseClient } from '../../src/db/database-url.js';
import { uniqueDatabaseUrl, uniqueSqliteUrl } from './databases.js';

/** A database Pulse runs on, as the tests create one of it. */
export interface DatabaseBackend {
  /** As test titles name it. */
  readonly name: 'PostgreSQL' | 'SQLite';
  readonly client: DatabaseClient;
  /** A DATABASE_URL of a fresh database of this kind, removed by the root after hook. */
  uniqueUrl(label: string): string;
}

export const POSTGRES: DatabaseBackend = { name: 'PostgreSQL', client: 'postgres', uniqueUrl: uniqueDatabaseUrl };
/** The embedded database, in a file in a temporary directory of its own. */
export const SQLITE: DatabaseBackend = { name: 'SQLite', client: 'sqlite', uniqueUrl: uniqueSqliteUrl };

export const DATABASE_BACKENDS: readonly DatabaseBackend[] = [POSTGRES, SQLITE];

/**
 * Defines the suite once per database, PostgreSQL first: every API behaviour must be the
 * same on both. Titles end with the database's name.
 */
export function forEachDatabase(title: string, suite: (this: Mocha.Suite, backend: DatabaseBackend) => void): void {
  for (const backend of DATABASE_BACKENDS) {
    describe(`${title} [${backend.name}]`, function () {
      suite.call(this, backend);
    });
  }
}
