import { expect } from 'chai';
import { pino } from 'pino';
import { closeRedis, createRedis } from '../../src/cache/redis.js';
import { loadConfig } from '../../src/shared/config.js';
import { pulsePerTest } from '../support/pulse-process.js';
import { RedisServerProcess } from '../support/redis-server.js';
import { waitFor } from '../support/wait.js';

describe('REDIS_URL rediss:// (TLS, against a TLS-only redis-server)', function () {
  this.timeout(60_000);
  const pulses = pulsePerTest();
  let server: RedisServerProcess;

  before(async () => {
    server = await RedisServerProcess.start({ tls: true });
  });
  after(async () => {
    await server?.close();
  });

  it('is accepted by the configuration', () => {
    expect(loadConfig({ REDIS_URL: server.url }).redisUrl).to.equal(server.url);
  });

  it('makes the client speak TLS: a certificate it does not trust is refused', async () => {
    const lines: Array<{ msg: string; err?: { message?: string } }> = [];
    const redis = createRedis(server.url, pino({ level: 'warn' }, { write: (line: string) => void lines.push(JSON.parse(line)) }));
    redis.connect().catch(() => undefined);
    try {
      await waitFor(() => lines.find((line) => line.msg === 'redis error'), 'the TLS handshake to fail');
      expect(lines.find((line) => line.msg === 'redis error')!.err?.message).to.equal('self-signed certificate');
      expect(redis.isReady).to.equal(false);
    } finally {
      await closeRedis(redis);
    }
  });

  it('Pulse connects and rate limits through it when the certificate is trusted (NODE_EXTRA_CA_CERTS)', async () => {
    const pulse = await pulses.start({ workers: 1, env: { REDIS_URL: server.url, NODE_EXTRA_CA_CERTS: server.caFile } });
    const health = (await (await fetch(`${pulse.adminUrl}/health`)).json()) as { redis: string };
    expect(health.redis).to.equal('connected');
    // The limiter answered from Redis: its headers are only sent when Redis counted the request.
    const ping = await fetch(`${pulse.url}/ping`);
    expect(ping.status).to.equal(200);
    expect(ping.headers.get('x-ratelimit-limit')).to.equal('100');
    expect(ping.headers.get('x-ratelimit-remaining')).to.equal('99');
  });
});
