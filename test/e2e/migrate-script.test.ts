import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { expect } from 'chai';
import pg from 'pg';
import { uniqueDatabaseUrl } from '../support/databases.js';
import { PROJECT_ROOT } from '../support/pulse-process.js';

const BUILD_STEP = 'npm run build && ';

interface ScriptRun {
  code: number | null;
  stdout: string;
  stderr: string;
  lines: Array<{ level: number; msg: string; [key: string]: unknown }>;
}

/**
 * `npm run migrate` as npm runs it (`sh -c` in the package directory), minus its build step:
 * `npm test` built this very dist/ first, and building again would replace it under the
 * running suite.
 */
function runMigrateScript(env: Record<string, string>): Promise<ScriptRun> {
  const script = (JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts.migrate!;
  const child = spawn('sh', ['-c', script.slice(BUILD_STEP.length)], { cwd: PROJECT_ROOT, env: { PATH: process.env.PATH ?? '', ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => {
    child.once('close', (code) => {
      const lines = `${stdout}${stderr}`.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as ScriptRun['lines'][number]);
      resolve({ code, stdout, stderr, lines });
    });
  });
}

describe('npm run migrate (end to end, the real script against a fresh database)', function () {
  this.timeout(60_000);

  it('is the build followed by migrate-cli', () => {
    const { scripts } = JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    expect(scripts.migrate).to.equal(`${BUILD_STEP}node dist/src/db/migrate-cli.js`);
  });

  it('creates the database and applies every migration, then finds nothing to do', async () => {
    const databaseUrl = uniqueDatabaseUrl('migrate_script');
    const migrations = fs.readdirSync(path.join(PROJECT_ROOT, 'dist/src/db/migrations')).filter((name) => name.endsWith('.js')).sort();
    expect(migrations).to.have.length.above(0);

    const first = await runMigrateScript({ DATABASE_URL: databaseUrl });
    expect(first.code, first.stdout + first.stderr).to.equal(0);
    expect(first.lines.find((line) => line.msg === 'migrations applied')).to.deep.include({ createdDatabase: true, applied: migrations });

    const client = new pg.Client({ connectionString: databaseUrl });
    await client.connect();
    try {
      const tables = await client.query<{ name: string }>("select table_name as name from information_schema.tables where table_schema = 'public' order by 1");
      expect(tables.rows.map((row) => row.name)).to.include.members(['entries', 'idempotency_keys', 'knex_migrations', 'users']);
      expect((await client.query('select name from knex_migrations')).rowCount).to.equal(migrations.length);
    } finally {
      await client.end();
    }

    const again = await runMigrateScript({ DATABASE_URL: databaseUrl });
    expect(again.code, again.stdout + again.stderr).to.equal(0);
    expect(again.lines.find((line) => line.msg === 'database already up to date')).to.deep.include({ createdDatabase: false, applied: [] });
  });

  it('exits 1 with one fatal line when Postgres cannot be reached (the URL password never printed), 78 on a bad URL', async () => {
    // A port nothing listens on: refused at once.
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as net.AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));

    const unreachable = await runMigrateScript({ DATABASE_URL: `postgres://postgres:migrate-secret-4e1@127.0.0.1:${port}/pulse` });
    expect(unreachable.code).to.equal(1);
    expect(unreachable.lines.filter((line) => line.level === 60).map((line) => line.msg)).to.deep.equal(['migration failed']);
    expect(unreachable.stdout + unreachable.stderr).to.include('ECONNREFUSED').and.not.include('migrate-secret-4e1');

    const badUrl = await runMigrateScript({ DATABASE_URL: 'mysql://db/pulse' });
    expect(badUrl.code).to.equal(78);
    expect(badUrl.stderr).to.match(/^pulse: invalid configuration: DATABASE_URL /);
  });
});
