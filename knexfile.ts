import { DEFAULT_SQLITE_FILE } from './src/db/database-url.js';
import { knexConfig } from './src/db/knex-config.js';

/**
 * For the knex CLI, with the database Pulse would use (the configuration itself lives in
 * src/db/knex-config.ts). Called when the CLI loads the file: a bad DATABASE_URL must not
 * break an import.
 */
export default () => knexConfig(process.env.DATABASE_URL || `sqlite:${DEFAULT_SQLITE_FILE}`);
