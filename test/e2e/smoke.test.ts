import { expect } from 'chai';
import { startPulse, type PulseProcess } from '../support/pulse-process.js';

describe('smoke: the cluster starts and stops', function () {
  let pulse: PulseProcess;
  after(async () => pulse?.stop());

  it('serves /ping from a worker and exits 0 on SIGTERM', async () => {
    pulse = await startPulse({ workers: 2 });
    const res = await fetch(`${pulse.url}/ping`);
    expect(res.status).to.equal(200);
    expect(await res.text()).to.equal('Ping response: pong');
    pulse.signal('SIGTERM');
    const exit = await pulse.waitExit(7000);
    expect(exit.code).to.equal(0);
  });
});
