import { spawnSync } from 'node:child_process';
import { expect } from 'chai';
import jwt from 'jsonwebtoken';
import { sendJson, signUpThrough } from '../support/journal-client.js';
import { PRIMARY_ENTRY, PROJECT_ROOT, pulsePerTest } from '../support/pulse-process.js';

/** The secret an unset JWT_SECRET falls back to outside production (published in the source). */
const DEVELOPMENT_SECRET = 'pulse-development-secret-change-me';

function startWith(env: Record<string, string>) {
  return spawnSync(process.execPath, [PRIMARY_ENTRY], {
    cwd: PROJECT_ROOT,
    env: { PATH: process.env.PATH ?? '', ...env },
    encoding: 'utf8',
    timeout: 10_000,
  });
}

describe('bad configuration stops startup with one clear line and exit code 78', () => {
  const cases: [string, string, RegExp][] = [
    ['PORT', 'eighty', /^pulse: invalid configuration: PORT .*"eighty"/],
    ['PORT', '70000', /^pulse: invalid configuration: PORT /],
    ['WORKERS', '0', /^pulse: invalid configuration: WORKERS /],
    ['SHUTDOWN_TIMEOUT_MS', '-5', /^pulse: invalid configuration: SHUTDOWN_TIMEOUT_MS /],
    ['DATABASE_URL', 'mysql://db/pulse', /^pulse: invalid configuration: DATABASE_URL must be a URL starting with postgres:/],
    ['REDIS_URL', 'not a url', /^pulse: invalid configuration: REDIS_URL /],
    ['LOG_LEVEL', 'loud', /^pulse: invalid configuration: LOG_LEVEL /],
    ['JWT_SECRET', 'short', /^pulse: invalid configuration: JWT_SECRET must be at least 16 characters$/m],
    ['TRUST_PROXY', 'yes', /^pulse: invalid configuration: TRUST_PROXY /],
  ];
  for (const [variable, value, expected] of cases) {
    it(`${variable}=${JSON.stringify(value)}`, () => {
      const result = startWith({ [variable]: value });
      expect(result.status).to.equal(78);
      const lines = result.stderr.trim().split('\n');
      expect(lines).to.have.length(1);
      expect(lines[0]).to.match(expected);
      expect(result.stderr).to.not.match(/\n\s+at /, 'no stack trace');
      expect(result.stdout).to.equal('');
    });
  }

  it('never echoes a secret-bearing value back', () => {
    const result = startWith({ DATABASE_URL: 'mysql://admin:hunter2@db/pulse' });
    expect(result.status).to.equal(78);
    expect(result.stderr).to.not.include('hunter2');
  });

  it('requires DATABASE_URL in production: the embedded database is an explicit choice there', () => {
    const result = startWith({ NODE_ENV: 'production', JWT_SECRET: 'a-production-secret-of-32-characters-or-more', REDIS_URL: 'none' });
    expect(result.status).to.equal(78);
    expect(result.stdout).to.equal('');
    expect(result.stderr).to.equal(
      'pulse: invalid configuration: DATABASE_URL is required when NODE_ENV=production: postgres://… for PostgreSQL, or sqlite:/var/lib/pulse/pulse.sqlite to run on the embedded single-host database on purpose\n',
    );
  });

  it('requires JWT_SECRET in production', () => {
    const result = startWith({ NODE_ENV: 'production' });
    expect(result.status).to.equal(78);
    expect(result.stderr.trim()).to.equal('pulse: invalid configuration: JWT_SECRET is required when NODE_ENV=production');
  });

  describe('NODE_ENV=production wants the shared store named: a Redis URL, or REDIS_URL=none for the single-host one', function () {
    this.timeout(30_000);
    const pulses = pulsePerTest();
    const production = { NODE_ENV: 'production', JWT_SECRET: 'a-production-secret-of-32-characters-or-more' };

    it('refuses to start without REDIS_URL, in one line naming it', () => {
      const result = startWith({ ...production, DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/pulse' });
      expect(result.status).to.equal(78);
      expect(result.stderr).to.equal(
        'pulse: invalid configuration: REDIS_URL is required when NODE_ENV=production: a redis:// URL, or none for the single-host store (rate limits per host, no entry cache)\n',
      );
      expect(result.stdout).to.equal('');
    });

    it('starts with REDIS_URL=none: healthy, redis "not configured"', async () => {
      const pulse = await pulses.start({ workers: 1, env: { ...production, REDIS_URL: 'none' } });
      const health = (await (await fetch(`${pulse.adminUrl}/health`)).json()) as { status: string; redis: string };
      expect(health).to.include({ status: 'healthy', redis: 'not configured' });
    });
  });

  describe('NODE_ENV=production refuses a weak JWT_SECRET (one line naming it, never the value)', () => {
    const weak: Array<[string, string, string]> = [
      ['the published development secret', DEVELOPMENT_SECRET, 'is the published development secret'],
      ['16 spaces', ' '.repeat(16), 'is only whitespace'],
      ['31 characters', 'abcdefghijklmnopqrstuvwxyz01234', 'must be at least 32 characters'],
      ['one character repeated', 'z'.repeat(48), 'must have at least 10 different characters (it has 1)'],
    ];
    for (const [what, secret, reason] of weak) {
      it(what, () => {
        const result = startWith({ NODE_ENV: 'production', JWT_SECRET: secret });
        expect(result.status).to.equal(78);
        const lines = result.stderr.trimEnd().split('\n');
        expect(lines).to.have.length(1);
        expect(lines[0]).to.equal(
          `pulse: invalid configuration: JWT_SECRET ${reason}: refused when NODE_ENV=production (generate one with: openssl rand -base64 48)`,
        );
        if (secret.trim() !== '') expect(result.stderr).to.not.include(secret);
        expect(result.stdout).to.equal('');
      });
    }
  });

  describe('outside production, the development secret is a fallback with an honest warning', function () {
    this.timeout(30_000);
    const pulses = pulsePerTest();
    const WARNING = 'JWT_SECRET is unset or the published development secret: anyone can sign tokens this service accepts (refused when NODE_ENV=production)';

    it('warns once when JWT_SECRET is unset, and the tokens it signs are accepted (the documented fallback)', async () => {
      const unset = await pulses.start({ workers: 1, env: { NODE_ENV: 'development', JWT_SECRET: undefined } });
      expect(unset.env).to.not.have.property('JWT_SECRET');
      const warnings = unset.logs.filter((line) => line.msg === WARNING);
      expect(warnings).to.have.length(1);
      expect(warnings[0]).to.include({ level: 40, role: 'primary' });
      // It runs with the published development secret: a token signed with it is accepted.
      const { userId } = await signUpThrough(unset);
      const forged = jwt.sign({ user_id: userId, exp: Math.floor(Date.now() / 1000) + 60 }, DEVELOPMENT_SECRET);
      expect((await sendJson(unset, 'GET', '/entries', { token: forged })).status).to.equal(200);
    });

    it('warns once when JWT_SECRET is the development secret, and not for a real one', async () => {
      const development = await pulses.start({ workers: 1, env: { NODE_ENV: 'development', JWT_SECRET: DEVELOPMENT_SECRET } });
      const warnings = development.logs.filter((line) => line.msg === WARNING);
      expect(warnings).to.have.length(1);
      expect(warnings[0]).to.include({ level: 40, role: 'primary' });
      expect(development.logs.some((line) => /not set/.test(line.msg))).to.equal(false);

      const real = await pulses.start({ workers: 1, env: { NODE_ENV: 'development' } });
      expect(real.logs.filter((line) => /JWT_SECRET/.test(line.msg))).to.deep.equal([]);
    });
  });
});
