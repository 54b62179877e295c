import http from 'node:http';
import { expect } from 'chai';
import jwt from 'jsonwebtoken';
import { startApi, signUp, TEST_JWT_SECRET, type ApiHarness } from './api-harness.js';
import { forEachDatabase } from '../support/database-backends.js';

const RFC3339_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

forEachDatabase('journal API: /entries', (database) => {
  let api: ApiHarness;
  let alice: { token: string; userId: number };
  let bob: { token: string; userId: number };

  before(async () => {
    api = await startApi({ label: 'api_entries', database });
    [alice, bob] = await Promise.all([signUp(api), signUp(api)]);
  });
  after(async () => api?.close());

  const create = (token: string, body: unknown) => api.request('POST', '/entries', { token, body });
  const entry = (overrides: Record<string, unknown> = {}) => ({ text: 'a good day', mood: 7, category: 'work', ...overrides });

  describe('POST /entries', () => {
    it('answers 201 with the id; the owner is the token user whatever the body says', async () => {
      const res = await create(alice.token, entry({ user_id: bob.userId, id: 1 }));
      expect(res.status).to.equal(201);
      expect(res.json).to.deep.equal({ success: true, message: 'Entry created successfully', id: res.json.id });
      const row = await api.db('entries').where({ id: res.json.id }).first();
      expect(row).to.include({ user_id: alice.userId, text: 'a good day', mood: 7, category: 'work' });
    });

    const invalid: Array<[string, unknown, string]> = [
      ['malformed JSON', '{"text": "x", ', 'Invalid request body'],
      ['a JSON string', '"text"', 'Invalid request body'],
      ['mood as a string', entry({ mood: '7' }), 'Invalid request body'],
      ['text as a number', entry({ text: 123 }), 'Invalid request body'],
      ['category as an object', entry({ category: { $ne: 1 } }), 'Invalid request body'],
      ['a type error after an empty text', entry({ text: '', mood: true }), 'Invalid request body'],
      ['an empty text', entry({ text: '' }), 'text cannot be empty'],
      ['a blank text', entry({ text: ' \n\t ' }), 'text cannot be empty'],
      ['a missing text (before a bad mood)', { mood: 0, category: '' }, 'text cannot be empty'],
      ['a missing mood', { text: 'x', category: 'c' }, 'mood must be between 1 and 10'],
      ['mood 0', entry({ mood: 0 }), 'mood must be between 1 and 10'],
      ['mood 11', entry({ mood: 11 }), 'mood must be between 1 and 10'],
      ['mood 7.5', entry({ mood: 7.5 }), 'mood must be between 1 and 10'],
      ['a huge mood', entry({ mood: 1e308 }), 'mood must be between 1 and 10'],
      ['a bad mood before an empty category', entry({ mood: -1, category: '' }), 'mood must be between 1 and 10'],
      ['an empty category', entry({ category: '' }), 'category cannot be empty'],
      ['a missing category', { text: 'x', mood: 5 }, 'category cannot be empty'],
      ['an overlong category', entry({ category: 'c'.repeat(101) }), 'category must be at most 100 characters'],
      ['a NUL in the text', entry({ text: 'nul\u0000byte' }), 'Invalid request body'],
    ];
    for (const [what, body, message] of invalid) {
      it(`answers 400 "${message}" for ${what}`, async () => {
        const res = await create(alice.token, body);
        expect(res.status).to.equal(400);
        expect(res.json).to.deep.equal({ success: false, message });
      });
    }

    it('stores SQL meta-characters verbatim (bindings, not string building)', async () => {
      const hostile = { text: "'); DROP TABLE entries; --", mood: 3, category: "a' OR '1'='1" };
      const created = await create(alice.token, hostile);
      expect(created.status).to.equal(201);
      const read = await api.request('GET', `/entries/${created.json.id}`, { token: alice.token });
      expect(read.json.entry).to.include(hostile);
      const filtered = await api.request('GET', `/entries?category=${encodeURIComponent("' OR 1=1 --")}`, { token: alice.token });
      expect(filtered.status).to.equal(200);
      expect(filtered.json.entries).to.deep.equal([]);
    });

    it('answers 401 "Invalid or expired token" for a signed token of a user that does not exist', async () => {
      const ghost = jwt.sign({ user_id: 987654 }, TEST_JWT_SECRET, { algorithm: 'HS256', expiresIn: 60 });
      const res = await create(ghost, entry());
      expect(res.status).to.equal(401);
      expect(res.json).to.deep.equal({ success: false, message: 'Invalid or expired token' });
    });

    it('requires a token', async () => {
      const res = await api.request('POST', '/entries', { body: entry() });
      expect(res.status).to.equal(401);
      expect(res.json).to.deep.equal({ success: false, message: 'Authorization header required' });
    });
  });

  describe('single entries: GET /entries/:id, PATCH and DELETE by ?id= and /:id', () => {
    let aliceEntry: number;
    let bobEntry: number;
    beforeEach(async () => {
      aliceEntry = (await create(alice.token, entry({ text: 'alice private' }))).json.id;
      bobEntry = (await create(bob.token, entry({ text: 'bob private' }))).json.id;
    });

    it('GET /entries/:id returns the entry with created_at in RFC 3339 UTC', async () => {
      const res = await api.request('GET', `/entries/${aliceEntry}`, { token: alice.token });
      expect(res.status).to.equal(200);
      expect(res.json.success).to.equal(true);
      expect(res.json.entry).to.include({ id: aliceEntry, user_id: alice.userId, text: 'alice private', mood: 7, category: 'work' });
      expect(res.json.entry.created_at).to.match(RFC3339_UTC);
      expect(Math.abs(Date.parse(res.json.entry.created_at) - Date.now())).to.be.below(60_000);
    });

    for (const style of ['query', 'path'] as const) {
      const target = (id: number | string) => (style === 'query' ? `/entries?id=${id}` : `/entries/${id}`);

      it(`PATCH (${style}) replaces text, mood and category: 200 "Entry updated successfully"`, async () => {
        const res = await api.request('PATCH', target(aliceEntry), { token: alice.token, body: { text: 'new', mood: 2, category: 'home' } });
        expect(res.status).to.equal(200);
        expect(res.json).to.deep.equal({ success: true, message: 'Entry updated successfully' });
        const read = await api.request('GET', `/entries/${aliceEntry}`, { token: alice.token });
        expect(read.json.entry).to.include({ text: 'new', mood: 2, category: 'home' });
      });

      it(`PATCH (${style}) validates the body like POST`, async () => {
        for (const [body, message] of [
          [entry({ mood: '7' }), 'Invalid request body'],
          [entry({ text: '' }), 'text cannot be empty'],
          [entry({ mood: 99 }), 'mood must be between 1 and 10'],
          [entry({ category: ' ' }), 'category cannot be empty'],
        ] as const) {
          const res = await api.request('PATCH', target(aliceEntry), { token: alice.token, body });
          expect(res.status).to.equal(400);
          expect(res.json).to.deep.equal({ success: false, message });
        }
      });

      it(`DELETE (${style}) answers 200 "Entry deleted successfully", then 404`, async () => {
        const res = await api.request('DELETE', target(aliceEntry), { token: alice.token });
        expect(res.status).to.equal(200);
        expect(res.json).to.deep.equal({ success: true, message: 'Entry deleted successfully' });
        const again = await api.request('DELETE', target(aliceEntry), { token: alice.token });
        expect(again.status).to.equal(404);
        expect(again.json).to.deep.equal({ success: false, message: 'Entry not found or access denied' });
      });

      it(`PATCH and DELETE (${style}) of another user's entry answer 404 and change nothing`, async () => {
        const patch = await api.request('PATCH', target(bobEntry), { token: alice.token, body: entry({ text: 'hijacked' }) });
        const remove = await api.request('DELETE', target(bobEntry), { token: alice.token });
        for (const res of [patch, remove]) {
          expect(res.status).to.equal(404);
          expect(res.json).to.deep.equal({ success: false, message: 'Entry not found or access denied' });
        }
        const row = await api.db('entries').where({ id: bobEntry }).first();
        expect(row.text).to.equal('bob private');
      });

      const badIds = ['abc', '0', '-1', '1.5', '1e3', '0x10', "1'%20OR%20'1'='1", '1;DROP%20TABLE%20entries', '99999999999999999999', '9223372036854775808', '%00', ' 1'];
      it(`PATCH and DELETE (${style}) answer 400 "Invalid or missing entry ID" for bad ids`, async () => {
        for (const id of badIds) {
          for (const method of ['PATCH', 'DELETE']) {
            const res = await api.request(method, target(id), { token: alice.token, body: entry() });
            expect(res.status, `${method} ${id}`).to.equal(400);
            expect(res.json).to.deep.equal({ success: false, message: 'Invalid or missing entry ID' });
          }
        }
      });

      it(`PATCH and DELETE (${style}) answer 404 for unknown ids up to the BIGINT maximum`, async () => {
        for (const id of ['424242', '9007199254740993', '9223372036854775807']) {
          for (const method of ['PATCH', 'DELETE']) {
            const res = await api.request(method, target(id), { token: alice.token, body: entry() });
            expect(res.status, `${method} ${id}`).to.equal(404);
            expect(res.json).to.deep.equal({ success: false, message: 'Entry not found or access denied' });
          }
        }
      });
    }

    it('PATCH and DELETE without an id answer 400', async () => {
      for (const path of ['/entries', '/entries?id=', '/entries?other=1']) {
        for (const method of ['PATCH', 'DELETE']) {
          const res = await api.request(method, path, { token: alice.token, body: entry() });
          expect(res.status, `${method} ${path}`).to.equal(400);
          expect(res.json).to.deep.equal({ success: false, message: 'Invalid or missing entry ID' });
        }
      }
    });

    it("GET /entries/:id answers 404 for another user's entry and 400 for a bad id", async () => {
      const foreign = await api.request('GET', `/entries/${bobEntry}`, { token: alice.token });
      expect(foreign.status).to.equal(404);
      expect(foreign.json).to.deep.equal({ success: false, message: 'Entry not found or access denied' });
      const bad = await api.request('GET', '/entries/99999999999999999999', { token: alice.token });
      expect(bad.status).to.equal(400);
      expect(bad.json).to.deep.equal({ success: false, message: 'Invalid or missing entry ID' });
    });
  });

  describe('GET /entries isolation and the entry-count cache', () => {
    it("lists only the caller's entries", async () => {
      const carol = await signUp(api);
      const dave = await signUp(api);
      await create(carol.token, entry({ text: 'carol 1' }));
      await create(carol.token, entry({ text: 'carol 2' }));
      await create(dave.token, entry({ text: 'dave 1' }));
      const carolList = await api.request('GET', '/entries', { token: carol.token });
      expect(carolList.json.entries.map((e: { text: string }) => e.text)).to.deep.equal(['carol 2', 'carol 1']);
      expect(carolList.json.entries.every((e: { user_id: number }) => e.user_id === carol.userId)).to.equal(true);
      expect(carolList.json.total).to.equal(2);
      const daveList = await api.request('GET', '/entries', { token: dave.token });
      expect(daveList.json.total).to.equal(1);
    });

    it('caches the count under <prefix>count:user:<id> and invalidates it on every write', async () => {
      const erin = await signUp(api);
      const key = `${api.config.redisKeyPrefix}count:user:${erin.userId}`;
      // A fixture row written behind the API's back: no write has fenced the cache yet.
      const [{ id }] = await api.db('entries').insert({ user_id: erin.userId, text: 't', mood: 5, category: 'c' }).returning('id');
      // Page 2: its total comes from the count cache, while page 1 is itself cached whole.
      const total = async () => (await api.request('GET', '/entries?page=2', { token: erin.token })).json.total;

      expect(await total()).to.equal(1);
      expect(await api.redis.get(key)).to.equal('1');
      // The list reads the cached value (proved by planting one)...
      await api.redis.set(key, '41', { EX: 60 });
      expect(await total()).to.equal(41);
      // ...and each kind of write drops it, so the next read sees the write.
      await create(erin.token, entry());
      expect(await api.redis.get(key)).to.equal(null);
      expect(await total()).to.equal(2);
      await api.redis.set(key, '41', { EX: 60 });
      await api.request('PATCH', `/entries/${id}`, { token: erin.token, body: entry({ text: 'edited' }) });
      expect(await total()).to.equal(2);
      await api.request('DELETE', `/entries/${id}`, { token: erin.token });
      expect(await total()).to.equal(1);
    });

    it('caches the first page whole under <prefix>first-page:user:<id> and drops it on every write', async () => {
      const fay = await signUp(api);
      const key = `${api.config.redisKeyPrefix}first-page:user:${fay.userId}`;
      const firstPage = async (query = '') => (await api.request('GET', `/entries${query}`, { token: fay.token })).json;
      const planted = JSON.stringify({ success: true, planted: true });
      const created = await create(fay.token, entry({ text: 'one' }));
      const id = created.json.id as number;
      // Writes fence the cache for a while; let this test's reads store again.
      await api.redis.del(['write-fence', 'count-fence'].map((fence) => `${api.config.redisKeyPrefix}${fence}:user:${fay.userId}`));

      expect((await firstPage()).total).to.equal(1);
      expect(await api.redis.hGet(key, '10')).to.be.a('string');
      expect((await firstPage('?limit=5')).total).to.equal(1);
      expect(await api.redis.hKeys(key)).to.have.members(['10', '5']);
      // The list answers from the cache (proved by planting a body)...
      await api.redis.hSet(key, '10', planted);
      expect(await firstPage()).to.deep.equal({ success: true, planted: true });
      // ...filters and other pages never do...
      expect((await firstPage('?category=c')).planted).to.equal(undefined);
      expect((await firstPage('?page=2')).planted).to.equal(undefined);
      // ...and each kind of write drops every cached page size, so the next read sees it.
      const writes = [
        () => create(fay.token, entry({ text: 'two' })),
        () => api.request('PATCH', `/entries/${id}`, { token: fay.token, body: entry({ text: 'edited' }) }),
        () => api.request('DELETE', `/entries/${id}`, { token: fay.token }),
      ];
      for (const write of writes) {
        await api.redis.hSet(key, '10', planted);
        await write();
        expect(await api.redis.exists(key)).to.equal(0);
        expect((await firstPage()).planted).to.equal(undefined);
      }
      const final = await firstPage();
      expect(final.total).to.equal(1);
      expect((final.entries as { text: string }[]).map((e) => e.text)).to.deep.equal(['two']);
    });
  });

  describe('request bodies', () => {
    it('answers 413 "Request body too large" past 64 KiB (declared length)', async () => {
      const res = await create(alice.token, entry({ text: 'x'.repeat(70 * 1024) }));
      expect(res.status).to.equal(413);
      expect(res.json).to.deep.equal({ success: false, message: 'Request body too large' });
    });

    it('answers 413 for a chunked body that grows past 64 KiB', async () => {
      const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = http.request(`${api.url}/register`, { method: 'POST', headers: { 'Content-Type': 'application/json' } }, (response) => {
          let body = '';
          response.on('data', (chunk) => (body += chunk));
          response.on('end', () => resolve({ status: response.statusCode!, body }));
        });
        req.on('error', reject);
        req.write('{"email":"');
        for (let i = 0; i < 20; i += 1) req.write('a'.repeat(4096));
        req.end('"}');
      });
      expect(res.status).to.equal(413);
      expect(JSON.parse(res.body)).to.deep.equal({ success: false, message: 'Request body too large' });
    });

    it('accepts a body just under 64 KiB', async () => {
      const text = 'y'.repeat(64 * 1024 - 60);
      const res = await create(alice.token, entry({ text }));
      expect(res.status).to.equal(201);
    });

    it('refuses compressed bodies and bodies that are not UTF-8', async () => {
      const gzip = await api.request('POST', '/entries', { token: alice.token, body: JSON.stringify(entry()), headers: { 'Content-Encoding': 'gzip' } });
      expect(gzip.status).to.equal(400);
      const latin1 = await api.request('POST', '/entries', { token: alice.token, body: Buffer.from('{"text":"caf\xe9","mood":5,"category":"c"}', 'latin1') });
      expect(latin1.status).to.equal(400);
      expect(latin1.json).to.deep.equal({ success: false, message: 'Invalid request body' });
    });
  });

  describe('routing', () => {
    it('GET /ping answers the ping text', async () => {
      const res = await api.request('GET', '/ping');
      expect(res.status).to.equal(200);
      expect(res.text).to.equal('Ping response: pong');
    });

    const wrongMethods: Array<[string, string, string]> = [
      ['PUT', '/entries', 'HEAD, GET, POST, PATCH, DELETE'],
      ['OPTIONS', '/entries', 'HEAD, GET, POST, PATCH, DELETE'],
      ['PROPFIND', '/entries', 'HEAD, GET, POST, PATCH, DELETE'],
      ['POST', '/entries/1', 'HEAD, GET, PATCH, DELETE'],
      ['GET', '/register', 'POST'],
      ['DELETE', '/login', 'POST'],
      ['POST', '/ping', 'HEAD, GET'],
      ['POST', '/stats', 'HEAD, GET'],
    ];
    for (const [method, path, allow] of wrongMethods) {
      it(`${method} ${path} answers 405 "Method not allowed" with Allow: ${allow}`, async () => {
        const res = await api.request(method, path, { token: alice.token });
        expect(res.status).to.equal(405);
        expect(res.headers.get('allow')).to.equal(allow);
        expect(res.json).to.deep.equal({ success: false, message: 'Method not allowed' });
      });
    }

    for (const [method, path] of [['GET', '/nope'], ['GET', '/entries/1/extra'], ['POST', '/register/x'], ['GET', '/%E0%A4%A'], ['PROPFIND', '/nope']]) {
      it(`${method} ${path} answers 404 "Not found"`, async () => {
        const res = await api.request(method!, path!);
        expect(res.headers.get('allow')).to.equal(null);
        expect(res.status).to.equal(404);
        expect(res.json).to.deep.equal({ success: false, message: 'Not found' });
      });
    }
  });
});
