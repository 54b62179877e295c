import { expect } from 'chai';
import { isDependencyError } from '../../src/app/errors.js';
import { connectionsGivenUpCount, createDatabase, pingDatabase, type Database, type DatabaseDeadlines } from '../../src/db/database.js';
import { createLogger } from '../../src/shared/logger.js';
import { POSTGRES_ADMIN_URL } from '../support/databases.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { waitFor } from '../support/wait.js';

const DEADLINES: DatabaseDeadlines = { databaseConnectTimeoutMs: 300, databaseAcquireTimeoutMs: 400, databaseStatementTimeoutMs: 300 };
/** Statement timeout + the client's 1 s grace. */
const QUERY_DEADLINE_MS = 1300;
const SLACK_MS = 400;

async function timed<T>(operation: () => Promise<T>): Promise<{ ms: number; value?: T; error?: unknown }> {
  const started = performance.now();
  try {
    const value = await operation();
    return { ms: performance.now() - started, value };
  } catch (error) {
    return { ms: performance.now() - started, error };
  }
}

describe('database deadlines (real Postgres behind a TCP proxy)', function () {
  this.timeout(20_000);
  let proxy: TcpProxy;
  let db: Database;

  beforeEach(async () => {
    proxy = new TcpProxy('127.0.0.1', 5432);
    await proxy.start();
    const url = new URL(POSTGRES_ADMIN_URL);
    url.port = String(proxy.port);
    db = createDatabase(url.toString(), { poolMax: 2, log: createLogger('test', 'silent'), settings: DEADLINES });
  });
  afterEach(async () => {
    await proxy.cut();
    await db.destroy();
  });

  it('a statement on a silently dead connection fails at its deadline and costs the connection; the next one gets a new connection', async () => {
    await db.raw('select 1');
    proxy.silenceExisting();
    const stuck = await timed(() => db.raw('select 2'));
    expect(stuck.error, 'the stuck statement fails').to.be.instanceOf(Error);
    expect(isDependencyError(stuck.error), 'as a dependency error (503)').to.equal(true);
    expect(stuck.ms).to.be.within(QUERY_DEADLINE_MS - 50, QUERY_DEADLINE_MS + SLACK_MS);
    expect(connectionsGivenUpCount(db)).to.equal(1);

    const next = await timed(() => db.raw('select 3 as n'));
    expect(next.error).to.equal(undefined);
    expect((next.value as { rows: Array<{ n: number }> }).rows).to.deep.equal([{ n: 3 }]);
  });

  it('the server cancels a statement past DATABASE_STATEMENT_TIMEOUT_MS; the connection stays in use', async () => {
    const slow = await timed(() => db.raw('select pg_sleep(5)'));
    expect((slow.error as { code?: string }).code).to.equal('57014');
    expect(isDependencyError(slow.error)).to.equal(true);
    expect(slow.ms).to.be.below(QUERY_DEADLINE_MS);
    expect(connectionsGivenUpCount(db)).to.equal(0);
    expect((await db.raw('select 1 as n')).rows).to.deep.equal([{ n: 1 }]);
  });

  it('partitioned: a new connection fails within the connect and acquire timeouts, and the pool serves again once it heals', async () => {
    proxy.blackhole();
    const attempt = await timed(() => db.raw('select 1'));
    expect(isDependencyError(attempt.error), String(attempt.error)).to.equal(true);
    expect(attempt.ms).to.be.below(DEADLINES.databaseAcquireTimeoutMs + SLACK_MS);
    proxy.heal();
    expect((await db.raw('select 1 as n')).rows).to.deep.equal([{ n: 1 }]);
  });

  it('a health ping whose answer is late destroys its connection at its deadline, so the next ping gets a new one', async () => {
    const pingPool = createDatabase(db.client.config.connection.connectionString as string, { poolMax: 1 });
    try {
      expect(await pingDatabase(pingPool, 200)).to.equal(true);
      proxy.silenceExisting();
      const late = await timed(() => pingDatabase(pingPool, 200));
      expect(late.value).to.equal(false);
      expect(late.ms).to.be.below(200 + SLACK_MS);
      // The statement's own deadline is the ping's: it fires within a moment of the answer.
      await waitFor(() => connectionsGivenUpCount(pingPool) === 1, 'the stuck connection to be given up', 100, 5);
      expect(await pingDatabase(pingPool, 200)).to.equal(true);
    } finally {
      await pingPool.destroy();
    }
  });
});
