import path from 'node:path';

/**
 * Where the data lives: a PostgreSQL server, or an embedded SQLite file on this host.
 * DATABASE_URL forms: `postgres://…` / `postgresql://…`; `sqlite:<path>` (relative to the
 * working directory, or absolute) and `sqlite:///<absolute path>`. The path is taken
 * literally (no percent-decoding, no query string).
 */
export type DatabaseTarget = { client: 'postgres'; url: string } | { client: 'sqlite'; file: string };

export type DatabaseClient = DatabaseTarget['client'];

/** The embedded database when DATABASE_URL is not set (relative to the working directory). */
export const DEFAULT_SQLITE_FILE = 'var/pulse.sqlite';

export const DATABASE_URL_FORMS = 'a URL starting with postgres:// or postgresql://, or sqlite:<file path>';

const SQLITE_SCHEME = 'sqlite:';

/** Thrown with the reason a DATABASE_URL value is refused (never the value: it may hold a password). */
export class DatabaseUrlError extends Error {}

function sqliteFile(rest: string): string {
  // sqlite:///abs/path is the URL spelling of an absolute path (empty host); any other
  // authority (sqlite://host/…) has no meaning for a local file.
  const file = rest.startsWith('///') ? rest.slice(2) : rest;
  if (rest.startsWith('//') && !rest.startsWith('///')) {
    throw new DatabaseUrlError('sqlite: takes a file path (sqlite:/absolute/path, sqlite:relative/path or sqlite:///absolute/path), not a host');
  }
  if (file === '' || file === ':memory:') {
    throw new DatabaseUrlError('sqlite: needs a file path that every worker can open (an in-memory database would be one per worker)');
  }
  return path.resolve(file);
}

/** Parses a DATABASE_URL; a relative SQLite path is resolved against the working directory now. */
export function parseDatabaseUrl(value: string): DatabaseTarget {
  if (value.toLowerCase().startsWith(SQLITE_SCHEME)) return { client: 'sqlite', file: sqliteFile(value.slice(SQLITE_SCHEME.length)) };
  let protocol: string;
  try {
    protocol = new URL(value).protocol;
  } catch {
    throw new DatabaseUrlError(`must be ${DATABASE_URL_FORMS}`);
  }
  if (protocol !== 'postgres:' && protocol !== 'postgresql:') throw new DatabaseUrlError(`must be ${DATABASE_URL_FORMS}`);
  return { client: 'postgres', url: value };
}

/** The canonical DATABASE_URL of a target: an SQLite file becomes `sqlite:<absolute path>`. */
export function databaseUrlOf(target: DatabaseTarget): string {
  return target.client === 'sqlite' ? `${SQLITE_SCHEME}${target.file}` : target.url;
}

export function databaseClientOf(databaseUrl: string): DatabaseClient {
  return parseDatabaseUrl(databaseUrl).client;
}
