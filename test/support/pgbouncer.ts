import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { freePort } from './ports.js';

/** Debian's pgbouncer package. */
export const PGBOUNCER_BINARY = '/usr/sbin/pgbouncer';
/** The local test Postgres (trust authentication). */
const POSTGRES_HOST = '127.0.0.1';
const POSTGRES_PORT = 5432;
const USER = 'postgres';

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export function pgbouncerInstalled(): boolean {
  return fs.existsSync(PGBOUNCER_BINARY);
}

export interface PgBouncerOptions {
  /** Databases it routes, each to the same name on the local Postgres. */
  databases: string[];
  /** Server connections per database and user (`default_pool_size`). */
  poolSize: number;
  /** Run on every new server connection (`connect_query`), e.g. the server-side timeouts. */
  connectQuery?: string;
}

const POOL_COUNTERS = ['cl_active', 'cl_waiting', 'sv_active', 'sv_idle', 'sv_used', 'sv_tested', 'sv_login'] as const;

/** One row of the admin console's SHOW POOLS (the numbers Pulse's tests look at). */
export type PoolRow = { database: string } & Record<(typeof POOL_COUNTERS)[number], number>;

/** Server connections a pool holds, whatever their state. */
export const serverConnections = (row: PoolRow) => row.sv_active + row.sv_idle + row.sv_used + row.sv_tested + row.sv_login;

/**
 * A private PgBouncer in transaction pooling mode, in the foreground with a generated
 * configuration in its own temporary directory, in front of the local Postgres.
 */
export class PgBouncerProcess {
  readonly output: string[] = [];
  private readonly exited: Promise<void>;

  private constructor(
    readonly port: number,
    private readonly child: ChildProcess,
  ) {
    running.add(child);
    child.stdout!.on('data', (chunk: Buffer) => this.output.push(chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => this.output.push(chunk.toString()));
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    void this.exited.then(() => running.delete(child));
  }

  static async start(options: PgBouncerOptions): Promise<PgBouncerProcess> {
    const port = await freePort();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pulse-pgbouncer-'));
    const connectQuery = options.connectQuery ? ` connect_query='${options.connectQuery.replaceAll("'", "''")}'` : '';
    const databases = options.databases.map((name) => `${name} = host=${POSTGRES_HOST} port=${POSTGRES_PORT} dbname=${name}${connectQuery}`);
    const settings = [
      `listen_addr = 127.0.0.1`,
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = trust',
      `auth_file = ${path.join(dir, 'userlist.txt')}`,
      `admin_users = ${USER}`,
      'pool_mode = transaction',
      `default_pool_size = ${options.poolSize}`,
      'min_pool_size = 0',
      'reserve_pool_size = 0',
      'max_client_conn = 2000',
      // A client that sits in a transaction is cut off: it would hold a server connection.
      'idle_transaction_timeout = 10',
    ];
    // PgBouncer refuses to run as root; as root (CI) it switches to an unprivileged user.
    if (process.getuid?.() === 0) settings.push('user = nobody');
    const ini = path.join(dir, 'pgbouncer.ini');
    fs.writeFileSync(ini, ['[databases]', ...databases, '', '[pgbouncer]', ...settings, ''].join('\n'));
    fs.writeFileSync(path.join(dir, 'userlist.txt'), `"${USER}" ""\n`);
    for (const file of fs.readdirSync(dir)) fs.chmodSync(path.join(dir, file), 0o644);
    fs.chmodSync(dir, 0o755);

    const child = spawn(PGBOUNCER_BINARY, [ini], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
    const bouncer = new PgBouncerProcess(port, child);
    await bouncer.waitUp();
    return bouncer;
  }

  private async waitUp(): Promise<void> {
    const deadline = Date.now() + 10_000;
    let exited = false;
    void this.exited.then(() => (exited = true));
    while (!this.output.join('').includes('process up')) {
      if (exited || Date.now() > deadline) throw new Error(`pgbouncer did not start:\n${this.output.join('')}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  /** A URL through this PgBouncer to one of its databases. */
  url(database: string): string {
    return `postgres://${USER}@127.0.0.1:${this.port}/${database}`;
  }

  /** A connection to the admin console (SHOW POOLS, SHOW SERVERS: simple queries only). */
  async adminConsole(): Promise<{ pools: () => Promise<PoolRow[]>; close: () => Promise<void> }> {
    const client = new pg.Client({ connectionString: this.url('pgbouncer') });
    await client.connect();
    return {
      pools: async () =>
        (await client.query<Record<string, unknown>>('SHOW POOLS')).rows.map(
          (row) => ({ database: String(row.database), ...Object.fromEntries(POOL_COUNTERS.map((name) => [name, Number(row[name])])) }) as PoolRow,
        ),
      close: () => client.end(),
    };
  }

  async stop(): Promise<void> {
    if (!running.has(this.child)) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(timer);
  }
}
