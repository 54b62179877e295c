import { expect } from 'chai';
import jwt from 'jsonwebtoken';
import { dialectOf } from '../../src/db/dialect.js';
import { IDEMPOTENCY_KEY_REUSED, INVALID_IDEMPOTENCY_KEY } from '../../src/app/idempotency.js';
import { waitFor } from '../support/wait.js';
import { signUp, startApi, TEST_JWT_SECRET, type ApiHarness, type ApiResponse } from './api-harness.js';
import { forEachDatabase } from '../support/database-backends.js';

const entry = (overrides: Record<string, unknown> = {}) => ({ text: 'paid the rent', mood: 4, category: 'money', ...overrides });
let keyCounter = 0;
const freshKey = () => `key-${process.pid}-${++keyCounter}`;

forEachDatabase('journal API: Idempotency-Key on POST /entries', (database) => {
  let api: ApiHarness;
  let alice: { token: string; userId: number };
  let bob: { token: string; userId: number };

  before(async () => {
    api = await startApi({ label: 'api_idempotency', database });
    [alice, bob] = await Promise.all([signUp(api), signUp(api)]);
  });
  after(async () => api?.close());

  const post = (token: string, key: string | undefined, body: unknown): Promise<ApiResponse> =>
    api.request('POST', '/entries', { token, body, headers: key === undefined ? {} : { 'Idempotency-Key': key } });
  const entriesOf = async (userId: number) => Number((await api.db('entries').where({ user_id: userId }).count<{ count: number }[]>({ count: '*' }))[0]!.count);

  it('the same key and body again: the original answer (status and body), marked replayed, and nothing new created', async () => {
    const key = freshKey();
    const before = await entriesOf(alice.userId);
    const first = await post(alice.token, key, entry());
    expect(first.status).to.equal(201);
    expect(first.json).to.deep.equal({ success: true, message: 'Entry created successfully', id: first.json.id });
    expect(first.headers.get('idempotent-replayed')).to.equal(null);

    // The same request, written differently: other key order and spacing, an ignored field.
    const again = await post(alice.token, key, '{ "category": "money", "mood": 4, "text": "paid the rent", "extra": 1 }');
    expect(again.status).to.equal(201);
    expect(again.text).to.equal(first.text);
    expect(again.headers.get('idempotent-replayed')).to.equal('true');
    expect(again.headers.get('content-type')).to.equal(first.headers.get('content-type'));
    expect(await entriesOf(alice.userId)).to.equal(before + 1);
  });

  it('the same key with a different body: 422, nothing created, and the original answer still replays', async () => {
    const key = freshKey();
    const first = await post(alice.token, key, entry());
    const before = await entriesOf(alice.userId);
    const other = await post(alice.token, key, entry({ mood: 5 }));
    expect(other.status).to.equal(422);
    expect(other.json).to.deep.equal({ success: false, message: IDEMPOTENCY_KEY_REUSED });
    expect(await entriesOf(alice.userId)).to.equal(before);
    expect((await post(alice.token, key, entry())).json.id).to.equal(first.json.id);
  });

  it('keys belong to a user: the same key from another user is another request', async () => {
    const key = freshKey();
    const mine = await post(alice.token, key, entry());
    const theirs = await post(bob.token, key, entry({ text: 'something else' }));
    expect(theirs.status).to.equal(201);
    expect(theirs.json.id).not.to.equal(mine.json.id);
    expect(theirs.headers.get('idempotent-replayed')).to.equal(null);
  });

  it('concurrent duplicates wait for the first and get its answer: one entry', async () => {
    const key = freshKey();
    const before = await entriesOf(alice.userId);
    const answers = await Promise.all(Array.from({ length: 12 }, () => post(alice.token, key, entry({ text: 'at once' }))));
    expect(answers.map((a) => a.status)).to.deep.equal(Array(12).fill(201));
    expect(new Set(answers.map((a) => a.json.id)).size).to.equal(1);
    expect(answers.filter((a) => a.headers.get('idempotent-replayed') === null)).to.have.length(1);
    expect(await entriesOf(alice.userId)).to.equal(before + 1);
  });

  it('without the header every POST creates, as before', async () => {
    const before = await entriesOf(alice.userId);
    const [a, b] = [await post(alice.token, undefined, entry()), await post(alice.token, undefined, entry())];
    expect(a.json.id).not.to.equal(b.json.id);
    expect(await entriesOf(alice.userId)).to.equal(before + 2);
  });

  it('a quoted key (structured-field string) is the same key', async () => {
    const key = freshKey();
    const bare = await post(alice.token, key, entry());
    const quoted = await post(alice.token, `"${key}"`, entry());
    expect(quoted.json.id).to.equal(bare.json.id);
    expect(quoted.headers.get('idempotent-replayed')).to.equal('true');
  });

  const malformed: Array<[string, string]> = [
    ['empty', ''],
    ['256 characters', 'k'.repeat(256)],
    ['a space', 'two words'],
    ['a comma (the header sent twice)', 'a, b'],
    ['a quote inside', 'a"b'],
    ['non-ASCII', 'clé'],
  ];
  for (const [what, key] of malformed) {
    it(`a malformed key (${what}): 400, nothing created`, async () => {
      const before = await entriesOf(alice.userId);
      const res = await api.request('POST', '/entries', { token: alice.token, body: entry(), headers: { 'Idempotency-Key': key } });
      expect(res.status).to.equal(400);
      expect(res.json).to.deep.equal({ success: false, message: INVALID_IDEMPOTENCY_KEY });
      expect(await entriesOf(alice.userId)).to.equal(before);
    });
  }

  it('accepts 255 characters of letters, digits and - _ . : ~ + / =', async () => {
    const key = `${'aZ09-_.:~+/='.repeat(21)}abc`;
    expect(key).to.have.length(255);
    expect((await post(alice.token, key, entry())).status).to.equal(201);
  });

  it('after 24 h the key is free again: the same key creates anew', async () => {
    const key = freshKey();
    const first = await post(alice.token, key, entry());
    await api.db('idempotency_keys').where({ user_id: alice.userId, key }).update({ created_at: api.db.raw(dialectOf(api.db).hoursAgo(24 + 1 / 60)) });
    const later = await post(alice.token, key, entry({ text: 'a new month' }));
    expect(later.status).to.equal(201);
    expect(later.json.id).not.to.equal(first.json.id);
    expect(later.headers.get('idempotent-replayed')).to.equal(null);
    expect((await post(alice.token, key, entry({ text: 'a new month' }))).json.id).to.equal(later.json.id);
  });

  it("a token of a user that no longer exists: 401 and no key recorded", async () => {
    const ghost = jwt.sign({ user_id: 987654321 }, TEST_JWT_SECRET, { expiresIn: '1h' });
    const key = freshKey();
    const res = await post(ghost, key, entry());
    expect(res.status).to.equal(401);
    expect(await api.db('idempotency_keys').where({ key }).first()).to.equal(undefined);
  });
});

forEachDatabase('journal API: expired idempotency keys are purged', (database) => {
  let api: ApiHarness;
  after(async () => api?.close());

  it('a keyed request deletes expired records (oldest first, in the background), and keeps live ones', async () => {
    api = await startApi({ label: 'api_idempotency_purge', database });
    const { token, userId } = await signUp(api);
    const stored = (key: string, ageHours: number) => ({
      user_id: userId,
      key,
      request_hash: 'x',
      response_status: 201,
      response_body: '{}',
      created_at: api.db.raw(dialectOf(api.db).hoursAgo(ageHours)),
    });
    await api.db('idempotency_keys').insert([stored('old-1', 72), stored('old-2', 25), stored('recent', 23)]);

    const res = await api.request('POST', '/entries', { token, body: entry(), headers: { 'Idempotency-Key': freshKey() } });
    expect(res.status).to.equal(201);
    const keys = async () => (await api.db('idempotency_keys').where({ user_id: userId }).orderBy('key').pluck('key')) as string[];
    await waitFor(async () => (await keys()).length === 2, 'the expired records to be deleted');
    expect(await keys()).to.deep.equal([`key-${process.pid}-${keyCounter}`, 'recent'].sort());
  });
});
