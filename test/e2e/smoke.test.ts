import { expect } from 'chai';
import jwt from 'jsonwebtoken';
import { TEST_REDIS_URL } from '../support/databases.js';
import { faultsPerTest } from '../support/fault-fixtures.js';
import { sendJson } from '../support/journal-client.js';
import { startPulse, type PulseProcess } from '../support/pulse-process.js';
import { waitFor } from '../support/wait.js';

describe('startup and a clean stop (end to end)', function () {
  let pulse: PulseProcess;
  after(async () => pulse?.stop());
  const faults = faultsPerTest();

  it('creates the database, migrates once, forks N ready workers, serves, and exits 0 on SIGTERM', async () => {
    pulse = await startPulse({ workers: 2 });
    const messages = pulse.logs.map((l) => l.msg);
    expect(messages).to.include('database created');
    expect(pulse.logs.filter((l) => l.msg === 'migrations applied')).to.have.length(1);
    expect(pulse.logs.filter((l) => l.msg === 'worker forked')).to.have.length(2);
    expect(pulse.logs.filter((l) => l.msg === 'worker ready')).to.have.length(2);
    expect(pulse.logs.find((l) => l.msg === 'all workers ready')).to.include({ role: 'primary', workers: 2 });
    // Workers never migrate: only the primary does, before forking.
    const forkedAt = messages.indexOf('worker forked');
    expect(messages.indexOf('migrations applied')).to.be.below(forkedAt);
    for (const line of pulse.logs) expect(line).to.have.property('pid').that.is.a('number');

    const res = await fetch(`${pulse.url}/ping`);
    expect(res.status).to.equal(200);
    expect(await res.text()).to.equal('Ping response: pong');

    pulse.signal('SIGTERM');
    const exit = await pulse.waitExit(7000);
    expect(exit.code).to.equal(0);
    for (const msg of ['drain started', 'drain finished', 'pools closed', 'stopped']) {
      expect(pulse.logs.filter((l) => l.msg === msg && l.role === 'worker' && typeof l.worker === 'number'), msg).to.have.length(2);
    }
    expect(pulse.logs.filter((l) => l.msg === 'worker exited' && l.code === 0)).to.have.length(2);
  });

  it('runs no migration the second time against the same database', async () => {
    const again = await startPulse({ workers: 1, env: { DATABASE_URL: pulse.env.DATABASE_URL! } });
    try {
      expect(again.logs.map((l) => l.msg)).to.include('database schema up to date');
      expect(again.logs.map((l) => l.msg)).to.not.include('database created');
    } finally {
      await again.stop();
    }
  });

  it('never logs a secret: passwords, tokens, Authorization headers, URL passwords, the JWT secret (primary and workers, trace level, failures included)', async () => {
    const secrets = {
      jwtSecret: 'a-very-secret-jwt-key-for-this-test-0123456789',
      databasePassword: 'db-password-5f1e0c',
      redisPassword: 'redis-password-9b7d2a',
      password: 'user-password-3c8e41',
      wrongPassword: 'wrong-password-77aa10',
      basicCredentials: 'operator:basic-password-41d0',
    };
    const { proxy, databaseUrl } = await faults.database('secrets');
    const database = new URL(databaseUrl);
    database.password = secrets.databasePassword; // trust auth: accepted, never checked
    const redis = new URL(TEST_REDIS_URL);
    redis.username = 'default'; // a password-less default user accepts any password
    redis.password = secrets.redisPassword;
    const withSecrets = await startPulse({
      workers: 2,
      env: { JWT_SECRET: secrets.jwtSecret, DATABASE_URL: database.toString(), REDIS_URL: redis.toString(), LOG_LEVEL: 'trace' },
    });
    try {
      const credentials = { email: `secrets-${Date.now()}@example.com`, password: secrets.password };
      expect((await sendJson(withSecrets, 'POST', '/register', { body: credentials })).status).to.equal(201);
      expect((await sendJson(withSecrets, 'POST', '/register', { body: credentials })).status).to.equal(409);
      expect((await sendJson(withSecrets, 'POST', '/login', { body: { ...credentials, password: secrets.wrongPassword } })).status).to.equal(401);
      const token = (await sendJson(withSecrets, 'POST', '/login', { body: credentials })).body.token as string;
      const unusedToken = (await sendJson(withSecrets, 'POST', '/login', { body: credentials })).body.token as string;
      const forged = jwt.sign({ user_id: 1, exp: Math.floor(Date.now() / 1000) + 60 }, 'another-secret-entirely-0123');
      const basic = `Basic ${Buffer.from(secrets.basicCredentials).toString('base64')}`;
      // Every route that reads the header, on both workers (one connection per request).
      for (let i = 0; i < 2; i += 1) {
        expect((await sendJson(withSecrets, 'POST', '/entries', { token, body: { text: 'hello', mood: 5, category: 'c' } })).status).to.equal(201);
        expect((await sendJson(withSecrets, 'GET', '/entries', { token })).status).to.equal(200);
        expect((await sendJson(withSecrets, 'GET', '/stats', { token })).status).to.equal(200);
        expect((await sendJson(withSecrets, 'GET', '/entries', { token: forged })).status).to.equal(401);
        expect((await sendJson(withSecrets, 'GET', '/entries', { headers: { Authorization: basic } })).status).to.equal(401);
        expect((await sendJson(withSecrets, 'GET', '/entries', { headers: { Authorization: `Bearer ${token} extra` } })).status).to.equal(401);
      }
      // Failures are logged in full (error, request id): the same requests while Postgres is gone.
      await proxy.cut();
      const failing = [
        await sendJson(withSecrets, 'POST', '/login', { body: credentials }),
        await sendJson(withSecrets, 'GET', '/entries', { token: unusedToken }),
        await sendJson(withSecrets, 'POST', '/register', { body: { ...credentials, email: `other-${credentials.email}` } }),
      ];
      expect(failing.map((answer) => answer.status)).to.deep.equal([503, 503, 503]);
      await waitFor(() => withSecrets.logs.some((l) => l.role === 'worker' && l.level >= 50 && l.requestId), 'a request failure to be logged');

      await withSecrets.stop();
      const everything = JSON.stringify(withSecrets.logs) + withSecrets.stderr.join('\n');
      for (const [name, value] of Object.entries({ ...secrets, token, unusedToken, forged, basic: basic.slice('Basic '.length) })) {
        expect(everything, `${name} in the logs`).to.not.include(value);
      }
      // What was checked: both processes' lines, the requests above and the URLs, redacted.
      const starting = withSecrets.logs.find((l) => l.msg === 'starting primary')!;
      expect(starting.database).to.include(':***@');
      expect(starting.redis).to.include(':***@');
      const workersLogging = new Set(withSecrets.logs.filter((l) => l.role === 'worker' && l.msg === 'request' && l.route === '/login').map((l) => l.worker));
      expect(workersLogging.size, 'both workers logged /login requests').to.equal(2);
      expect(withSecrets.logs.filter((l) => l.level >= 50).length, 'errors logged while Postgres was gone').to.be.above(0);
    } finally {
      await withSecrets.stop();
    }
  });
});
