import http from 'node:http';
import { expect } from 'chai';
import { createClient } from 'redis';
import { type PulseProcess, pulsePerTest } from '../support/pulse-process.js';
import { serverSocketOwner } from '../support/socket-owner.js';

interface Reply {
  status: number;
  body: Record<string, unknown>;
}

/** A keep-alive connection whose worker is known, so a test can choose who answers. */
class PinnedConnection {
  private constructor(
    private readonly pulse: PulseProcess,
    private readonly agent: http.Agent,
    readonly workerPid: number | undefined,
  ) {}

  static async open(pulse: PulseProcess, workerPids: number[]): Promise<PinnedConnection> {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const probe = new PinnedConnection(pulse, agent, undefined);
    const clientPort = await probe.requestWithPort('GET', '/ping');
    return new PinnedConnection(pulse, agent, serverSocketOwner(pulse.port, clientPort, workerPids));
  }

  private requestWithPort(method: string, path: string, body?: unknown, token?: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const req = http.request(`${this.pulse.url}${path}`, { method, agent: this.agent, headers: this.headers(token) }, (res) => {
        const clientPort = res.socket.localPort ?? 0;
        res.resume();
        res.on('end', () => resolve(clientPort));
      });
      req.on('error', reject);
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
  }

  private headers(token?: string): Record<string, string> {
    return { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) };
  }

  send(method: string, path: string, body?: unknown, token?: string): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const req = http.request(`${this.pulse.url}${path}`, { method, agent: this.agent, headers: this.headers(token) }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) as Record<string, unknown> }));
      });
      req.on('error', reject);
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

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
    const byWorker = new Map<number, PinnedConnection>();
    for (let attempt = 0; attempt < 20 && byWorker.size < 2; attempt += 1) {
      const connection = await PinnedConnection.open(pulse, workerPids);
      connections.push(connection);
      if (connection.workerPid !== undefined && !byWorker.has(connection.workerPid)) byWorker.set(connection.workerPid, connection);
    }
    expect(byWorker.size, 'a connection on each worker').to.equal(2);
    const [first, second] = [...byWorker.values()] as [PinnedConnection, PinnedConnection];

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
