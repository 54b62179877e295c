import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Knex } from 'knex';
import { parseDatabaseUrl } from './database-url.js';
import { sqliteTimestampsAsDates } from './dialect.js';
import { ExistingSqliteFileClient } from './sqlite-client.js';

const here = path.dirname(fileURLToPath(import.meta.url));

/** Compiled migrations live next to this file's compiled copy: dist/src/db/migrations. */
export const MIGRATIONS_DIRECTORY = path.join(here, 'migrations');

/** Where knex's own warnings go (it prints plain text to the console otherwise). */
export interface KnexLogSink {
  warn(message: unknown): void;
  error(message: unknown): void;
  debug(message: unknown): void;
}

/**
 * What sits between Pulse and Postgres (DATABASE_POOLER): nothing, or a pooler in
 * transaction mode such as PgBouncer's `pool_mode = transaction`, where consecutive
 * transactions of one client connection may run on different server connections.
 */
export const DATABASE_POOLERS = ['none', 'pgbouncer'] as const;
export type DatabasePooler = (typeof DATABASE_POOLERS)[number];

/** How long serving a request may wait on Postgres (named as in Config). */
export interface DatabaseDeadlines {
  /** TCP connect, TLS and authentication of a new connection. */
  databaseConnectTimeoutMs: number;
  /** Waiting for a pool connection (including one being created). */
  databaseAcquireTimeoutMs: number;
  /** Server side: Postgres cancels a statement running longer. */
  databaseStatementTimeoutMs: number;
}

/** The deadlines, and where the server-side ones can be set (named as in Config). */
export interface DatabaseSettings extends DatabaseDeadlines {
  databasePooler?: DatabasePooler;
}

/**
 * Past the statement timeout the server answers with a cancellation; an answer that has
 * not arrived this much later is not coming (dead connection), and the client gives up.
 */
export const DEAD_CONNECTION_GRACE_MS = 1000;
/** A session left inside a transaction by a client that went away is ended by the server. */
export const IDLE_IN_TRANSACTION_TIMEOUT_MS = 10_000;
/** Keepalive probes keep NAT and firewall state alive and reveal a peer that vanished. */
export const TCP_KEEPALIVE_DELAY_MS = 10_000;

/** The longest a single statement waits for its answer before its connection is given up. */
export function queryDeadlineMs(deadlines: DatabaseDeadlines): number {
  return deadlines.databaseStatementTimeoutMs + DEAD_CONNECTION_GRACE_MS;
}

/**
 * The longest a request waits on Postgres when it is unreachable, partitioned or silent:
 * a pool connection (acquire timeout), then one statement (its deadline); the first
 * such failure ends the request with a 503.
 */
export function unavailableAnswerBoundMs(deadlines: DatabaseDeadlines): number {
  return deadlines.databaseAcquireTimeoutMs + queryDeadlineMs(deadlines);
}

/**
 * Session settings sent as startup parameters. A transaction-pooling PgBouncer refuses
 * startup parameters it does not track, and a session setting could not follow a client
 * from one server connection to the next anyway: behind one, Postgres gets these from the
 * pooler's `connect_query` or the role's settings (docs/OPERATIONS.md), and the client
 * keeps its own deadline (query_timeout).
 */
function serverSideTimeouts(settings: DatabaseSettings) {
  if (settings.databasePooler === 'pgbouncer') return {};
  return {
    statement_timeout: settings.databaseStatementTimeoutMs,
    idle_in_transaction_session_timeout: IDLE_IN_TRANSACTION_TIMEOUT_MS,
  };
}

function connectionSettings(databaseUrl: string, settings: DatabaseSettings | undefined, applicationName = 'pulse') {
  const base = {
    connectionString: databaseUrl,
    application_name: applicationName,
    keepAlive: true,
    keepAliveInitialDelayMillis: TCP_KEEPALIVE_DELAY_MS,
  };
  if (!settings) return base;
  return {
    ...base,
    connectionTimeoutMillis: settings.databaseConnectTimeoutMs,
    query_timeout: queryDeadlineMs(settings),
    ...serverSideTimeouts(settings),
  };
}

export interface KnexOptions {
  poolMax?: number;
  logSink?: KnexLogSink;
  /** Without deadlines (migrations, tools) statements may run as long as they need. */
  deadlines?: DatabaseSettings;
  afterCreate?: (connection: unknown, done: (error: Error | null, connection: unknown) => void) => void;
  /** PostgreSQL's application_name (default `pulse`). */
  applicationName?: string;
}

/** Without deadlines (migrations, tools) an SQLite statement waits this long for a lock. */
const SQLITE_TOOL_BUSY_TIMEOUT_MS = 5000;

/**
 * Set on every SQLite connection. WAL: readers never wait for the writer, and every worker
 * shares the one file (one writer at a time, waiting up to the busy timeout for the lock).
 * Foreign keys are enforced (SQLite itself leaves them off). synchronous stays FULL (the default):
 * an entry answered 201 survives a power cut.
 */
function sqlitePragmas(busyTimeoutMs: number): string[] {
  return [`busy_timeout = ${busyTimeoutMs}`, 'journal_mode = WAL', 'foreign_keys = ON'];
}

function sharedSettings(options: KnexOptions) {
  const { logSink } = options;
  return {
    ...(logSink && {
      log: {
        warn: (message: unknown) => logSink.warn(message),
        error: (message: unknown) => logSink.error(message),
        deprecate: (message: unknown) => logSink.warn(message),
        debug: (message: unknown) => logSink.debug(message),
      },
    }),
    // A failed statement's error names its SQL but not its bindings (password hashes, entry text).
    compileSqlOnError: false,
    migrations: {
      directory: MIGRATIONS_DIRECTORY,
      loadExtensions: ['.js'],
      tableName: 'knex_migrations',
    },
  };
}

function poolSettings(max: number, acquireTimeoutMillis: number, afterCreate: KnexOptions['afterCreate']) {
  return {
    min: 0,
    max,
    acquireTimeoutMillis,
    idleTimeoutMillis: 30_000,
    // A connection that cannot be created fails the request waiting for it at once.
    propagateCreateError: true,
    ...(afterCreate && { afterCreate }),
  };
}

/**
 * The embedded database. better-sqlite3 is synchronous, so a pool gets one connection
 * whatever poolMax says: a second connection of the same process waiting for the write
 * lock that the first holds across an await would sleep the whole thread in SQLite's busy
 * handler, and the first could never commit. DATABASE_STATEMENT_TIMEOUT_MS is the busy
 * timeout: how long a statement waits for another process's write lock.
 */
function sqliteConfig(file: string, options: KnexOptions): Knex.Config {
  const acquireTimeoutMillis = options.deadlines?.databaseAcquireTimeoutMs ?? 5000;
  const pragmas = sqlitePragmas(options.deadlines?.databaseStatementTimeoutMs ?? SQLITE_TOOL_BUSY_TIMEOUT_MS);
  const afterCreate: NonNullable<KnexOptions['afterCreate']> = (connection, done) => {
    try {
      for (const pragma of pragmas) (connection as { pragma(source: string): unknown }).pragma(pragma);
    } catch (error) {
      done(error as Error, connection);
      return;
    }
    if (options.afterCreate) options.afterCreate(connection, done);
    else done(null, connection);
  };
  return {
    client: ExistingSqliteFileClient,
    ...sharedSettings(options),
    connection: { filename: file },
    useNullAsDefault: true,
    postProcessResponse: sqliteTimestampsAsDates,
    pool: poolSettings(1, acquireTimeoutMillis, afterCreate),
    acquireConnectionTimeout: acquireTimeoutMillis,
  };
}

export function knexConfig(databaseUrl: string, options: KnexOptions = {}): Knex.Config {
  const target = parseDatabaseUrl(databaseUrl);
  if (target.client === 'sqlite') return sqliteConfig(target.file, options);
  const { poolMax = 10, deadlines, afterCreate, applicationName } = options;
  const acquireTimeoutMillis = deadlines?.databaseAcquireTimeoutMs ?? 5000;
  return {
    client: 'pg',
    ...sharedSettings(options),
    connection: connectionSettings(databaseUrl, deadlines, applicationName),
    pool: poolSettings(poolMax, acquireTimeoutMillis, afterCreate),
    acquireConnectionTimeout: acquireTimeoutMillis,
  };
}
