import { createRequire } from 'node:module';
import type { Knex } from 'knex';

const require = createRequire(import.meta.url);
const BetterSqlite3Client = require('knex/lib/dialects/better-sqlite3/index.js') as typeof Knex.Client;

/**
 * knex's better-sqlite3 client, opening the file only if it exists. The primary creates
 * and migrates it (src/db/migrations-runner.ts); a worker that found it gone (deleted,
 * moved, a volume not mounted) must fail with SQLITE_CANTOPEN, answered 503, rather than
 * create an empty database and serve "no such table" errors from it.
 */
export class ExistingSqliteFileClient extends BetterSqlite3Client {
  override async acquireRawConnection(): Promise<unknown> {
    const Driver = this.driver as new (filename: string, options: { fileMustExist: boolean }) => unknown;
    return new Driver((this.connectionSettings as { filename: string }).filename, { fileMustExist: true });
  }
}
