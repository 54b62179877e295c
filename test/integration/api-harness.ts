import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import type Koa from 'koa';
import { createApp } from '../../src/app/app.js';
import { createAppMetrics, type AppMetrics } from '../../src/app/metrics.js';
import { closeRedis, createRedis, type RedisClient } from '../../src/cache/redis.js';
import { createDatabase, type Database } from '../../src/db/database.js';
import { parseDatabaseUrl } from '../../src/db/database-url.js';
import { runMigrations } from '../../src/db/migrations-runner.js';
import { loadConfig, type Config } from '../../src/shared/config.js';
import { createLogger } from '../../src/shared/logger.js';
import { POSTGRES, type DatabaseBackend } from '../support/database-backends.js';
import { TEST_REDIS_URL, uniqueRedisPrefix } from '../support/databases.js';

export const TEST_JWT_SECRET = 'integration-test-secret-0123456789';

export interface ApiResponse {
  status: number;
  headers: Headers;
  text: string;
  /** The parsed body when it was JSON, else undefined. */
  json: any;
}

export interface RequestOptions {
  /** Sent as JSON unless it is already a string. */
  body?: unknown;
  token?: string;
  headers?: Record<string, string>;
}

export interface ApiHarness {
  url: string;
  port: number;
  config: Config;
  db: Database;
  redis: RedisClient;
  metrics: AppMetrics;
  app: Koa;
  request(method: string, path: string, options?: RequestOptions): Promise<ApiResponse>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  label: string;
  /** Default PostgreSQL. */
  database?: DatabaseBackend;
  /** Where the app's knex connects (e.g. through a proxy); migrations always go direct. */
  appDatabaseUrl?: (directUrl: string) => string;
  /** Leave the app's Redis client unconnected (Redis "down" for this worker). */
  redisDown?: boolean;
  env?: Record<string, string>;
}

/** The real Koa app in-process on a free port, with its own database and Redis prefix. */
export async function startApi(options: HarnessOptions): Promise<ApiHarness> {
  const databaseUrl = (options.database ?? POSTGRES).uniqueUrl(options.label);
  await runMigrations(databaseUrl);
  const config = loadConfig({
    DATABASE_URL: databaseUrl,
    REDIS_URL: TEST_REDIS_URL,
    REDIS_KEY_PREFIX: uniqueRedisPrefix(options.label),
    JWT_SECRET: TEST_JWT_SECRET,
    RATE_LIMIT_MAX: '1000000',
    LOG_LEVEL: 'silent',
    ...options.env,
  });
  const log = createLogger('test', 'silent');
  // The worker's deadlines (DATABASE_*_TIMEOUT_MS; for SQLite, its busy timeout).
  const db = createDatabase(options.appDatabaseUrl?.(databaseUrl) ?? databaseUrl, { poolMax: 5, settings: config });
  const redis = createRedis(config.redisUrl ?? TEST_REDIS_URL, log);
  if (!options.redisDown) await redis.connect();
  const metrics = createAppMetrics({ db, redis });
  const app = createApp({ config, db, redis, log, metrics, health: async () => undefined });
  const server = http.createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;

  return {
    url,
    port,
    config,
    db,
    redis,
    metrics,
    app,
    async request(method, path, { body, token, headers = {} } = {}) {
      const init: RequestInit = { method, headers: { ...headers } };
      if (token) (init.headers as Record<string, string>).Authorization = `Bearer ${token}`;
      if (body !== undefined) {
        init.body = typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body);
        (init.headers as Record<string, string>)['Content-Type'] ??= 'application/json';
      }
      const res = await fetch(`${url}${path}`, init);
      const text = await res.text();
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = undefined;
      }
      return { status: res.status, headers: res.headers, text, json };
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await db.destroy();
      await closeRedis(redis);
    },
  };
}

let userCounter = 0;

/** Registers a fresh user and logs in. */
export async function signUp(api: ApiHarness, email?: string): Promise<{ token: string; userId: number; email: string }> {
  const address = email ?? `user${++userCounter}-${process.pid}@example.com`;
  const registered = await api.request('POST', '/register', { body: { email: address, password: 'secret123' } });
  if (registered.status !== 201) throw new Error(`register failed: ${registered.status} ${registered.text}`);
  const login = await api.request('POST', '/login', { body: { email: address, password: 'secret123' } });
  if (login.status !== 200) throw new Error(`login failed: ${login.status} ${login.text}`);
  return { token: login.json.token, userId: registered.json.user_id, email: address };
}

/** Inserts entries straight into the table (fast bulk fixtures); returns them newest first. */
export async function insertEntries(
  db: Database,
  userId: number,
  rows: Array<{ text?: string; mood?: number; category?: string; created_at: Date }>,
): Promise<void> {
  // SQLite compiles a multi-row insert to a compound SELECT of at most 500 terms.
  for (let i = 0; i < rows.length; i += 400) {
    await db('entries').insert(
      rows.slice(i, i + 400).map((row) => ({
        user_id: userId,
        text: row.text ?? 'fixture',
        mood: row.mood ?? 5,
        category: row.category ?? 'general',
        created_at: row.created_at,
      })),
    );
  }
}

/**
 * The harness with a database the test can take away (`cut()`): Postgres behind a TCP
 * proxy that is closed, every connection with it; SQLite's file moved away and the pool's
 * connection reopened, as a worker reopens one after its idle timeout.
 */
export async function startApiWithCuttableDatabase(options: HarnessOptions): Promise<{ api: ApiHarness; cut(): Promise<void> }> {
  if ((options.database ?? POSTGRES).client === 'postgres') {
    const proxy = new TcpProxy(5432);
    const port = await proxy.start();
    const appDatabaseUrl = (direct: string) => Object.assign(new URL(direct), { port: String(port) }).toString();
    const api = await startApi({ ...options, appDatabaseUrl });
    const close = api.close.bind(api);
    api.close = async () => {
      await proxy.cut().catch(() => undefined);
      await close();
    };
    return { api, cut: () => proxy.cut() };
  }
  const api = await startApi(options);
  const target = parseDatabaseUrl(api.config.databaseUrl);
  return {
    api,
    async cut() {
      if (target.client !== 'sqlite') throw new Error('not an SQLite harness');
      for (const suffix of ['', '-wal', '-shm']) {
        if (fs.existsSync(target.file + suffix)) fs.renameSync(target.file + suffix, `${target.file}${suffix}.moved-away`);
      }
      await api.db.destroy();
      api.db.initialize();
    },
  };
}

/**
 * A TCP proxy in front of a server that a test can cut: `cut()` closes the listener
 * and destroys every relayed connection, so the next connect is refused.
 */
export class TcpProxy {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  port = 0;

  constructor(private readonly targetPort: number, private readonly targetHost = '127.0.0.1') {
    this.server = net.createServer((client) => {
      const upstream = net.connect(this.targetPort, this.targetHost);
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('error', () => undefined);
        socket.on('close', () => this.sockets.delete(socket));
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
  }

  async start(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this.port;
  }

  async cut(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }
}
