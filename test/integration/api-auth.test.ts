import { expect } from 'chai';
import jwt from 'jsonwebtoken';
import { startApi, signUp, TEST_JWT_SECRET, type ApiHarness } from './api-harness.js';
import { forEachDatabase } from '../support/database-backends.js';

forEachDatabase('journal API: /register and /login', (database) => {
  let api: ApiHarness;
  before(async () => {
    api = await startApi({ label: 'api_auth', database });
  });
  after(async () => api?.close());

  const register = (body: unknown) => api.request('POST', '/register', { body });
  const login = (body: unknown) => api.request('POST', '/login', { body });

  describe('POST /register', () => {
    it('answers 201 with the new user id and stores a bcrypt (cost 10) hash', async () => {
      const res = await register({ email: 'first@example.com', password: 'secret123' });
      expect(res.status).to.equal(201);
      expect(res.json).to.deep.equal({ success: true, message: 'User registered successfully', user_id: res.json.user_id });
      expect(res.json.user_id).to.be.a('number').above(0);
      const row = await api.db('users').where({ id: res.json.user_id }).first();
      expect(row.password_hash).to.match(/^\$2[aby]\$10\$/);
      expect(row.password_hash).not.to.contain('secret123');
    });

    const badRequests: Array<[string, unknown, string]> = [
      ['malformed JSON', '{"email":', 'Invalid request body'],
      ['an array body', [], 'Invalid request body'],
      ['a JSON null body', 'null', 'Invalid request body'],
      ['an empty body', '', 'Invalid request body'],
      ['a number as email', { email: 12, password: 'secret123' }, 'Invalid request body'],
      ['a wrong type even after a missing email', { password: 5 }, 'Invalid request body'],
      ['a missing email', { password: 'secret123' }, 'email is required'],
      ['a blank email', { email: '   ', password: 'secret123' }, 'email is required'],
      ['an email without @', { email: 'nope.example.com', password: 'secret123' }, 'invalid email format'],
      ['an email with SQL in it', { email: "a'; drop table users;--@x.io", password: 'secret123' }, 'invalid email format'],
      ['an email whose domain is one bad label', { email: 'user@-host', password: 'secret123' }, 'invalid email format'],
      ['an email whose top-level part is one letter', { email: 'user@example.c', password: 'secret123' }, 'invalid email format'],
      ['an overlong email', { email: `${'a'.repeat(250)}@example.com`, password: 'secret123' }, 'invalid email format'],
      ['a missing password (after a bad email)', { email: 'bad' }, 'invalid email format'],
      ['a missing password', { email: 'x@example.com' }, 'password is required'],
      ['an empty password', { email: 'x@example.com', password: '' }, 'password is required'],
      ['a short password', { email: 'x@example.com', password: '12345' }, 'password must be at least 6 characters'],
      ['a password bcrypt would truncate', { email: 'x@example.com', password: 'p'.repeat(73) }, 'password must be at most 72 bytes'],
      ['a NUL byte', { email: 'x@example.com', password: 'secret\u0000123' }, 'Invalid request body'],
    ];
    for (const [what, body, message] of badRequests) {
      it(`answers 400 "${message}" for ${what}`, async () => {
        const res = await register(body);
        expect(res.status).to.equal(400);
        expect(res.json).to.deep.equal({ success: false, message });
      });
    }

    it('trims and lower-cases the email, so case variants are the same account (409)', async () => {
      const first = await register({ email: '  Mixed.Case@Example.COM ', password: 'secret123' });
      expect(first.status).to.equal(201);
      const row = await api.db('users').where({ id: first.json.user_id }).first();
      expect(row.email).to.equal('mixed.case@example.com');
      const again = await register({ email: 'mixed.case@example.com', password: 'other-password' });
      expect(again.status).to.equal(409);
      expect(again.json).to.deep.equal({ success: false, message: 'Email already registered' });
    });

    it('accepts a single-label domain (user@localhost, an intranet host), as the original did, and logs it in', async () => {
      for (const email of ['user@localhost', 'ops@intranet-01']) {
        expect((await register({ email, password: 'secret123' })).status, email).to.equal(201);
        expect((await login({ email, password: 'secret123' })).status, email).to.equal(200);
      }
    });

    it('lets exactly one of many concurrent duplicate registrations win (unique constraint)', async () => {
      const results = await Promise.all(
        Array.from({ length: 8 }, () => register({ email: 'race@example.com', password: 'secret123' })),
      );
      const statuses = results.map((res) => res.status).sort();
      expect(statuses).to.deep.equal([201, 409, 409, 409, 409, 409, 409, 409]);
      expect(await api.db('users').where({ email: 'race@example.com' }).count({ n: '*' })).to.deep.equal([{ n: 1 }]);
    });

    it("accepts a JSON body sent with curl -d's form Content-Type", async () => {
      const res = await api.request('POST', '/register', {
        body: JSON.stringify({ email: 'curl@example.com', password: 'secret123' }),
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      });
      expect(res.status).to.equal(201);
    });
  });

  describe('POST /login', () => {
    before(async () => {
      await register({ email: 'login@example.com', password: 'correct-horse' });
    });

    it('answers 200 with an HS256 token carrying user_id (number) and exp = now + 24 h', async () => {
      const res = await login({ email: ' LOGIN@example.com', password: 'correct-horse' });
      expect(res.status).to.equal(200);
      expect(res.json).to.include({ success: true, message: 'Login successful' });
      const decoded = jwt.verify(res.json.token, TEST_JWT_SECRET, { algorithms: ['HS256'], complete: true });
      expect(decoded.header.alg).to.equal('HS256');
      const claims = decoded.payload as jwt.JwtPayload;
      expect(claims.user_id).to.be.a('number');
      const now = Math.floor(Date.now() / 1000);
      expect(claims.exp! - now).to.be.within(24 * 3600 - 60, 24 * 3600 + 1);
    });

    it('answers 401 "Invalid email or password" for a wrong password and an unknown email alike', async () => {
      for (const body of [
        { email: 'login@example.com', password: 'wrong-password' },
        { email: 'nobody@example.com', password: 'correct-horse' },
        { email: 'login@example.com', password: `correct-horse${'x'.repeat(80)}` },
      ]) {
        const res = await login(body);
        expect(res.status).to.equal(401);
        expect(res.json).to.deep.equal({ success: false, message: 'Invalid email or password' });
      }
    });

    it('answers 400 for a missing field or a bad body', async () => {
      expect((await login({ password: 'x' })).json).to.deep.equal({ success: false, message: 'email is required' });
      expect((await login({ email: 'login@example.com' })).json).to.deep.equal({ success: false, message: 'password is required' });
      expect((await login('not json')).json).to.deep.equal({ success: false, message: 'Invalid request body' });
      expect((await login({ email: ['x'], password: 'y' })).status).to.equal(400);
    });
  });

  describe('Authorization header', () => {
    let token: string;
    let userId: number;
    before(async () => ({ token, userId } = await signUp(api)));

    const withAuthorization = (value: string | undefined) =>
      api.request('GET', '/entries', value === undefined ? {} : { headers: { Authorization: value } });

    it('answers 401 "Authorization header required" without one', async () => {
      const res = await withAuthorization(undefined);
      expect(res.status).to.equal(401);
      expect(res.json).to.deep.equal({ success: false, message: 'Authorization header required' });
    });

    for (const value of ['Token abc', 'Bearer', 'Bearer ', 'Basic dXNlcjpwYXNz', 'Bearer a b', 'abc']) {
      it(`answers 401 "Invalid authorization format" for ${JSON.stringify(value)}`, async () => {
        const res = await withAuthorization(value);
        expect(res.status).to.equal(401);
        expect(res.json).to.deep.equal({ success: false, message: 'Invalid authorization format. Use: Bearer <token>' });
      });
    }

    it('answers 401 "Invalid or expired token" for bad, expired, foreign, unsigned and odd-claim tokens', async () => {
      const expired = jwt.sign({ user_id: userId, exp: Math.floor(Date.now() / 1000) - 10 }, TEST_JWT_SECRET);
      const foreign = jwt.sign({ user_id: userId }, 'another-secret-that-is-long-enough');
      const unsigned = jwt.sign({ user_id: userId }, '', { algorithm: 'none' });
      const stringClaim = jwt.sign({ user_id: String(userId) }, TEST_JWT_SECRET);
      const hs512 = jwt.sign({ user_id: userId }, TEST_JWT_SECRET, { algorithm: 'HS512' });
      for (const bad of ['garbage', `${token}x`, expired, foreign, unsigned, stringClaim, hs512]) {
        const res = await withAuthorization(`Bearer ${bad}`);
        expect(res.status, bad).to.equal(401);
        expect(res.json).to.deep.equal({ success: false, message: 'Invalid or expired token' });
      }
    });

    describe('a validly signed token that is not acceptable: 401 "Invalid or expired token" on every authenticated route', () => {
      const inAnHour = () => Math.floor(Date.now() / 1000) + 3600;
      const routes = (entryId: number): Array<[string, string, unknown?]> => [
        ['GET', '/entries'],
        ['GET', '/entries?page=2&limit=5'],
        ['GET', '/entries?cursor='],
        ['GET', '/entries?category=sport'],
        ['POST', '/entries', { text: 'ran', mood: 5, category: 'sport' }],
        ['GET', `/entries/${entryId}`],
        ['PATCH', `/entries/${entryId}`, { text: 'ran', mood: 5, category: 'sport' }],
        ['PATCH', `/entries?id=${entryId}`, { text: 'ran', mood: 5, category: 'sport' }],
        ['DELETE', `/entries/${entryId}`],
        ['DELETE', `/entries?id=${entryId}`],
        ['GET', '/stats'],
        ['GET', '/stats?from=2026-01-01'],
      ];
      let entryId: number;
      before(async () => {
        entryId = (await api.request('POST', '/entries', { token, body: { text: 'mine', mood: 5, category: 'sport' } })).json.id;
      });

      const expectRefusedEverywhere = async (bad: string) => {
        for (const [method, path, body] of routes(entryId)) {
          // Twice: a refusal is not remembered as an acceptance.
          for (const attempt of [1, 2]) {
            const res = await api.request(method, path, { token: bad, body });
            expect(res.status, `${method} ${path} #${attempt}`).to.equal(401);
            expect(res.json).to.deep.equal({ success: false, message: 'Invalid or expired token' });
            expect(res.headers.get('www-authenticate')).to.equal('Bearer');
          }
        }
        // Nothing was written through it.
        expect(await api.db('entries').where({ user_id: userId }).count({ n: '*' })).to.deep.equal([{ n: 1 }]);
        expect((await api.request('GET', `/entries/${entryId}`, { token })).json.entry.text).to.equal('mine');
      };

      it('a token for a user that does not exist', async () => {
        const [{ max }] = await api.db('users').max({ max: 'id' });
        await expectRefusedEverywhere(jwt.sign({ user_id: Number(max) + 1000, exp: inAnHour() }, TEST_JWT_SECRET));
      });

      it('a token without exp, for a user that exists', async () => {
        await expectRefusedEverywhere(jwt.sign({ user_id: userId }, TEST_JWT_SECRET));
      });

      it('(the same routes accept a token with exp for the user)', async () => {
        const good = jwt.sign({ user_id: userId, exp: inAnHour() }, TEST_JWT_SECRET);
        for (const [method, path, body] of routes(entryId).filter(([method]) => method === 'GET')) {
          expect((await api.request(method, path, { token: good, body })).status, `${method} ${path}`).to.equal(200);
        }
      });
    });

    it('accepts the token (scheme case-insensitive)', async () => {
      expect((await withAuthorization(`Bearer ${token}`)).status).to.equal(200);
      expect((await withAuthorization(`bearer ${token}`)).status).to.equal(200);
    });
  });
});
