import { expect } from 'chai';
import { isAlive, pulsePerTest } from '../support/pulse-process.js';
import { waitFor } from '../support/wait.js';

describe('worker crashes (end to end)', function () {
  this.timeout(30_000);
  const pulses = pulsePerTest();

  it('kill -9 of a worker: it is replaced, the replacement becomes ready, traffic continues', async () => {
    const pulse = await pulses.start({ workers: 2, env: { RATE_LIMIT_MAX: '100000' } });
    const before = await pulse.workerPids();
    const victim = before[0]!;
    process.kill(victim, 'SIGKILL');

    const exited = await pulse.waitForLog((l) => l.msg === 'worker exited' && l.workerPid === victim);
    expect(exited).to.include({ signal: 'SIGKILL', reason: 'crash' });
    // Once the primary knows, the surviving worker answers everything while the replacement starts.
    for (let i = 0; i < 20; i += 1) {
      const res = await fetch(`${pulse.url}/ping`, { headers: { Connection: 'close' }, signal: AbortSignal.timeout(3000) });
      expect(res.status).to.equal(200);
    }
    const scheduled = await pulse.waitForLog((l) => l.msg === 'respawn scheduled');
    expect(scheduled).to.include({ reason: 'crash', delayMs: 100 });
    await waitFor(async () => {
      const pids = await pulse.workerPids();
      return pids.length === 2 && !pids.includes(victim);
    }, 'a replacement worker');
    await pulse.waitHealthy(10_000);
    const after = await pulse.workerPids();
    expect(after).to.include(before[1]);
    const replacement = after.find((pid) => !before.includes(pid))!;
    expect(isAlive(replacement)).to.equal(true);
    expect(pulse.logs.some((l) => l.msg === 'worker ready' && l.workerPid === replacement)).to.equal(true);

    const metrics = await (await fetch(`${pulse.adminUrl}/metrics`)).text();
    expect(metrics).to.match(/pulse_worker_restarts_total\{reason="crash"\} 1\b/);
  });

  it('a crash loop backs off exponentially and never takes the primary or healthy workers down', async () => {
    const pulse = await pulses.start({ workers: 2, env: { RATE_LIMIT_MAX: '100000' } });
    const survivor = (await pulse.workerPids())[1]!;
    const delays: number[] = [];
    for (let round = 0; round < 4; round += 1) {
      const pids = await waitFor(async () => {
        const found = await pulse.workerPids();
        return found.length === 2 ? found : undefined;
      }, 'two workers', 10_000, 20);
      if (!pids) throw new Error('unreachable');
      const target = pids.find((pid) => pid !== survivor)!;
      const from = pulse.logs.length;
      process.kill(target, 'SIGKILL');
      const scheduled = await pulse.waitForLog((l) => l.msg === 'respawn scheduled', 5000, from);
      delays.push(Number(scheduled.delayMs));
    }
    expect(delays).to.deep.equal([100, 200, 400, 800]);
    expect(isAlive(survivor)).to.equal(true);
    expect(pulse.exited).to.equal(undefined);
    await pulse.waitHealthy(10_000);
  });
});
