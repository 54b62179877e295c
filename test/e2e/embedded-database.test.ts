import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import Database from 'better-sqlite3';
import { expect } from 'chai';
import { createClient } from 'redis';
import { SQLITE } from '../support/database-backends.js';
import { uniqueSqliteDirectory } from '../support/databases.js';
import { sendJson, signUpThrough } from '../support/journal-client.js';
import { PRIMARY_ENTRY, PROJECT_ROOT, pulsePerTest } from '../support/pulse-process.js';

const EMBEDDED_LINE = /^database: the embedded SQLite file /;

/** A port that accepts and counts connections, answering nothing. */
async function countingListener(): Promise<{ port: number; connections: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const listener = { port: 0, connections: 0, close: () => new Promise<void>((resolve) => (sockets.forEach((s) => s.destroy()), server.close(() => resolve()))) };
  const server = net.createServer((socket) => {
    listener.connections += 1;
    sockets.add(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  listener.port = (server.address() as net.AddressInfo).port;
  return listener;
}

/** Clients connected to the Redis on 127.0.0.1:6379, the one a client without a URL would reach (this check's own excluded). */
async function connectedRedisClients(): Promise<number> {
  const client = createClient({ url: 'redis://127.0.0.1:6379' });
  await client.connect();
  try {
    return Number(/connected_clients:(\d+)/.exec(await client.info('clients'))![1]) - 1;
  } finally {
    await client.close();
  }
}

describe('the embedded SQLite database (end to end)', function () {
  this.timeout(60_000);
  const pulses = pulsePerTest();

  it('a fresh machine (DATABASE_URL and REDIS_URL unset, Postgres pointed nowhere): one start-up line says where the data lives; the cluster serves the whole API from ./var/pulse.sqlite in WAL mode and never reaches for Postgres or Redis', async () => {
    // Were Pulse to fall back to a server anyway: libpq's variables lead to a port that only counts, Redis' default is watched.
    const nowhere = await countingListener();
    const redisClientsBefore = await connectedRedisClients();
    const pulse = await pulses.start({ workers: 2, database: SQLITE, env: { PGHOST: '127.0.0.1', PGPORT: String(nowhere.port) } });
    const file = path.join(pulse.cwd, 'var/pulse.sqlite');
    const lines = pulse.logs.filter((l) => EMBEDDED_LINE.test(l.msg));
    expect(lines, 'one line').to.have.length(1);
    expect(lines[0]).to.include({ role: 'primary', databaseFile: file });
    expect(lines[0]!.msg).to.equal(
      `database: the embedded SQLite file ${file} (DATABASE_URL is not set); one host only: set DATABASE_URL=postgres://… to use PostgreSQL`,
    );
    expect(pulse.logs.find((l) => l.msg === 'starting primary')).to.include({ database: `sqlite:${file}` }).and.not.have.property('databaseConnections');
    expect(pulse.logs.map((l) => l.msg)).to.include('database created');

    // Writes from both workers at once, each on a new connection (the cluster alternates workers).
    const { token } = await signUpThrough(pulse);
    const created = await Promise.all(
      Array.from({ length: 24 }, (_, i) => sendJson(pulse, 'POST', '/entries', { token, body: { text: `entry ${i}`, mood: (i % 10) + 1, category: i % 2 ? 'odd' : 'even' } })),
    );
    expect(created.map((answer) => answer.status)).to.deep.equal(Array(24).fill(201));
    const workersThatWrote = new Set(pulse.logs.filter((l) => l.msg === 'request' && l.method === 'POST' && l.route === '/entries').map((l) => l.worker));
    expect(workersThatWrote.size, 'both workers wrote to the one file').to.equal(2);

    const page = await sendJson(pulse, 'GET', '/entries?limit=10', { token });
    expect(page.status).to.equal(200);
    expect(page.body).to.include({ total: 24, totalPages: 3 });
    const next = await sendJson(pulse, 'GET', `/entries?limit=10&cursor=${page.body.next_cursor}`, { token });
    expect(next.body.entries).to.have.length(10);
    const stats = await sendJson(pulse, 'GET', '/stats?category=odd', { token });
    expect(stats.status).to.equal(200);
    expect(stats.body).to.include({ count: 12, average_mood: 5.5 });
    const duplicate = await sendJson(pulse, 'POST', '/register', { body: { email: 'twice@example.com', password: 'secret-password' } });
    expect(duplicate.status).to.equal(201);
    expect((await sendJson(pulse, 'POST', '/register', { body: { email: 'twice@example.com', password: 'secret-password' } })).status).to.equal(409);

    const health = await fetch(`${pulse.adminUrl}/health`);
    expect(health.status).to.equal(200);
    expect(await health.json()).to.include({ status: 'healthy', database: 'connected', redis: 'not configured' });
    const metrics = await (await fetch(`${pulse.adminUrl}/metrics`)).text();
    expect(metrics).to.match(/^http_requests_total\{method="POST",route="\/entries",status="201"\} 24$/m);
    expect(metrics).to.match(/^pulse_db_pool_connections\{state="used"\} \d+$/m);
    expect(nowhere.connections, 'connections to the Postgres pointed at').to.equal(0);
    expect(await connectedRedisClients(), 'clients of the Redis on its default port').to.be.at.most(redisClientsBefore);
    await nowhere.close();

    const reader = new Database(file, { readonly: true, fileMustExist: true });
    try {
      expect(reader.pragma('journal_mode', { simple: true })).to.equal('wal');
      expect(reader.prepare('select count(*) as n from entries').get()).to.deep.equal({ n: 24 });
    } finally {
      reader.close();
    }
    expect(fs.statSync(file).mode & 0o777, 'the file holds password hashes: owner only').to.equal(0o600);

    pulse.signal('SIGTERM');
    expect((await pulse.waitExit(15_000)).code).to.equal(0);
    expect(pulse.logs.filter((l) => l.msg === 'pools closed' && l.database === 'closed')).to.have.length(2);
  });

  it('a restart finds the data where it left it, and migrates nothing', async () => {
    const directory = uniqueSqliteDirectory('restart');
    const env = { DATABASE_URL: `sqlite:${path.join(directory, 'pulse.sqlite')}` };
    const first = await pulses.start({ workers: 1, env });
    const { token } = await signUpThrough(first);
    expect((await sendJson(first, 'POST', '/entries', { token, body: { text: 'kept', mood: 5, category: 'c' } })).status).to.equal(201);
    await first.stop();

    const second = await pulses.start({ workers: 1, env });
    const line = second.logs.find((l) => EMBEDDED_LINE.test(l.msg));
    expect(line!.msg).to.include('(DATABASE_URL names it)');
    expect(second.logs.map((l) => l.msg)).to.include('database schema up to date').and.not.include('database created');
    const listed = await sendJson(second, 'GET', '/entries', { token });
    expect(listed.body.entries.map((e: { text: string }) => e.text)).to.deep.equal(['kept']);
  });

  it('NODE_ENV=production with an explicit sqlite: path starts and serves', async () => {
    const file = path.join(uniqueSqliteDirectory('production'), 'pulse.sqlite');
    const pulse = await pulses.start({ workers: 1, env: { NODE_ENV: 'production', DATABASE_URL: `sqlite:${file}` } });
    const { token } = await signUpThrough(pulse);
    expect((await sendJson(pulse, 'POST', '/entries', { token, body: { text: 't', mood: 5, category: 'c' } })).status).to.equal(201);
    expect(fs.existsSync(file)).to.equal(true);
  });

  it('a place the primary cannot write to stops the start with one line naming the file (not an outage to wait out)', () => {
    const directory = uniqueSqliteDirectory('unwritable');
    const notADirectory = path.join(directory, 'a-file');
    fs.writeFileSync(notADirectory, '');
    const file = path.join(notADirectory, 'pulse.sqlite');
    const result = spawnSync(process.execPath, [PRIMARY_ENTRY], {
      cwd: PROJECT_ROOT,
      env: { PATH: process.env.PATH ?? '', DATABASE_URL: `sqlite:${file}`, CONTROL_SOCKET: path.join(directory, 'pulse.sock'), WORKERS: '1', PORT: '0', ADMIN_PORT: '0' },
      encoding: 'utf8',
      timeout: 15_000,
    });
    expect(result.status).to.equal(1);
    const fatal = result.stderr
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { level: number; msg: string; err: { message: string; code: string } })
      .filter((line) => line.level === 60);
    expect(fatal).to.have.length(1);
    expect(fatal[0]!.msg).to.equal('cannot migrate the database; not starting');
    expect(fatal[0]!.err.code).to.equal('EEXIST');
    expect(fatal[0]!.err.message).to.match(new RegExp(`^cannot create the SQLite database ${file}: EEXIST: .* \\(its directory must be writable by Pulse; under systemd: StateDirectory=pulse`));
  });
});
