import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';

export const POSTGRES_ADMIN_URL = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

const created = new Set<string>();

/** A database URL unique to this test run and call; dropped by the root after hook. */
export function uniqueDatabaseUrl(label = 'test'): string {
  const name = `pulse_${label}_${process.pid}_${crypto.randomBytes(4).toString('hex')}`.toLowerCase();
  created.add(name);
  const url = new URL(POSTGRES_ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

const sqliteDirectories = new Set<string>();

/** A directory of its own in the system's temporary directory (never the repository's ./var); removed by the root after hook. */
export function uniqueSqliteDirectory(label = 'test'): string {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), `pulse-sqlite-${label}-`));
  sqliteDirectories.add(directory);
  return directory;
}

/** An SQLite DATABASE_URL in a directory of its own (the file does not exist yet: migrations create it). */
export function uniqueSqliteUrl(label = 'test'): string {
  return `sqlite:${path.join(uniqueSqliteDirectory(label), 'pulse.sqlite')}`;
}

/** A Redis key prefix unique to this test run and call. */
export function uniqueRedisPrefix(label = 'test'): string {
  return `pulse-test:${label}:${process.pid}:${crypto.randomBytes(4).toString('hex')}:`;
}

export async function dropCreatedDatabases(): Promise<void> {
  for (const directory of sqliteDirectories) {
    fs.rmSync(directory, { recursive: true, force: true });
    sqliteDirectories.delete(directory);
  }
  if (created.size === 0) return;
  const client = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
  await client.connect();
  try {
    for (const name of created) {
      await client.query(`drop database if exists "${name}" with (force)`);
      created.delete(name);
    }
  } finally {
    await client.end();
  }
}
