import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { isDependencyError } from '../../src/app/errors.js';
import { connectionsGivenUpCount, createDatabase, type DatabaseSettings } from '../../src/db/database.js';
import { MIGRATIONS_APPLICATION_NAME, runMigrations } from '../../src/db/migrations-runner.js';
import { POOLER_WITHOUT_SERVER_TIMEOUTS } from '../../src/db/pooler-timeouts.js';
import { printUncaptured } from '../support/captured-output.js';
import { runCtl } from '../support/ctl.js';
import { CountSampler, databaseNameOf, postgresConnectionCounter } from '../support/connection-sampler.js';
import { DatabaseLoad } from '../support/database-load.js';
import { uniqueDatabaseUrl, uniqueRedisPrefix } from '../support/databases.js';
import { sendJson, signUpThrough } from '../support/journal-client.js';
import { PgBouncerProcess, pgbouncerInstalled, serverConnections } from '../support/pgbouncer.js';
import { PROJECT_ROOT, pulsePerTest, type PulseProcess } from '../support/pulse-process.js';
import { createLogger } from '../../src/shared/logger.js';
import { waitFor } from '../support/wait.js';

const WORKERS = 4;
const SERVER_POOL = 6;
/** What DATABASE_STATEMENT_TIMEOUT_MS asks of the server, set where a transaction pooler keeps it. */
const SERVER_TIMEOUTS = 'SET statement_timeout = 3000; SET idle_in_transaction_session_timeout = 10000';

const warnings = (pulse: PulseProcess) => pulse.logs.filter((line) => line.msg === POOLER_WITHOUT_SERVER_TIMEOUTS);

describe('behind PgBouncer in transaction pooling mode (end to end)', function () {
  this.timeout(180_000);
  const pulses = pulsePerTest();
  let bouncer: PgBouncerProcess | undefined;

  before(function () {
    if (!pgbouncerInstalled()) {
      printUncaptured('      skipped: pgbouncer is not installed (Debian package pgbouncer; .ci/run installs it)');
      this.skip();
    }
  });

  afterEach(async function () {
    if (this.currentTest?.state === 'failed' && bouncer) console.log(bouncer.output.join('').slice(-4000));
    await bouncer?.stop();
    bouncer = undefined;
  });

  it(`two hosts × ${WORKERS} workers through ${SERVER_POOL} server connections: 0 failed requests under load and a rolling restart, never more server connections than the pool`, async () => {
    const directUrl = uniqueDatabaseUrl('pgbouncer');
    const database = databaseNameOf(directUrl);
    bouncer = await PgBouncerProcess.start({ databases: [database], poolSize: SERVER_POOL, connectQuery: SERVER_TIMEOUTS });
    const shared = {
      DATABASE_URL: bouncer.url(database),
      DATABASE_POOLER: 'pgbouncer',
      REDIS_KEY_PREFIX: uniqueRedisPrefix('pgbouncer'),
      RATE_LIMIT_MAX: '1000000000',
    };
    // Host A creates and migrates the database through a direct connection; host B
    // migrates through PgBouncer itself (nothing to apply, but knex's lock is taken).
    const hostA = await pulses.start({ workers: WORKERS, env: { ...shared, DATABASE_MIGRATION_URL: directUrl } });
    const hostB = await pulses.start({ workers: WORKERS, env: shared });
    expect(hostA.logs.map((line) => line.msg)).to.include.members(['database created', 'migrations applied']);
    expect(hostB.logs.map((line) => line.msg)).to.include('database schema up to date');

    const { token } = await signUpThrough(hostA);
    // Host A's reload migrates the new release through its direct DATABASE_MIGRATION_URL, outside the pool.
    const postgres = await postgresConnectionCounter(database, MIGRATIONS_APPLICATION_NAME);
    const admin = await bouncer.adminConsole();
    const pool = async () => (await admin.pools()).find((row) => row.database === database)!;
    const atPostgres = new CountSampler(postgres.count);
    const atBouncer = new CountSampler(async () => serverConnections(await pool()));
    const waitingClients = new CountSampler(async () => (await pool()).cl_waiting);
    try {
      const loads = [hostA, hostB].map((host) => new DatabaseLoad({ port: host.port, token, readers: 8, writers: 4 }));
      const answered = () => loads.reduce((sum, load) => sum + load.answered, 0);
      await waitFor(() => answered() > 400, 'load to be served by both hosts', 30_000);
      const reload = await runCtl(['reload'], hostA.env);
      const answeredAtReload = answered();
      await waitFor(() => answered() > answeredAtReload + 400, 'load after the rolling restart', 30_000);
      const reports = await Promise.all(loads.map((load) => load.stop()));
      const [postgresSide, bouncerSide, waiting] = await Promise.all([atPostgres.stop(), atBouncer.stop(), waitingClients.stop()]);

      expect(reload.code, reload.stdout + reload.stderr).to.equal(0);
      expect(reload.stdout).to.match(/rolling restart finished: 4\/4 workers replaced/);
      for (const [index, report] of reports.entries()) {
        expect(report.failures, `failed requests on host ${'AB'[index]}`).to.deep.equal({});
        expect(report.answered, `traffic flowed to host ${'AB'[index]}`).to.be.above(0);
      }
      for (const sampled of [postgresSide, bouncerSide, waiting]) {
        expect(sampled.failedSamples).to.equal(0);
        expect(sampled.samples).to.be.above(20);
      }
      expect(postgresSide.max, 'pooled Postgres connections to the database (pg_stat_activity, migrations aside)').to.be.at.most(SERVER_POOL);
      expect(bouncerSide.max, "PgBouncer's server connections (SHOW POOLS)").to.be.at.most(SERVER_POOL);
      // The pool was the bottleneck: all of it in use, and clients queued for it.
      expect(bouncerSide.max).to.equal(SERVER_POOL);
      expect(waiting.max, 'clients waiting for a server connection').to.be.above(0);
      // connect_query gave every server connection the timeouts Pulse cannot send through a pooler.
      expect([...warnings(hostA), ...warnings(hostB)]).to.deep.equal([]);
    } finally {
      await Promise.all([atPostgres.stop(), atBouncer.stop(), waitingClients.stop()]);
      await Promise.all([postgres.close(), admin.close()]);
    }
  });

  it('warns once per worker when Postgres applies no server-side timeouts behind the pooler', async () => {
    const directUrl = uniqueDatabaseUrl('pgbouncer');
    const database = databaseNameOf(directUrl);
    bouncer = await PgBouncerProcess.start({ databases: [database], poolSize: 2 });
    const host = await pulses.start({
      workers: 2,
      env: { DATABASE_URL: bouncer.url(database), DATABASE_POOLER: 'pgbouncer', DATABASE_MIGRATION_URL: directUrl },
    });
    await waitFor(() => warnings(host).length >= 2, 'a warning from each worker', 10_000);
    expect(warnings(host).map((line) => line.role)).to.deep.equal(['worker', 'worker']);
    expect(warnings(host)[0]).to.include({ statementTimeoutMs: 0, idleInTransactionTimeoutMs: 0, databaseStatementTimeoutMs: 3000 });
    // Degraded protection, not a degraded service: requests are served.
    const { token } = await signUpThrough(host);
    const res = await fetch(`${host.url}/entries?category=work`, { headers: { Authorization: `Bearer ${token}` } });
    expect(res.status).to.equal(200);
  });

  it('concurrent duplicates of an Idempotency-Key, each a transaction, through 2 server connections: one entry, one answer for all', async () => {
    const directUrl = uniqueDatabaseUrl('pgbouncer');
    const database = databaseNameOf(directUrl);
    bouncer = await PgBouncerProcess.start({ databases: [database], poolSize: 2, connectQuery: SERVER_TIMEOUTS });
    const host = await pulses.start({
      workers: 2,
      env: { DATABASE_URL: bouncer.url(database), DATABASE_POOLER: 'pgbouncer', DATABASE_MIGRATION_URL: directUrl, RATE_LIMIT_MAX: '100000' },
    });
    const { token } = await signUpThrough(host);
    const body = { text: 'booked the flights', mood: 8, category: 'travel' };
    const answers = await Promise.all(
      Array.from({ length: 10 }, () => sendJson(host, 'POST', '/entries', { token, body, headers: { 'Idempotency-Key': 'trip-1' } })),
    );
    expect(answers.map((a) => a.status)).to.deep.equal(Array(10).fill(201));
    expect(new Set(answers.map((a) => a.body.id)).size, 'one id for every answer').to.equal(1);
    expect(answers.filter((a) => a.headers.get('idempotent-replayed') === 'true')).to.have.length(9);
    const list = await sendJson(host, 'GET', '/entries?category=travel', { token });
    expect(list.body.total).to.equal(1);
  });

  it('statement deadlines hold behind the pooler: the server cancels (connect_query), or the client gives the connection up', async () => {
    const directUrl = uniqueDatabaseUrl('pgbouncer');
    const database = databaseNameOf(directUrl);
    await runMigrations(directUrl);
    const settings: DatabaseSettings = { databaseConnectTimeoutMs: 1000, databaseAcquireTimeoutMs: 1000, databaseStatementTimeoutMs: 300, databasePooler: 'pgbouncer' };
    const log = createLogger('test', 'silent');

    bouncer = await PgBouncerProcess.start({ databases: [database], poolSize: 1, connectQuery: 'SET statement_timeout = 300' });
    const withServerTimeout = createDatabase(bouncer.url(database), { poolMax: 1, log, settings });
    try {
      const cancelled = await withServerTimeout.raw('select pg_sleep(5)').catch((error: unknown) => error);
      expect((cancelled as { code?: string }).code, 'cancelled by the server').to.equal('57014');
      expect(connectionsGivenUpCount(withServerTimeout)).to.equal(0);
      expect((await withServerTimeout.raw('select 1 as n')).rows).to.deep.equal([{ n: 1 }]);
    } finally {
      await withServerTimeout.destroy();
      await bouncer.stop();
    }

    bouncer = await PgBouncerProcess.start({ databases: [database], poolSize: 1 });
    const clientSideOnly = createDatabase(bouncer.url(database), { poolMax: 1, log, settings });
    try {
      const started = performance.now();
      const gaveUp = await clientSideOnly.raw('select pg_sleep(3)').catch((error: unknown) => error);
      expect(isDependencyError(gaveUp), String(gaveUp)).to.equal(true);
      // Statement timeout + 1 s grace: never the statement's own 3 s.
      expect(performance.now() - started).to.be.below(2500);
      expect(connectionsGivenUpCount(clientSideOnly)).to.equal(1);
      expect((await clientSideOnly.raw('select 1 as n')).rows).to.deep.equal([{ n: 1 }]);
    } finally {
      await clientSideOnly.destroy();
    }
  });

  it('`migrate-cli` migrates through DATABASE_MIGRATION_URL, never through the pooled DATABASE_URL', async () => {
    const directUrl = uniqueDatabaseUrl('pgbouncer');
    const database = databaseNameOf(directUrl);
    bouncer = await PgBouncerProcess.start({ databases: [database], poolSize: 1 });
    const pooledUrl = bouncer.url(database);
    await bouncer.stop(); // the pooled URL now refuses connections
    const { stdout } = await promisify(execFile)(process.execPath, [path.join(PROJECT_ROOT, 'dist/src/db/migrate-cli.js')], {
      cwd: PROJECT_ROOT,
      env: { PATH: process.env.PATH ?? '', DATABASE_URL: pooledUrl, DATABASE_MIGRATION_URL: directUrl, DATABASE_POOLER: 'pgbouncer' },
    });
    expect(stdout).to.match(/"createdDatabase":true.*"msg":"migrations applied"/);
  });
});
