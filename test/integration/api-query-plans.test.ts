import { expect } from 'chai';
import pg from 'pg';
import { insertEntries, signUp, startApi, type ApiHarness } from './api-harness.js';

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Index Cond'?: string;
  Plans?: PlanNode[];
}

function nodes(plan: PlanNode): PlanNode[] {
  return [plan, ...(plan.Plans ?? []).flatMap(nodes)];
}

/**
 * Runs the API's real traffic, records every SQL statement knex sends, and EXPLAINs
 * each with sequential scans disabled: a query with no usable index would still show
 * a Seq Scan, so none may appear. List queries must also read rows in index order
 * (no Sort node), which is what makes a cursor page cost the same at any depth.
 */
describe('journal API: every query runs on an index (PostgreSQL EXPLAIN; PostgreSQL only: SQLite plans differ)', function () {
  this.timeout(60_000);
  let api: ApiHarness;
  const statements: Array<{ sql: string; bindings: unknown[] }> = [];

  before(async () => {
    api = await startApi({ label: 'api_plans' });
    const [alice, bob] = await Promise.all([signUp(api), signUp(api)]);
    const spread = (i: number) => new Date(Date.parse('2025-01-01T00:00:00Z') + i * 3_600_000);
    await insertEntries(api.db, alice.userId, Array.from({ length: 3000 }, (_, i) => ({ created_at: spread(i), category: `c${i % 7}` })));
    await insertEntries(api.db, bob.userId, Array.from({ length: 3000 }, (_, i) => ({ created_at: spread(i) })));
    await api.db.raw('ANALYZE entries; ANALYZE users');

    api.db.on('query', (query: { sql: string; bindings?: unknown[] }) => statements.push({ sql: query.sql, bindings: query.bindings ?? [] }));
    const call = async (method: string, path: string, body?: unknown) => {
      const res = await api.request(method, path, { token: alice.token, body });
      expect(res.status, `${method} ${path}: ${res.text}`).to.be.below(300);
      return res.json;
    };
    const first = await call('GET', '/entries?limit=5');
    await call('GET', '/entries?page=250&limit=10');
    await call('GET', `/entries?cursor=${first.next_cursor}`);
    await call('GET', '/entries?category=c3&page=3');
    await call('GET', '/entries?from=2025-02-01&to=2025-02-10');
    await call('GET', '/entries?from=2025-02-01&to=2025-03-10T00:00:00Z&category=c1&page=2');
    await call('GET', `/entries?category=c2&cursor=${first.next_cursor}`);
    await call('GET', `/entries/${first.entries[0].id}`);
    const created = await call('POST', '/entries', { text: 't', mood: 5, category: 'c1' });
    await call('PATCH', `/entries?id=${created.id}`, { text: 'u', mood: 6, category: 'c2' });
    await call('DELETE', `/entries/${created.id}`);
    await call('GET', '/stats');
    await call('GET', '/stats?from=2025-02-01&to=2025-02-28&category=c4');
    await call('POST', '/login', { email: alice.email, password: 'secret123' });
  });
  after(async () => api?.close());

  it('uses an index for every statement and never sorts a page', async () => {
    const explained = statements.filter((statement) => !/^insert/i.test(statement.sql));
    expect(explained.length).to.be.greaterThan(12);
    const client = new pg.Client({ connectionString: api.config.databaseUrl });
    await client.connect();
    try {
      await client.query('SET enable_seqscan = off');
      let keysetPages = 0;
      for (const { sql, bindings } of explained) {
        const result = await client.query(`EXPLAIN (FORMAT JSON) ${sql}`, bindings);
        const plan = nodes((result.rows[0]['QUERY PLAN'] as Array<{ Plan: PlanNode }>)[0]!.Plan);
        const seqScans = plan.filter((node) => node['Node Type'] === 'Seq Scan');
        expect(seqScans, `sequential scan in: ${sql}`).to.deep.equal([]);
        expect(plan.some((node) => node['Index Name']), `no index in: ${sql}`).to.equal(true);
        if (/order by "created_at" desc, "id" desc limit/i.test(sql)) {
          expect(plan.map((node) => node['Node Type']), `sorted page in: ${sql}`).not.to.include('Sort');
        }
        if (/\(created_at, id\) </.test(sql)) {
          // The keyset bound must start the index range, not filter rows read from the top.
          keysetPages += 1;
          expect(plan.map((node) => node['Index Cond'] ?? '').join(' '), sql).to.match(/ROW\(created_at, id\) < ROW/);
        }
      }
      expect(keysetPages).to.equal(2);
    } finally {
      await client.end();
    }
  });
});
