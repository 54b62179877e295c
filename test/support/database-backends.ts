import type { DatabaseClient } from '../../src/db/database-url.js';
import { uniqueDatabaseUrl, uniqueSqliteDirectory, uniqueSqliteUrl } from './databases.js';

/** How a test starts the real service on a database: its environment, and where it runs. */
export interface PulseDatabaseSetup {
  /** On top of the test defaults (the test Redis among them); undefined leaves a variable out. */
  env: Record<string, string | undefined>;
  /** The working directory (default: the repository). */
  cwd?: string;
}

/** A database Pulse runs on, as the tests create one of it. */
export interface DatabaseBackend {
  /** As test titles name it. */
  readonly name: 'PostgreSQL' | 'SQLite';
  readonly client: DatabaseClient;
  /** A DATABASE_URL of a fresh database of this kind, removed by the root after hook. */
  uniqueUrl(label: string): string;
  /** A fresh database for a started Pulse (test/support/pulse-process.ts). */
  forPulse(): PulseDatabaseSetup;
}

export const POSTGRES: DatabaseBackend = {
  name: 'PostgreSQL',
  client: 'postgres',
  uniqueUrl: uniqueDatabaseUrl,
  forPulse: () => ({ env: { DATABASE_URL: uniqueDatabaseUrl() } }),
};

/**
 * The embedded database. A started Pulse gets the whole embedded default, as on a fresh
 * machine: DATABASE_URL and REDIS_URL unset (so the primary holds the rate limits), in a
 * temporary working directory, so the file is <that directory>/var/pulse.sqlite (never
 * the repository's ./var).
 */
export const SQLITE: DatabaseBackend = {
  name: 'SQLite',
  client: 'sqlite',
  uniqueUrl: uniqueSqliteUrl,
  forPulse: () => ({ env: { REDIS_URL: undefined }, cwd: uniqueSqliteDirectory('pulse') }),
};

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
