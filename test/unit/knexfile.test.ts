import { expect } from 'chai';
import { knexConfig } from '../../knexfile.js';

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
});
