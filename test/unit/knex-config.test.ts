import fs from 'node:fs';
import { expect } from 'chai';
import knexfile from '../../knexfile.js';
import { knexConfig, MIGRATIONS_DIRECTORY } from '../../src/db/knex-config.js';

const DEADLINES = { databaseConnectTimeoutMs: 2000, databaseAcquireTimeoutMs: 2000, databaseStatementTimeoutMs: 3000 };
const connectionOf = (config: ReturnType<typeof knexConfig>) => config.connection as Record<string, unknown>;

describe('knexConfig (unit)', () => {
  it('sends the server-side timeouts as startup parameters to Postgres itself', () => {
    const connection = connectionOf(knexConfig('postgres://db/pulse', { deadlines: { ...DEADLINES, databasePooler: 'none' } }));
    expect(connection).to.include({ statement_timeout: 3000, idle_in_transaction_session_timeout: 10_000, query_timeout: 4000 });
    expect(connectionOf(knexConfig('postgres://db/pulse', { deadlines: DEADLINES }))).to.include({ statement_timeout: 3000 });
  });

  it('behind PgBouncer sends no session setting (refused as a startup parameter) and keeps the client deadline', () => {
    const connection = connectionOf(knexConfig('postgres://pgbouncer/pulse', { deadlines: { ...DEADLINES, databasePooler: 'pgbouncer' } }));
    expect(connection).to.not.have.any.keys('statement_timeout', 'idle_in_transaction_session_timeout', 'lock_timeout', 'options');
    expect(connection).to.include({ query_timeout: 4000, connectionTimeoutMillis: 2000, application_name: 'pulse' });
  });

  it('SQLite: one connection per pool whatever the share, and WAL, the busy timeout (DATABASE_STATEMENT_TIMEOUT_MS) and foreign keys on every connection', async () => {
    const config = knexConfig('sqlite:/var/lib/pulse/pulse.sqlite', { poolMax: 8, deadlines: DEADLINES });
    expect(config.connection).to.deep.equal({ filename: '/var/lib/pulse/pulse.sqlite' });
    const pool = config.pool as { max: number; afterCreate: (connection: unknown, done: (error: Error | null) => void) => void };
    expect(pool.max).to.equal(1);
    const pragmas: string[] = [];
    await new Promise<void>((resolve, reject) => pool.afterCreate({ pragma: (source: string) => pragmas.push(source) }, (error) => (error ? reject(error) : resolve())));
    expect(pragmas).to.deep.equal(['busy_timeout = 3000', 'journal_mode = WAL', 'foreign_keys = ON']);
  });

  it("finds the compiled migrations, and knexfile.ts (the knex CLI's) gives the configuration Pulse uses", () => {
    expect(fs.readdirSync(MIGRATIONS_DIRECTORY).filter((file) => file.endsWith('.js'))).to.not.be.empty;
    const fromKnexfile = knexfile() as ReturnType<typeof knexConfig>;
    expect(fromKnexfile.migrations).to.deep.include({ directory: MIGRATIONS_DIRECTORY });
  });

  it("names its Postgres connections in pg_stat_activity: `pulse`, or the application name asked for", () => {
    expect(connectionOf(knexConfig('postgres://db/pulse'))).to.include({ application_name: 'pulse' });
    expect(connectionOf(knexConfig('postgres://db/pulse', { applicationName: 'pulse-migrations' }))).to.include({ application_name: 'pulse-migrations' });
  });
});
