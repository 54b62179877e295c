import { expect } from 'chai';
import { insertEntries, signUp, startApi, type ApiHarness } from './api-harness.js';
import { forEachDatabase } from '../support/database-backends.js';

interface ListedEntry {
  id: number;
  created_at: string;
  category: string;
  text: string;
}

const BASE = Date.parse('2025-03-01T00:00:00.000Z');
const MINUTE = 60_000;
const FIXTURE_SIZE = 2500;

/** Newest first, ties (same created_at) by id descending. */
function isNewestFirst(entries: ListedEntry[]): boolean {
  return entries.every((entry, i) => {
    if (i === 0) return true;
    const previous = entries[i - 1]!;
    const [a, b] = [Date.parse(previous.created_at), Date.parse(entry.created_at)];
    return a > b || (a === b && previous.id > entry.id);
  });
}

forEachDatabase('journal API: GET /entries pagination and filters', (database) => {
  let api: ApiHarness;
  let token: string;
  /** Every fixture id in the expected order (newest first). */
  let expectedIds: number[];

  const list = async (query: string, as = token) => {
    const res = await api.request('GET', `/entries${query}`, { token: as });
    expect(res.status, `${query}: ${res.text}`).to.equal(200);
    return res.json;
  };

  before(async () => {
    api = await startApi({ label: 'api_pages', database });
    const user = await signUp(api);
    token = user.token;
    // Three entries per minute share a timestamp, so ties are everywhere; every fifth is "work".
    await insertEntries(
      api.db,
      user.userId,
      Array.from({ length: FIXTURE_SIZE }, (_, i) => ({
        created_at: new Date(BASE + Math.floor(i / 3) * MINUTE),
        category: i % 5 === 0 ? 'work' : 'home',
        mood: (i % 10) + 1,
        text: `fixture ${i}`,
      })),
    );
    const rows = await api.db('entries').where('user_id', user.userId).orderBy([
      { column: 'created_at', order: 'desc' },
      { column: 'id', order: 'desc' },
    ]);
    expectedIds = rows.map((row) => row.id);
  });
  after(async () => api?.close());

  describe('offset pagination (the original surface)', () => {
    it('defaults to page 1, limit 10, newest first, with total and totalPages', async () => {
      const page = await list('');
      expect(page).to.include({ success: true, page: 1, limit: 10, total: FIXTURE_SIZE, totalPages: 250 });
      expect(page.entries.map((e: ListedEntry) => e.id)).to.deep.equal(expectedIds.slice(0, 10));
      expect(Object.keys(page.entries[0]).sort()).to.deep.equal(['category', 'created_at', 'id', 'mood', 'text', 'user_id']);
      expect(page.entries[0].created_at).to.equal('2025-03-01T13:53:00.000Z');
    });

    it('caps limit at 100 and falls back to the defaults for invalid values', async () => {
      expect(await list('?limit=1000')).to.include({ limit: 100, totalPages: 25 });
      for (const bad of ['0', '-5', 'abc', '1.5', '', '99999999999999999999']) {
        expect((await list(`?limit=${bad}`)).limit, `limit=${bad}`).to.equal(10);
        expect((await list(`?page=${bad}`)).page, `page=${bad}`).to.equal(1);
      }
      expect(await list('?page=2&page=3&limit=7')).to.include({ page: 2, limit: 7, totalPages: Math.ceil(FIXTURE_SIZE / 7) });
    });

    it('serves a deep page exactly and an empty page past the end', async () => {
      const deep = await list('?page=201&limit=10');
      expect(deep.entries.map((e: ListedEntry) => e.id)).to.deep.equal(expectedIds.slice(2000, 2010));
      const last = await list('?page=36&limit=70');
      expect(last.entries.map((e: ListedEntry) => e.id)).to.deep.equal(expectedIds.slice(2450));
      expect(last.next_cursor).to.equal(null);
      const past = await list('?page=1000000&limit=100');
      expect(past).to.deep.equal({ success: true, entries: [], page: 1000000, limit: 100, total: FIXTURE_SIZE, totalPages: 25, next_cursor: null });
    });

    it('gives every page a next_cursor that continues in cursor mode', async () => {
      const first = await list('?limit=25');
      const second = await list(`?limit=25&cursor=${first.next_cursor}`);
      expect(second.entries.map((e: ListedEntry) => e.id)).to.deep.equal(expectedIds.slice(25, 50));
    });
  });

  describe('cursor pagination', () => {
    it('walks the whole list in order without repeats or gaps (ties included)', async () => {
      const seen: number[] = [];
      let cursor = '';
      let pages = 0;
      for (;;) {
        const page = await list(`?limit=100&cursor=${cursor}`);
        expect(Object.keys(page).sort()).to.deep.equal(['entries', 'limit', 'next_cursor', 'success']);
        seen.push(...page.entries.map((e: ListedEntry) => e.id));
        pages += 1;
        if (!page.next_cursor) break;
        expect(page.next_cursor).to.match(/^[A-Za-z0-9_-]+$/);
        cursor = page.next_cursor;
      }
      expect(pages).to.equal(25);
      expect(seen).to.deep.equal(expectedIds);
    });

    it('stays stable while new entries arrive between pages', async () => {
      const writer = await signUp(api);
      await insertEntries(
        api.db,
        writer.userId,
        Array.from({ length: 300 }, (_, i) => ({ created_at: new Date(Date.now() - 3_600_000 + Math.floor(i / 4) * 1000) })),
      );
      const original: number[] = (await api.db('entries').where('user_id', writer.userId).pluck('id')).sort((a, b) => a - b);

      const seen: ListedEntry[] = [];
      let cursor = '';
      for (let round = 0; ; round += 1) {
        // Pages are read while the same user keeps writing through the API.
        const [page] = await Promise.all([
          list(`?limit=20&cursor=${cursor}`, writer.token),
          ...Array.from({ length: 3 }, (_, i) =>
            api.request('POST', '/entries', { token: writer.token, body: { text: `live ${round}.${i}`, mood: 5, category: 'live' } }),
          ),
        ]);
        seen.push(...page.entries);
        if (!page.next_cursor) break;
        cursor = page.next_cursor;
      }
      const ids = seen.map((e) => e.id);
      expect(new Set(ids).size, 'no duplicates').to.equal(ids.length);
      expect(isNewestFirst(seen)).to.equal(true);
      const originalsSeen = ids.filter((id) => original.includes(id)).sort((a, b) => a - b);
      expect(originalsSeen, 'every pre-existing entry exactly once').to.deep.equal(original);
    });

    const invalidCursors = [
      'not*base64',
      'a'.repeat(300),
      Buffer.from('{}').toString('base64url'),
      Buffer.from('[1,2]').toString('base64url'),
      Buffer.from('{"t":"yesterday","i":1}').toString('base64url'),
      Buffer.from('{"t":"2025-02-30T00:00:00.000Z","i":1}').toString('base64url'),
      Buffer.from('{"t":"2025-01-01T00:00:00.000Z","i":-1}').toString('base64url'),
      Buffer.from('{"t":"2025-01-01T00:00:00.000Z","i":"1 OR 1=1"}').toString('base64url'),
      Buffer.from('{"t":"2025-01-01T00:00:00.000Z","i":1e300}').toString('base64url'),
      Buffer.from('garbage').toString('base64url'),
    ];
    it('answers 400 "Invalid cursor" for cursors it did not make', async () => {
      for (const cursor of invalidCursors) {
        const res = await api.request('GET', `/entries?cursor=${encodeURIComponent(cursor)}`, { token });
        expect(res.status, cursor).to.equal(400);
        expect(res.json).to.deep.equal({ success: false, message: 'Invalid cursor' });
      }
    });
  });

  describe('filters', () => {
    it('filters by category in both pagination styles', async () => {
      const offset = await list('?category=work&limit=100');
      expect(offset.total).to.equal(FIXTURE_SIZE / 5);
      expect(offset.entries.every((e: ListedEntry) => e.category === 'work')).to.equal(true);
      const cursor = await list('?category=work&limit=100&cursor=');
      expect(cursor.entries.map((e: ListedEntry) => e.id)).to.deep.equal(offset.entries.map((e: ListedEntry) => e.id));
      expect((await list('?category=nothing')).total).to.equal(0);
    });

    it('filters by from/to as dates (whole UTC days) and RFC 3339 timestamps (inclusive)', async () => {
      // The fixture spans 2025-03-01T00:00Z .. 2025-03-01T13:53Z, three entries per minute.
      expect((await list('?from=2025-03-01&to=2025-03-01')).total).to.equal(FIXTURE_SIZE);
      expect((await list('?to=2025-02-28')).total).to.equal(0);
      expect((await list('?from=2025-03-02')).total).to.equal(0);
      expect((await list('?from=2025-03-01T00:10:00Z&to=2025-03-01T00:19:00Z')).total).to.equal(30);
      expect((await list('?from=2025-03-01T01:10:00%2B01:00&to=2025-03-01T00:19:00.000Z')).total).to.equal(30);
      const ranged = await list('?from=2025-03-01T00:10:00Z&to=2025-03-01T00:19:00Z&category=work&limit=100&cursor=');
      expect(ranged.entries).to.have.length(6);
      expect(ranged.entries[0].created_at).to.equal('2025-03-01T00:18:00.000Z'); // i = 55
    });

    for (const [query, message] of [
      ['from=yesterday', 'from must be an RFC 3339 timestamp or a YYYY-MM-DD date'],
      ['from=2025-02-30', 'from must be an RFC 3339 timestamp or a YYYY-MM-DD date'],
      ['to=2025-03-01T25:00:00Z', 'to must be an RFC 3339 timestamp or a YYYY-MM-DD date'],
      ['to=2025-03-01T10:00:00', 'to must be an RFC 3339 timestamp or a YYYY-MM-DD date'],
      ["to=2025-03-01'%20OR%20'1'='1", 'to must be an RFC 3339 timestamp or a YYYY-MM-DD date'],
      [`category=${'c'.repeat(101)}`, 'Invalid category'],
      ['category=a%00b', 'Invalid category'],
    ]) {
      it(`answers 400 "${message}" for ${query.slice(0, 40)}`, async () => {
        const res = await api.request('GET', `/entries?${query}`, { token });
        expect(res.status).to.equal(400);
        expect(res.json).to.deep.equal({ success: false, message });
      });
    }
  });
});
