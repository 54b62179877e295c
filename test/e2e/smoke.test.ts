import { expect } from 'chai';
import { startPulse, type PulseProcess } from '../support/pulse-process.js';

describe('startup and a clean stop (end to end)', function () {
  let pulse: PulseProcess;
  after(async () => pulse?.stop());

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

  it('never logs a secret', async () => {
    const secret = 'a-very-secret-jwt-key-for-this-test';
    const withSecret = await startPulse({ workers: 1, env: { JWT_SECRET: secret } });
    await fetch(`${withSecret.url}/ping`, { headers: { Authorization: 'Bearer abc.def.ghi' } });
    await withSecret.stop();
    const everything = JSON.stringify(withSecret.logs) + withSecret.stderr.join('');
    expect(everything).to.not.include(secret);
    expect(everything).to.not.include('abc.def.ghi');
  });
});
