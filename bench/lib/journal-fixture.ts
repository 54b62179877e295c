import pg from 'pg';
import { encodeCursor } from '../../src/app/cursor.js';
import type { PulseProcess } from '../../test/support/pulse-process.js';

export interface JournalFixture {
  token: string;
  userId: number;
  entries: number;
  /** Bearer header for autocannon and the http client. */
  headers: Record<string, string>;
  /** A keyset cursor after the row at `deepRow` (newest first), built from the row itself. */
  deepCursor: string;
  deepRow: number;
}

async function api(pulse: PulseProcess, path: string, body: unknown): Promise<any> {
  const res = await fetch(`${pulse.url}${path}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  const json = await res.json();
  if (res.status >= 300) throw new Error(`POST ${path} answered ${res.status}: ${JSON.stringify(json)}`);
  return json;
}

/**
 * One user (registered and logged in through the API) with `entries` journal entries,
 * inserted by one INSERT ... SELECT generate_series straight into the service's database
 * (which the service created and migrated), one second apart, newest first.
 */
export async function seedJournal(pulse: PulseProcess, entries: number, deepRow: number): Promise<JournalFixture> {
  const email = `bench-${process.pid}@example.com`;
  const { user_id: userId } = await api(pulse, '/register', { email, password: 'bench-password' });
  const { token } = await api(pulse, '/login', { email, password: 'bench-password' });

  const client = new pg.Client({ connectionString: pulse.env.DATABASE_URL });
  await client.connect();
  try {
    await client.query(
      `INSERT INTO entries (user_id, text, mood, category, created_at)
       SELECT $1, 'Benchmark entry number ' || g || ': a short day note.', 1 + g % 10,
              (ARRAY['work', 'health', 'family', 'leisure'])[1 + g % 4], now() - g * interval '1 second'
       FROM generate_series(1, $2::int) AS g`,
      [userId, entries],
    );
    await client.query('ANALYZE entries');
    const { rows } = await client.query<{ id: string; created_at: Date }>(
      'SELECT id, created_at FROM entries WHERE user_id = $1 ORDER BY created_at DESC, id DESC OFFSET $2 LIMIT 1',
      [userId, deepRow - 1],
    );
    const row = rows[0];
    if (!row) throw new Error(`the fixture has no row ${deepRow}`);
    return {
      token,
      userId,
      entries,
      headers: { Authorization: `Bearer ${token}` },
      deepCursor: encodeCursor({ createdAt: row.created_at, id: Number(row.id) }),
      deepRow,
    };
  } finally {
    await client.end();
  }
}

export async function getJson(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
  const res = await fetch(url, { headers });
  return { status: res.status, body: await res.json() };
}
