import knexFactory, { type Knex } from 'knex';
import pg from 'pg';
import { knexConfig, type DatabaseDeadlines } from '../../knexfile.js';
import { withDeadline } from '../shared/deadline.js';
import type { Logger } from '../shared/logger.js';
import { ThrottledLog } from '../shared/throttled-log.js';

// BIGINT ids and counts fit comfortably in a double for this service; return numbers, not strings.
pg.types.setTypeParser(pg.types.builtins.INT8, (value: string) => Number.parseInt(value, 10));

export type Database = Knex;
export type { DatabaseDeadlines };

/** pg's error when a statement's answer did not arrive within its query_timeout. */
const QUERY_READ_TIMEOUT = 'Query read timeout';

const connectionsGivenUp = new WeakMap<Database, { count: number }>();

/** Connections this pool destroyed because a statement on them missed its deadline. */
export function connectionsGivenUpCount(db: Database): number {
  return connectionsGivenUp.get(db)?.count ?? 0;
}

export function missedItsDeadline(error: unknown): boolean {
  return ((error as Error | undefined)?.message ?? '').endsWith(QUERY_READ_TIMEOUT);
}

/**
 * A knex pool. With `deadlines` every statement is bounded (server and client side) and a
 * statement that missed its deadline costs its connection: the connection is destroyed at
 * once, so a silently dead connection is never handed out again. knex's warnings go to
 * the log, each kind in full once and then as a periodic count.
 */
export function createDatabase(databaseUrl: string, poolMax: number, log?: Logger, deadlines?: DatabaseDeadlines): Database {
  const knexWarnings = log && new ThrottledLog(log, 'warn');
  const sink = log && {
    warn: (message: unknown) => knexWarnings!.record(firstLine(message), 'knex warning', { knex: String(message) }),
    error: (message: unknown) => log.error({ knex: String(message) }, 'knex error'),
    debug: (message: unknown) => log.debug({ knex: String(message) }, 'knex debug'),
  };
  const live = new Map<string, pg.Client>();
  const afterCreate = (connection: unknown, done: (error: Error | null, connection: unknown) => void) => {
    const client = connection as pg.Client & { __knexUid: string };
    const uid = client.__knexUid;
    live.set(uid, client);
    client.once('end', () => live.delete(uid));
    done(null, client);
  };
  const db = knexFactory(knexConfig(databaseUrl, { poolMax, logSink: sink, deadlines, afterCreate }));
  const givenUp = { count: 0 };
  connectionsGivenUp.set(db, givenUp);
  db.on('query-error', (error: unknown, query: { __knexUid?: string }) => {
    const connection = query.__knexUid === undefined ? undefined : live.get(query.__knexUid);
    if (!connection || !missedItsDeadline(error)) return;
    live.delete(query.__knexUid!);
    givenUp.count += 1;
    // knex's own mark for a connection its pool must destroy instead of handing out (set
    // now: the socket's close event comes too late for the release that follows).
    (connection as { __knex__disposed?: unknown }).__knex__disposed = error;
    // With its statement still pending, end() destroys the socket rather than waiting on it.
    void connection.end().catch(() => undefined);
  });
  return db;
}

function firstLine(message: unknown): string {
  return String(message).split('\n', 1)[0]!.slice(0, 200);
}

/**
 * `select 1` bounded by a timeout: the truth about the database right now. A ping whose
 * answer is late costs its connection, so the next ping gets a new one.
 */
export async function pingDatabase(db: Database, timeoutMs: number): Promise<boolean> {
  try {
    await withDeadline(db.raw('select 1').options({ query_timeout: timeoutMs }), timeoutMs, 'database ping');
    return true;
  } catch {
    return false;
  }
}
