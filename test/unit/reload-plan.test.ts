import { expect } from 'chai';
import { planReload } from '../../src/primary/reload-plan.js';
import { ConfigError } from '../../src/shared/config.js';

const startEnv = { PATH: '/usr/bin', PORT: '8080', PING_MESSAGE: 'old', RATE_LIMIT_MAX: '50', JWT_SECRET: 'x'.repeat(40) };
const fromFileAtStart = new Set(['PING_MESSAGE', 'RATE_LIMIT_MAX', 'PORT']);

describe('planReload (unit): the environment a reload gives the new workers', () => {
  it('replaces what came from the file with what it says now; a variable taken out of the file is unset', () => {
    const plan = planReload(startEnv, fromFileAtStart, { PING_MESSAGE: 'new', PORT: '8080' });
    expect(plan.workerEnv).to.deep.equal({ PING_MESSAGE: 'new', RATE_LIMIT_MAX: '', PORT: '8080' });
    expect(plan.config.pingMessage).to.equal('new');
    expect(plan.config.rateLimitMax).to.equal(100);
    expect(plan.needsRestart).to.deep.equal([]);
  });

  it('reports a setting only a restart can change, and keeps the running value for the new workers', () => {
    const plan = planReload(startEnv, fromFileAtStart, { PING_MESSAGE: 'old', RATE_LIMIT_MAX: '50', PORT: '9090', WORKERS: '8' });
    expect(plan.needsRestart).to.deep.equal([
      { variable: 'PORT', running: '8080', file: '9090' },
      { variable: 'WORKERS', running: '', file: '8' },
    ]);
    expect(plan.workerEnv.PORT).to.equal('8080');
    expect(plan.workerEnv.WORKERS).to.equal('');
    expect(plan.config.port).to.equal(8080);
  });

  it('refuses an invalid file, naming the variable', () => {
    expect(() => planReload(startEnv, fromFileAtStart, { RATE_LIMIT_MAX: 'lots' })).to.throw(ConfigError, 'RATE_LIMIT_MAX');
  });
});
