import pg from 'pg';
import { createDatabase } from './database.js';

export interface MigrationResult {
  createdDatabase: boolean;
  applied: string[];
}

function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** Postgres: the database named at connection does not exist. */
const INVALID_CATALOG_NAME = '3D000';

/** Whether the URL's database accepts a connection; false only when it does not exist. */
async function databaseExists(databaseUrl: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 5000 });
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
  const client = new pg.Client({ connectionString: url.toString(), connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    try {
      await client.query(`create database ${quoteIdentifier(name)}`);
      return true;
    } catch (error) {
      // 42P04: created meanwhile by someone else; 42501: no permission, let the migration report it.
      const code = (error as { code?: string }).code;
      if (code === '42P04' || code === '42501') return false;
      throw error;
    }
  } finally {
    await client.end();
  }
}

export async function runMigrations(databaseUrl: string): Promise<MigrationResult> {
  const createdDatabase = await ensureDatabaseExists(databaseUrl);
  const db = createDatabase(databaseUrl, 1);
  try {
    const [, applied] = (await db.migrate.latest()) as [number, string[]];
    return { createdDatabase, applied };
  } finally {
    await db.destroy();
  }
}
