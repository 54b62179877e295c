import type { Knex } from 'knex';
import type { DatabaseSettings } from './knex-config.js';
import type { Logger } from '../shared/logger.js';

export const POOLER_WITHOUT_SERVER_TIMEOUTS =
  'DATABASE_POOLER=pgbouncer: Postgres does not bound this role\'s statements or idle transactions as DATABASE_STATEMENT_TIMEOUT_MS asks: ' +
  "a statement Pulse gave up on keeps running on the server. Set statement_timeout and idle_in_transaction_session_timeout in PgBouncer's connect_query or with ALTER ROLE (docs/OPERATIONS.md)";

/** Processes that already looked (one warning per process is enough). */
let checked = false;

/**
 * Behind a transaction pooler Pulse cannot send its server-side timeouts; this looks once
 * per process whether the server applies them anyway (pooler's connect_query, role or
 * database settings) and warns when it does not. Never fails: the health ping reports an
 * unreachable database.
 */
export function checkServerTimeoutsOnce(db: Knex, settings: DatabaseSettings, log: Logger): void {
  if (checked) return;
  checked = true;
  db.raw<{ rows: { name: string; ms: number }[] }>(
    "select name, setting::int as ms from pg_settings where name in ('statement_timeout', 'idle_in_transaction_session_timeout')",
  ).then(
    ({ rows }) => {
      const ms = Object.fromEntries(rows.map((row) => [row.name, row.ms]));
      const statementTimeoutMs = ms.statement_timeout ?? 0;
      const idleInTransactionTimeoutMs = ms.idle_in_transaction_session_timeout ?? 0;
      if (statementTimeoutMs > 0 && statementTimeoutMs <= settings.databaseStatementTimeoutMs && idleInTransactionTimeoutMs > 0) return;
      log.warn(
        { statementTimeoutMs, idleInTransactionTimeoutMs, databaseStatementTimeoutMs: settings.databaseStatementTimeoutMs },
        POOLER_WITHOUT_SERVER_TIMEOUTS,
      );
    },
    () => {
      checked = false; // looked again on the next new connection
    },
  );
}
