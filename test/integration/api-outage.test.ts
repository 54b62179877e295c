import Database from 'better-sqlite3';
import { expect } from 'chai';
import jwt from 'jsonwebtoken';
import { parseDatabaseUrl } from '../../src/db/database-url.js';
import { forEachDatabase, SQLITE } from '../support/database-backends.js';
import { signUp, startApi, startApiWithCuttableDatabase, TEST_JWT_SECRET, type ApiHarness } from './api-harness.js';

const UNAVAILABLE = { success: false, message: 'Service temporarily unavailable' };

forEachDatabase('journal API: dependency outages', (database) => {
  describe('database cut (Postgres: TCP proxy closed; SQLite: the file cannot be opened)', () => {
    let api: ApiHarness;
    let token: string;
    let userId: number;
    let entryId: number;

    before(async () => {
      const cuttable = await startApiWithCuttableDatabase({ label: 'api_db_cut', database });
      api = cuttable.api;
      ({ token, userId } = await signUp(api, 'outage@example.com'));
      entryId = (await api.request('POST', '/entries', { token, body: { text: 't', mood: 5, category: 'c' } })).json.id;
      expect((await api.request('GET', '/entries', { token })).status).to.equal(200);
      await cuttable.cut();
    });
    after(async () => api?.close());

    it('answers 503 "Service temporarily unavailable" instead of an empty list', async () => {
      for (const query of ['', '?cursor=', '?category=c']) {
        const res = await api.request('GET', `/entries${query}`, { token });
        expect(res.status, query).to.equal(503);
        expect(res.json).to.deep.equal(UNAVAILABLE);
      }
    });

    it('answers 503 for every database-backed route', async () => {
      const calls: Array<[string, string, unknown?]> = [
        ['POST', '/entries', { text: 't', mood: 5, category: 'c' }],
        ['GET', `/entries/${entryId}`],
        ['PATCH', `/entries/${entryId}`, { text: 't', mood: 5, category: 'c' }],
        ['DELETE', `/entries?id=${entryId}`],
        ['GET', '/stats'],
        ['POST', '/login', { email: 'outage@example.com', password: 'secret123' }],
        ['POST', '/register', { email: 'new@example.com', password: 'secret123' }],
      ];
      for (const [method, path, body] of calls) {
        const res = await api.request(method, path, { token, body });
        expect(res.status, `${method} ${path}`).to.equal(503);
        expect(res.json).to.deep.equal(UNAVAILABLE);
      }
    });

    it('answers 503, not 401, to a token whose user this worker has not checked yet', async () => {
      const unchecked = jwt.sign({ user_id: userId, exp: Math.floor(Date.now() / 1000) + 3600 }, TEST_JWT_SECRET);
      for (const path of ['/entries', '/stats']) {
        const res = await api.request('GET', path, { token: unchecked });
        expect(res.status, path).to.equal(503);
        expect(res.json).to.deep.equal(UNAVAILABLE);
      }
    });

    it('keeps answering what needs no database, and still validates first', async () => {
      expect((await api.request('GET', '/ping')).status).to.equal(200);
      expect((await api.request('POST', '/entries', { token, body: { text: '' } })).status).to.equal(400);
      expect((await api.request('GET', '/entries')).status).to.equal(401);
    });
  });

  describe('Redis unreachable', () => {
    let api: ApiHarness;
    before(async () => {
      api = await startApi({ label: 'api_redis_down', redisDown: true, database });
    });
    after(async () => api?.close());

    it('serves the whole API from the database alone', async () => {
      const { token } = await signUp(api);
      const created = await api.request('POST', '/entries', { token, body: { text: 't', mood: 5, category: 'c' } });
      expect(created.status).to.equal(201);
      const listed = await api.request('GET', '/entries', { token });
      expect(listed.status).to.equal(200);
      expect(listed.json.total).to.equal(1);
      expect((await api.request('DELETE', `/entries/${created.json.id}`, { token })).status).to.equal(200);
      expect((await api.request('GET', '/entries', { token })).json.total).to.equal(0);
    });
  });
});

describe('journal API: the SQLite write lock held elsewhere past the busy timeout [SQLite]', function () {
  const BUSY_TIMEOUT_MS = 300;
  let api: ApiHarness;
  let holder: Database.Database | undefined;
  let token: string;
  let entryId: number;

  before(async () => {
    api = await startApi({ label: 'api_sqlite_busy', database: SQLITE, env: { DATABASE_STATEMENT_TIMEOUT_MS: String(BUSY_TIMEOUT_MS) } });
    ({ token } = await signUp(api, 'locked@example.com'));
    entryId = (await api.request('POST', '/entries', { token, body: { text: 't', mood: 5, category: 'c' } })).json.id;
  });
  after(async () => {
    holder?.close();
    await api?.close();
  });

  it('writes answer 503 once the busy timeout has passed, reads keep answering (WAL), and writes work again after the lock is released', async () => {
    const target = parseDatabaseUrl(api.config.databaseUrl);
    if (target.client !== 'sqlite') throw new Error('not SQLite');
    // Another connection (a sqlite3 shell left in a transaction, a long maintenance write) takes the write lock.
    holder = new Database(target.file, { fileMustExist: true });
    holder.exec('BEGIN IMMEDIATE');

    const writes: Array<[string, string, unknown?]> = [
      ['POST', '/entries', { text: 't', mood: 5, category: 'c' }],
      ['PATCH', `/entries/${entryId}`, { text: 'u', mood: 6, category: 'c' }],
      ['DELETE', `/entries/${entryId}`],
      ['POST', '/register', { email: 'new@example.com', password: 'secret123' }],
    ];
    for (const [method, path, body] of writes) {
      const startedAt = performance.now();
      const res = await api.request(method, path, { token, body });
      expect(res.status, `${method} ${path}`).to.equal(503);
      expect(res.json).to.deep.equal(UNAVAILABLE);
      expect(performance.now() - startedAt, 'it waited for the lock first').to.be.at.least(BUSY_TIMEOUT_MS);
    }
    for (const path of ['/entries', `/entries/${entryId}`, '/stats']) {
      expect((await api.request('GET', path, { token })).status, path).to.equal(200);
    }
    expect((await api.request('POST', '/login', { body: { email: 'locked@example.com', password: 'secret123' } })).status).to.equal(200);

    holder.exec('ROLLBACK');
    expect((await api.request('POST', '/entries', { token, body: { text: 't', mood: 5, category: 'c' } })).status).to.equal(201);
  });
});
