const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH',
  // Postgres: admin shutdown, cannot connect now, connection failures.
  '57P01', '57P03', '08000', '08001', '08003', '08004', '08006',
]);

/**
 * SQLite (better-sqlite3 result codes; extended codes such as SQLITE_IOERR_WRITE start
 * with these): the write lock stayed taken past the busy timeout, or the file cannot be
 * opened, written (read-only, disk full) or read right now. Constraint violations,
 * syntax errors and corruption are not outages.
 */
const SQLITE_UNAVAILABLE_CODES = /^SQLITE_(BUSY|LOCKED|CANTOPEN|READONLY|FULL|IOERR|PROTOCOL)(_|$)/;

/** Statement timeout (or cancelled), idle-in-transaction timeout. */
const DEADLINE_CODES = new Set(['57014', '25P03']);

function fieldsOf(error: unknown): { code?: unknown; name?: unknown; message: string } {
  const e = error as { code?: unknown; name?: unknown; message?: unknown } | undefined;
  return { code: e?.code, name: e?.name, message: String(e?.message ?? '') };
}

/** Errors that mean the database cannot be used right now, not that a statement or the configuration is wrong. */
export function isDatabaseUnreachable(error: unknown): boolean {
  const { code, name, message } = fieldsOf(error);
  if (typeof code === 'string' && (UNREACHABLE_CODES.has(code) || SQLITE_UNAVAILABLE_CODES.test(code))) return true;
  if (name === 'KnexTimeoutError') return true;
  // better-sqlite3 opening a file whose directory is gone (a TypeError, without a code).
  if (/Cannot open database because the directory does not exist/.test(message)) return true;
  return /Connection terminated|timeout expired|connect ECONNREFUSED|Timeout acquiring a connection|is not queryable/i.test(message);
}

/** A statement that ran out of its time budget (server- or client-side): the database is too slow right now. */
export function isDatabaseDeadline(error: unknown): boolean {
  const { code, message } = fieldsOf(error);
  return (typeof code === 'string' && DEADLINE_CODES.has(code)) || /Query read timeout/i.test(message);
}
