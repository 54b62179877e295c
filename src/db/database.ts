import knexFactory, { type Knex } from 'knex';
import pg from 'pg';
import { knexConfig, type DatabaseDeadlines, type DatabaseSettings, type KnexLogSink } from './knex-config.js';
import { withDeadline } from '../shared/deadline.js';
import type { Logger } from '../shared/logger.js';
import { ThrottledLog } from '../shared/throttled-log.js';
import { databaseClientOf } from './database-url.js';
import { dialectOf } from './dialect.js';
import { checkServerTimeoutsOnce } from './pooler-timeouts.js';

// BIGINT ids and counts fit comfortably in a double for this service; return numbers, not strings.
pg.types.setTypeParser(pg.types.builtins.INT8, (value: string) => Number.parseInt(value, 10));

export type Database = Knex;
export type { DatabaseDeadlines, DatabaseSettings };

/** pg's error when a statement's answer did not arrive within its query_timeout. */
const QUERY_READ_TIMEOUT = 'Query read timeout';

type PooledClient = pg.Client & { __knexUid: string; __knex__disposed?: unknown };

/**
 * Destroys a pool connection as soon as a statement on it misses its client deadline
 * (a silently dead connection would otherwise be handed out again and again), and counts it.
 */
class DeadConnectionReaper {
  private readonly live = new Map<string, PooledClient>();
  count = 0;

  /** knex's pool hook: remembers each new connection by knex's id for it. */
  readonly afterCreate = (connection: unknown, done: (error: Error | null, connection: unknown) => void) => {
    const client = connection as PooledClient;
    const uid = client.__knexUid;
    this.live.set(uid, client);
    client.once('end', () => this.live.delete(uid));
    done(null, client);
  };

  watch(db: Database): void {
    db.on('query-error', (error: unknown, query: { __knexUid?: string }) => {
      const client = query.__knexUid === undefined ? undefined : this.live.get(query.__knexUid);
      if (!client || !((error as Error | undefined)?.message ?? '').endsWith(QUERY_READ_TIMEOUT)) return;
      this.live.delete(client.__knexUid);
      this.count += 1;
      // knex's own mark for a connection its pool must destroy instead of handing out (set
      // now: the socket's close event comes too late for the release that follows).
      client.__knex__disposed = error;
      // With its statement still pending, end() destroys the socket rather than waiting on it.
      void client.end().catch(() => undefined);
    });
  }
}

const reapers = new WeakMap<Database, DeadConnectionReaper>();

/** Connections this pool destroyed because a statement on them missed its deadline. */
export function connectionsGivenUpCount(db: Database): number {
  return reapers.get(db)?.count ?? 0;
}

/** knex's warnings in the log: each kind (its first line) in full once, then as a periodic count. */
function knexLogSink(log: Logger): KnexLogSink {
  const warnings = new ThrottledLog(log, 'warn');
  return {
    warn: (message) => warnings.record(String(message).split('\n', 1)[0]!.slice(0, 200), 'knex warning', { knex: String(message) }),
    error: (message) => log.error({ knex: String(message) }, 'knex error'),
    debug: (message) => log.debug({ knex: String(message) }, 'knex debug'),
  };
}

export interface PoolOptions {
  poolMax: number;
  /** Where knex's warnings go (the console otherwise). */
  log?: Logger;
  /** The deadlines; without them (migrations, tools) statements may run as long as they need. */
  settings?: DatabaseSettings;
  /** What Postgres shows in pg_stat_activity (default `pulse`). */
  applicationName?: string;
}

/**
 * A knex pool. With `settings` every statement is bounded (server and client side; behind
 * a transaction pooler the server side is the pooler's or the role's, checked once); in
 * any case a statement that missed its client deadline costs its connection. An SQLite
 * pool (one connection, knex-config.ts) has none of this: its statements run in-process and
 * cannot hang on a network; a lock held elsewhere is bounded by the busy timeout.
 */
export function createDatabase(databaseUrl: string, { poolMax, log, settings, applicationName }: PoolOptions): Database {
  const logSink = log && knexLogSink(log);
  if (databaseClientOf(databaseUrl) === 'sqlite') return knexFactory(knexConfig(databaseUrl, { poolMax, logSink, deadlines: settings }));
  const reaper = new DeadConnectionReaper();
  const checkPooler = log && settings?.databasePooler === 'pgbouncer' ? () => checkServerTimeoutsOnce(db, settings, log) : undefined;
  const afterCreate: typeof reaper.afterCreate = (connection, done) => {
    reaper.afterCreate(connection, done);
    // Once the connection is in the pool, so the check can use it.
    if (checkPooler) setImmediate(checkPooler);
  };
  const db = knexFactory(knexConfig(databaseUrl, { poolMax, logSink, deadlines: settings, afterCreate, applicationName }));
  reaper.watch(db);
  reapers.set(db, reaper);
  return db;
}

/**
 * A trivial statement bounded by a timeout: the truth about the database right now. A ping
 * whose answer is late costs its connection, so the next ping gets a new one.
 */
export async function pingDatabase(db: Database, timeoutMs: number): Promise<boolean> {
  try {
    await withDeadline(db.raw(dialectOf(db).ping).options({ query_timeout: timeoutMs }), timeoutMs, 'database ping');
    return true;
  } catch {
    return false;
  }
}
