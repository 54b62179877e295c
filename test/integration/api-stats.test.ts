import { expect } from 'chai';
import { insertEntries, signUp, startApi, type ApiHarness } from './api-harness.js';
import { forEachDatabase } from '../support/database-backends.js';

forEachDatabase('journal API: GET /stats', (database) => {
  let api: ApiHarness;
  let token: string;

  before(async () => {
    api = await startApi({ label: 'api_stats', database });
    const user = await signUp(api);
    token = user.token;
    await insertEntries(api.db, user.userId, [
      { created_at: new Date('2025-05-01T08:00:00Z'), mood: 4, category: 'work' },
      { created_at: new Date('2025-05-01T23:59:59.999Z'), mood: 7, category: 'home' },
      { created_at: new Date('2025-05-02T00:00:00Z'), mood: 9, category: 'work' },
      { created_at: new Date('2025-05-02T12:00:00Z'), mood: 2, category: 'work' },
      { created_at: new Date('2025-05-04T12:00:00Z'), mood: 5, category: 'sport' },
    ]);
    // Someone else's entries never count.
    const other = await signUp(api);
    await insertEntries(api.db, other.userId, [{ created_at: new Date('2025-05-01T09:00:00Z'), mood: 1, category: 'work' }]);
  });
  after(async () => api?.close());

  const stats = async (query = '') => {
    const res = await api.request('GET', `/stats${query}`, { token });
    expect(res.status, res.text).to.equal(200);
    return res.json;
  };

  it('aggregates count, average mood, per category and per UTC day', async () => {
    expect(await stats()).to.deep.equal({
      success: true,
      count: 5,
      average_mood: 5.4,
      by_category: [
        { category: 'home', count: 1, average_mood: 7 },
        { category: 'sport', count: 1, average_mood: 5 },
        { category: 'work', count: 3, average_mood: 5 },
      ],
      by_day: [
        { date: '2025-05-01', count: 2, average_mood: 5.5 },
        { date: '2025-05-02', count: 2, average_mood: 5.5 },
        { date: '2025-05-04', count: 1, average_mood: 5 },
      ],
    });
  });

  it('honours from/to and category, and rounds averages to two decimals', async () => {
    const day = await stats('?from=2025-05-02&to=2025-05-02');
    expect(day).to.include({ count: 2, average_mood: 5.5 });
    expect(day.by_day).to.deep.equal([{ date: '2025-05-02', count: 2, average_mood: 5.5 }]);
    const work = await stats('?category=work&to=2025-05-02T00:00:00Z');
    expect(work).to.include({ count: 2, average_mood: 6.5 });
    const thirds = await stats('?from=2025-05-01&to=2025-05-02T00:00:00.000Z');
    expect(thirds).to.include({ count: 3, average_mood: 6.67 });
  });

  it('rounds an exact half up, as on paper (2.675 is 2.68, though the double nearest 2.675 is below it)', async () => {
    const user = await signUp(api);
    const moods = [...Array(27).fill(3), ...Array(13).fill(2)]; // 107 / 40 = 2.675
    await insertEntries(api.db, user.userId, moods.map((mood, i) => ({ mood, created_at: new Date(Date.UTC(2025, 5, 1, 0, i)) })));
    const res = await api.request('GET', '/stats', { token: user.token });
    expect(res.json).to.include({ count: 40, average_mood: 2.68 });
    expect(res.json.by_day).to.deep.equal([{ date: '2025-06-01', count: 40, average_mood: 2.68 }]);
  });

  it('answers zeros, null and empty lists for an empty range', async () => {
    expect(await stats('?from=2030-01-01')).to.deep.equal({ success: true, count: 0, average_mood: null, by_category: [], by_day: [] });
  });

  it('answers 400 for a bad range and 401 without a token', async () => {
    const bad = await api.request('GET', '/stats?from=05/01/2025', { token });
    expect(bad.status).to.equal(400);
    expect(bad.json).to.deep.equal({ success: false, message: 'from must be an RFC 3339 timestamp or a YYYY-MM-DD date' });
    const anonymous = await api.request('GET', '/stats');
    expect(anonymous.status).to.equal(401);
  });
});
