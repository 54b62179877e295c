import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { DATABASE_POOLERS, type DatabasePooler } from '../db/knex-config.js';
import { DEFAULT_SQLITE_FILE, DatabaseUrlError, databaseUrlOf, parseDatabaseUrl, type DatabaseTarget } from '../db/database-url.js';
import { ExitCode } from './exit-codes.js';

/** Exit code for bad configuration (sysexits EX_CONFIG). */
export const EXIT_CONFIG = ExitCode.config;

export class ConfigError extends Error {
  constructor(
    readonly variable: string,
    readonly reason: string,
  ) {
    super(`invalid configuration: ${variable} ${reason}`);
    this.name = 'ConfigError';
  }
}

const DEV_JWT_SECRET = 'pulse-development-secret-change-me';
/** What NODE_ENV=production requires of JWT_SECRET (README, "Configuration"). */
export const PRODUCTION_JWT_SECRET_MIN_LENGTH = 32;
export const PRODUCTION_JWT_SECRET_MIN_DISTINCT_CHARACTERS = 10;

/**
 * Why a JWT secret is too weak for production, or undefined when it is acceptable. Weak:
 * the published development secret, whitespace only, fewer than 32 characters, or fewer
 * than 10 different characters (one character repeated, a short pattern repeated). The
 * reason never contains the secret.
 */
export function jwtSecretWeakness(secret: string): string | undefined {
  if (secret === DEV_JWT_SECRET) return 'is the published development secret';
  if (secret.trim() === '') return 'is only whitespace';
  if (secret.length < PRODUCTION_JWT_SECRET_MIN_LENGTH) return `must be at least ${PRODUCTION_JWT_SECRET_MIN_LENGTH} characters`;
  const distinct = new Set(secret).size;
  if (distinct < PRODUCTION_JWT_SECRET_MIN_DISTINCT_CHARACTERS) {
    return `must have at least ${PRODUCTION_JWT_SECRET_MIN_DISTINCT_CHARACTERS} different characters (it has ${distinct})`;
  }
  return undefined;
}

const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();
const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');
const logLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

function urlWithProtocols(protocols: string[]) {
  return z.string().refine(
    (value) => {
      try {
        return protocols.includes(new URL(value).protocol);
      } catch {
        return false;
      }
    },
    { message: `must be a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}` },
  );
}

/** REDIS_URL's explicit "no Redis": the single-host store (rate limits counted by the primary, no entry cache). */
export const NO_REDIS = 'none';
const redisUrl = urlWithProtocols(['redis:', 'rediss:']);
/** A DATABASE_URL form (src/db/database-url.ts), parsed: relative SQLite paths resolve against the working directory. */
const databaseUrl = z.string().transform((value, ctx): DatabaseTarget => {
  try {
    return parseDatabaseUrl(value);
  } catch (error) {
    if (!(error instanceof DatabaseUrlError)) throw error;
    ctx.addIssue({ code: 'custom', message: error.message });
    return z.NEVER;
  }
});

const envSchema = z.object({
  NODE_ENV: z.string().default('development'),
  PORT: port.default(8080),
  HOST: z.string().min(1).default('0.0.0.0'),
  ADMIN_PORT: port.default(9464),
  ADMIN_HOST: z.string().min(1).default('127.0.0.1'),
  WORKERS: positiveInt.max(256).optional(),
  SHUTDOWN_TIMEOUT_MS: positiveInt.max(600_000).default(5000),
  SHUTDOWN_DELAY_MS: z.coerce.number().int().min(0).max(600_000).default(0),
  DATABASE_URL: databaseUrl.optional(),
  DATABASE_MIGRATION_URL: databaseUrl.optional(),
  DATABASE_POOLER: z.enum(DATABASE_POOLERS).default('none'),
  DATABASE_POOL_MAX: positiveInt.min(2).max(10_000).default(40),
  DATABASE_CONNECT_TIMEOUT_MS: positiveInt.max(60_000).default(2000),
  DATABASE_ACQUIRE_TIMEOUT_MS: positiveInt.max(60_000).default(2000),
  DATABASE_STATEMENT_TIMEOUT_MS: positiveInt.max(600_000).default(3000),
  REDIS_URL: z.string().refine((value) => value === NO_REDIS || redisUrl.safeParse(value).success, {
    message: `must be a URL starting with redis:// or rediss://, or ${NO_REDIS} (no Redis: the single-host store)`,
  }).optional(),
  REDIS_KEY_PREFIX: z.string().default(''),
  REDIS_BREAKER_THRESHOLD: positiveInt.max(1000).default(5),
  REDIS_BREAKER_COOL_OFF_MS: positiveInt.max(600_000).default(1000),
  JWT_SECRET: z.string().min(16, 'must be at least 16 characters').optional(),
  LOG_LEVEL: logLevel.default('info'),
  PING_MESSAGE: z.string().default('pong'),
  TRUST_PROXY: bool.default(false),
  RATE_LIMIT_MAX: positiveInt.default(100),
  RATE_LIMIT_WINDOW_MS: positiveInt.default(60_000),
  HEALTH_REPORT_INTERVAL_MS: positiveInt.max(60_000).default(1000),
  WORKER_HEARTBEAT_TIMEOUT_MS: positiveInt.default(10_000),
  WORKER_READY_TIMEOUT_MS: positiveInt.default(30_000),
  WORKER_RESPAWN_BACKOFF_MAX_MS: positiveInt.min(100).max(600_000).default(30_000),
  MAX_WORKER_MEMORY_MB: positiveInt.optional(),
  MAX_REQUESTS_PER_WORKER: positiveInt.optional(),
  HTTP_HEADERS_TIMEOUT_MS: positiveInt.min(1000).max(600_000).default(10_000),
  HTTP_REQUEST_TIMEOUT_MS: positiveInt.min(1000).max(3_600_000).default(30_000),
  HTTP_KEEP_ALIVE_TIMEOUT_MS: positiveInt.min(100).max(3_600_000).default(5000),
  MAX_CONNECTIONS_PER_WORKER: positiveInt.max(1_000_000).default(10_000),
  CONTROL_SOCKET: z.string().min(1).optional(),
  ACCESS_LOG: bool.default(true),
  PULSE_ENV_FILE: z.string().min(1).optional(),
});

export interface Config {
  nodeEnv: string;
  port: number;
  host: string;
  adminPort: number;
  adminHost: string;
  workers: number;
  shutdownTimeoutMs: number;
  shutdownDelayMs: number;
  /** `postgres://…`, or `sqlite:<absolute path>` for the embedded database. */
  databaseUrl: string;
  /** DATABASE_URL was not set: the embedded SQLite file at its default place. */
  databaseDefaulted: boolean;
  /** Where the primary migrates (a direct connection when DATABASE_URL is a transaction pooler). */
  databaseMigrationUrl: string;
  databasePooler: DatabasePooler;
  databasePoolMax: number;
  databaseConnectTimeoutMs: number;
  databaseAcquireTimeoutMs: number;
  databaseStatementTimeoutMs: number;
  /**
   * Undefined without Redis (REDIS_URL unset, or `none`): the primary counts the rate limits
   * (exact across this host's workers) and the entry list cache is off.
   */
  redisUrl: string | undefined;
  redisKeyPrefix: string;
  redisBreakerThreshold: number;
  redisBreakerCoolOffMs: number;
  jwtSecret: string;
  logLevel: z.infer<typeof logLevel>;
  pingMessage: string;
  trustProxy: boolean;
  rateLimitMax: number;
  rateLimitWindowMs: number;
  healthReportIntervalMs: number;
  workerHeartbeatTimeoutMs: number;
  workerReadyTimeoutMs: number;
  workerRespawnBackoffMaxMs: number;
  maxWorkerMemoryMb: number | undefined;
  maxRequestsPerWorker: number | undefined;
  httpHeadersTimeoutMs: number;
  httpRequestTimeoutMs: number;
  httpKeepAliveTimeoutMs: number;
  maxConnectionsPerWorker: number;
  controlSocket: string;
  accessLog: boolean;
  /** The environment file (systemd EnvironmentFile= syntax) `pulse check-config` validates too. */
  envFile: string | undefined;
}

/** Names of every environment variable Pulse reads (documented in README). */
export const CONFIG_VARIABLES = Object.keys(envSchema.shape);

/**
 * Parses and validates the environment once. Empty strings count as unset so that
 * `FOO=` in an EnvironmentFile means "default", not "invalid".
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const input: Record<string, string> = {};
  for (const key of CONFIG_VARIABLES) {
    const value = env[key];
    if (value !== undefined && value !== '') input[key] = value;
  }
  const parsed = envSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const variable = String(issue.path[0] ?? 'environment');
    const shown = variable === 'JWT_SECRET' || variable.endsWith('_URL') ? '' : ` (got ${JSON.stringify(input[variable])})`;
    throw new ConfigError(variable, `${issue.message}${shown}`);
  }
  const e = parsed.data;
  const production = e.NODE_ENV === 'production';
  if (e.WORKER_HEARTBEAT_TIMEOUT_MS < 2 * e.HEALTH_REPORT_INTERVAL_MS) {
    throw new ConfigError(
      'WORKER_HEARTBEAT_TIMEOUT_MS',
      `must be at least twice HEALTH_REPORT_INTERVAL_MS (${e.HEALTH_REPORT_INTERVAL_MS}), or healthy workers are killed as hung`,
    );
  }
  if (e.HTTP_REQUEST_TIMEOUT_MS < e.HTTP_HEADERS_TIMEOUT_MS) {
    throw new ConfigError('HTTP_REQUEST_TIMEOUT_MS', `must be at least HTTP_HEADERS_TIMEOUT_MS (${e.HTTP_HEADERS_TIMEOUT_MS}): the headers are part of the request`);
  }
  if (production) {
    if (!e.JWT_SECRET) throw new ConfigError('JWT_SECRET', 'is required when NODE_ENV=production');
    const weakness = jwtSecretWeakness(e.JWT_SECRET);
    if (weakness) {
      throw new ConfigError('JWT_SECRET', `${weakness}: refused when NODE_ENV=production (generate one with: openssl rand -base64 48)`);
    }
    if (e.REDIS_URL === undefined) {
      throw new ConfigError(
        'REDIS_URL',
        `is required when NODE_ENV=production: a redis:// URL, or ${NO_REDIS} for the single-host store (rate limits per host, no entry cache)`,
      );
    }
    if (!e.DATABASE_URL) {
      throw new ConfigError(
        'DATABASE_URL',
        'is required when NODE_ENV=production: postgres://… for PostgreSQL, or sqlite:/var/lib/pulse/pulse.sqlite to run on the embedded single-host database on purpose',
      );
    }
  }
  const database = e.DATABASE_URL ?? parseDatabaseUrl(`sqlite:${DEFAULT_SQLITE_FILE}`);
  checkDatabaseCompanions(database, e.DATABASE_MIGRATION_URL, e.DATABASE_POOLER);
  return {
    nodeEnv: e.NODE_ENV,
    port: e.PORT,
    host: e.HOST,
    adminPort: e.ADMIN_PORT,
    adminHost: e.ADMIN_HOST,
    workers: e.WORKERS ?? os.availableParallelism(),
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    shutdownDelayMs: e.SHUTDOWN_DELAY_MS,
    databaseUrl: databaseUrlOf(database),
    databaseDefaulted: e.DATABASE_URL === undefined,
    databaseMigrationUrl: databaseUrlOf(e.DATABASE_MIGRATION_URL ?? database),
    databasePooler: e.DATABASE_POOLER,
    databasePoolMax: e.DATABASE_POOL_MAX,
    databaseConnectTimeoutMs: e.DATABASE_CONNECT_TIMEOUT_MS,
    databaseAcquireTimeoutMs: e.DATABASE_ACQUIRE_TIMEOUT_MS,
    databaseStatementTimeoutMs: e.DATABASE_STATEMENT_TIMEOUT_MS,
    redisUrl: e.REDIS_URL === NO_REDIS ? undefined : e.REDIS_URL,
    redisKeyPrefix: e.REDIS_KEY_PREFIX,
    redisBreakerThreshold: e.REDIS_BREAKER_THRESHOLD,
    redisBreakerCoolOffMs: e.REDIS_BREAKER_COOL_OFF_MS,
    jwtSecret: e.JWT_SECRET ?? DEV_JWT_SECRET,
    logLevel: e.LOG_LEVEL,
    pingMessage: e.PING_MESSAGE,
    trustProxy: e.TRUST_PROXY,
    rateLimitMax: e.RATE_LIMIT_MAX,
    rateLimitWindowMs: e.RATE_LIMIT_WINDOW_MS,
    healthReportIntervalMs: e.HEALTH_REPORT_INTERVAL_MS,
    workerHeartbeatTimeoutMs: e.WORKER_HEARTBEAT_TIMEOUT_MS,
    workerReadyTimeoutMs: e.WORKER_READY_TIMEOUT_MS,
    workerRespawnBackoffMaxMs: e.WORKER_RESPAWN_BACKOFF_MAX_MS,
    maxWorkerMemoryMb: e.MAX_WORKER_MEMORY_MB,
    maxRequestsPerWorker: e.MAX_REQUESTS_PER_WORKER,
    httpHeadersTimeoutMs: e.HTTP_HEADERS_TIMEOUT_MS,
    httpRequestTimeoutMs: e.HTTP_REQUEST_TIMEOUT_MS,
    httpKeepAliveTimeoutMs: e.HTTP_KEEP_ALIVE_TIMEOUT_MS,
    maxConnectionsPerWorker: e.MAX_CONNECTIONS_PER_WORKER,
    controlSocket: controlSocketPath(e.CONTROL_SOCKET),
    accessLog: e.ACCESS_LOG,
    envFile: e.PULSE_ENV_FILE === undefined ? undefined : path.resolve(e.PULSE_ENV_FILE),
  };
}

/** The settings that only make sense beside some DATABASE_URLs. */
function checkDatabaseCompanions(database: DatabaseTarget, migration: DatabaseTarget | undefined, pooler: DatabasePooler): void {
  if (migration && migration.client !== database.client) {
    throw new ConfigError('DATABASE_MIGRATION_URL', `must name the same kind of database as DATABASE_URL (${database.client === 'sqlite' ? 'SQLite' : 'PostgreSQL'})`);
  }
  if (migration?.client === 'sqlite' && database.client === 'sqlite' && migration.file !== database.file) {
    throw new ConfigError('DATABASE_MIGRATION_URL', "must be DATABASE_URL's SQLite file (or unset): the workers would serve a database nobody migrated");
  }
  if (pooler !== 'none' && database.client === 'sqlite') {
    throw new ConfigError('DATABASE_POOLER', `${pooler} applies to a PostgreSQL DATABASE_URL only (an SQLite file has no pooler)`);
  }
}

/**
 * The control socket path, absolute (relative values resolve against the working
 * directory). Exported on its own so that `pulse ctl` finds the socket without
 * needing the rest of the service's configuration to be valid.
 */
export function controlSocketPath(value: string | undefined): string {
  return path.resolve(value === undefined || value === '' ? 'var/pulse.sock' : value);
}

export function usesDevelopmentJwtSecret(config: Config): boolean {
  return config.jwtSecret === DEV_JWT_SECRET;
}

/** Loads config or prints one line naming the variable and exits 78. */
export function loadConfigOrExit(env: NodeJS.ProcessEnv = process.env): Config {
  try {
    return loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`pulse: ${error.message}\n`);
      process.exit(EXIT_CONFIG);
    }
    throw error;
  }
}
