import { spawnSync } from 'node:child_process';
import { expect } from 'chai';
import { PRIMARY_ENTRY, PROJECT_ROOT } from '../support/pulse-process.js';

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

  it('requires JWT_SECRET in production', () => {
    const result = startWith({ NODE_ENV: 'production' });
    expect(result.status).to.equal(78);
    expect(result.stderr.trim()).to.equal('pulse: invalid configuration: JWT_SECRET is required when NODE_ENV=production');
  });
});
