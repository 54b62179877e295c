import { expect } from 'chai';
import { createClient } from 'redis';
import { PinnedConnection, pinOneConnectionPerWorker } from '../support/pinned-connection.js';
import { pulsePerTest } from '../support/pulse-process.js';

describe('entry list cache (count and first page) across the workers of the real cluster', function () {
  this.timeout(60_000);
  const pulses = pulsePerTest();
  const connections: PinnedConnection[] = [];
  const redis = createClient({ url: process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379' });
  before(() => redis.connect());
  after(async () => {
    for (const connection of connections) connection.close();
    await redis.close();
  });

  it('a read on one worker sees a write made on the other, even with the count and first page cached', async () => {
    const pulse = await pulses.start({ workers: 2, env: { RATE_LIMIT_MAX: '1000000' } });
    const workerPids = await pulse.workerPids();
    const [first, second] = (await pinOneConnectionPerWorker(pulse, workerPids, connections)) as [PinnedConnection, PinnedConnection];

    for (const [reader, writer, name] of [[first, second, 'ann'], [second, first, 'bob']] as const) {
      const credentials = { email: `${name}-${Date.now()}@example.com`, password: 'secret-password' };
      const registered = await writer.send('POST', '/register', credentials);
      expect(registered.status).to.equal(201);
      const userId = registered.body.user_id as number;
      const token = (await writer.send('POST', '/login', credentials)).body.token as string;

      const before = await reader.send('GET', '/entries', undefined, token);
      expect(before.body.total).to.equal(0);
      const cacheKey = `${pulse.env.REDIS_KEY_PREFIX}count:user:${userId}`;
      expect(await redis.get(cacheKey), 'the reader cached the count').to.equal('0');
      const pageKey = `${pulse.env.REDIS_KEY_PREFIX}first-page:user:${userId}`;
      expect(await redis.hExists(pageKey, '10'), 'the reader cached the first page').to.equal(1);

      const created = await writer.send('POST', '/entries', { text: 'hello', mood: 6, category: 'test' }, token);
      expect(created.status).to.equal(201);
      const afterCreate = await reader.send('GET', '/entries', undefined, token);
      expect(afterCreate.body.total, 'the other worker sees the write at once').to.equal(1);
      expect((afterCreate.body.entries as unknown[]).length).to.equal(1);

      const deleted = await reader.send('DELETE', `/entries/${created.body.id as number}`, undefined, token);
      expect(deleted.status).to.equal(200);
      const afterDelete = await writer.send('GET', '/entries', undefined, token);
      expect(afterDelete.body.total).to.equal(0);
    }
  });
});
