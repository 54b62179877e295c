import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { createDatabase } from './database.js';
import { parseDatabaseUrl } from './database-url.js';

export interface MigrationResult {
  createdDatabase: boolean;
  applied: string[];
}

function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Postgres: the database named at connection does not exist. */
const INVALID_CATALOG_NAME = '3D000';
/** How the migrations' connections show in pg_stat_activity: they may bypass a pooler (DATABASE_MIGRATION_URL). */
export const MIGRATIONS_APPLICATION_NAME = 'pulse-migrations';

/** Whether the URL's database accepts a connection; false only when it does not exist. */
async function databaseExists(databaseUrl: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 5000, application_name: MIGRATIONS_APPLICATION_NAME });
  try {
    await client.connect();
    return true;
  } catch (error) {
    if ((error as { code?: string }).code === INVALID_CATALOG_NAME) return false;
    throw error;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Creates the database named in the URL when it does not exist and the role may create
 * it. A role without CREATEDB gets the server's own error on the migration that follows.
 * An existing database is found by connecting to it: the maintenance database `postgres`
 * (which a pooler may not route, or the role may not reach) is used only to create one.
 */
export async function ensureDatabaseExists(databaseUrl: string): Promise<boolean> {
  const url = new URL(databaseUrl);
  const name = decodeURIComponent(url.pathname.replace(/^\//, ''));
  if (!name || (await databaseExists(databaseUrl))) return false;
  url.pathname = '/postgres';
  const client = new pg.Client({ connectionString: url.toString(), connectionTimeoutMillis: 5000, application_name: MIGRATIONS_APPLICATION_NAME });
  await client.connect();
  try {
    try {
      await client.query(`create database ${quoteIdentifier(name)}`);
      return true;
    } catch (error) {
      // 42P04 (or 23505 when two creations race in the catalog): created meanwhile by another
      // primary; 42501: no permission, let the migration report it.
      const code = (error as { code?: string }).code;
      if (code === '42P04' || code === '23505' || code === '42501') return false;
      throw error;
    }
  } finally {
    await client.end();
  }
}

/**
 * The embedded database's file, created empty (an empty file is an empty SQLite database)
 * with its directory when missing. Exactly one of several primaries starting together
 * creates it. The directory must be writable: WAL keeps two files beside the database. A
 * place Pulse cannot write to is a setup error, named with its path, not an outage.
 */
export function ensureSqliteFileExists(file: string): boolean {
  const directory = path.dirname(file);
  try {
    fs.mkdirSync(directory, { recursive: true });
    fs.accessSync(directory, fs.constants.W_OK);
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    throw Object.assign(
      new Error(`cannot create the SQLite database ${file}: ${message} (its directory must be writable by Pulse; under systemd: StateDirectory=pulse, see docs/OPERATIONS.md)`),
      { code },
    );
  }
  try {
    fs.closeSync(fs.openSync(file, 'wx', 0o600));
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

/** How long a primary waits for another one (another host of the fleet) to finish migrating. */
const CONCURRENT_MIGRATION_WAIT_MS = 60_000;
const CONCURRENT_MIGRATION_RETRY_MS = 500;

/**
 * Another primary is migrating the same database right now (hosts started together): knex
 * refuses while its lock is held, and two primaries creating knex's own tables race in
 * the catalog. Waiting and trying again is right; the other primary's work is ours too.
 */
function isConcurrentMigration(error: unknown): boolean {
  const { code, message } = error as { code?: string; message?: string };
  if (code === '42P07' || code === '23505' || /already locked/i.test(message ?? '')) return true;
  // SQLite: the other process holds the write lock past the busy timeout, or created knex's tables first.
  return code === 'SQLITE_BUSY' || (code === 'SQLITE_ERROR' && /already exists/i.test(message ?? ''));
}

/**
 * Applies pending migrations. `directory`: the migrations of the code about to run (a reload
 * after a deploy reads the new release's), by default those beside this code.
 */
export async function runMigrations(databaseUrl: string, directory?: string): Promise<MigrationResult> {
  const target = parseDatabaseUrl(databaseUrl);
  const createdDatabase = target.client === 'sqlite' ? ensureSqliteFileExists(target.file) : await ensureDatabaseExists(databaseUrl);
  const db = createDatabase(databaseUrl, { poolMax: 1, applicationName: MIGRATIONS_APPLICATION_NAME });
  const giveUpAt = Date.now() + CONCURRENT_MIGRATION_WAIT_MS;
  try {
    for (;;) {
      try {
        const [, applied] = (await db.migrate.latest(directory ? { directory, loadExtensions: ['.js'] } : undefined)) as [number, string[]];
        return { createdDatabase, applied };
      } catch (error) {
        if (!isConcurrentMigration(error) || Date.now() > giveUpAt) throw error;
        await new Promise((resolve) => setTimeout(resolve, CONCURRENT_MIGRATION_RETRY_MS));
      }
    }
  } finally {
    await db.destroy();
  }
}
