import { expect } from 'chai';
import { non2xx } from '../support/autocannon-load.js';
import { CapacityWatch } from '../support/capacity-watch.js';
import { runCtl } from '../support/ctl.js';
import { KeepAliveLoad } from '../support/keepalive-load.js';
import { type PulseProcess, pulsePerTest } from '../support/pulse-process.js';
import { sleep, waitFor } from '../support/wait.js';

interface Health {
  workers: { expected: number; ready: number };
  details: { pid: number; status: string }[];
}

async function health(pulse: PulseProcess): Promise<{ status: number; body: Health }> {
  const res = await fetch(`${pulse.adminUrl}/health`);
  return { status: res.status, body: (await res.json()) as Health };
}

describe('runtime scaling (end to end)', function () {
  this.timeout(60_000);
  const pulses = pulsePerTest(30);

  it('`ctl scale 3` then `ctl scale 1` under keep-alive load: no failed request', async () => {
    const pulse = await pulses.start({ workers: 2, env: { RATE_LIMIT_MAX: '1000000000' } });
    const load = new KeepAliveLoad(pulse.port, '/ping', 16);
    const answeredAfter = async (count: number, what: string) => waitFor(() => load.answered > count, what);
    await answeredAfter(0, 'the load to be served');

    const watch = new CapacityWatch(pulse.adminUrl);
    const up = await runCtl(['scale', '3'], pulse.env);
    const capacity = await watch.stop();
    expect(up.code, up.stderr).to.equal(0);
    // Adding capacity never makes a load balancer drop the node.
    expect(capacity.samples).to.be.above(5);
    expect(capacity.dips, 'health samples below 200 while scaling up').to.deep.equal([]);
    expect(up.stdout).to.equal('scaling from 2 to 3 workers\npulse now runs 3 worker(s)\n');
    const afterUp = await health(pulse);
    expect(afterUp.status).to.equal(200);
    expect(afterUp.body.workers).to.deep.equal({ expected: 3, ready: 3 });
    await answeredAfter(load.answered, 'requests served by 3 workers');

    const down = await runCtl(['scale', '1'], pulse.env);
    expect(down.code, down.stderr).to.equal(0);
    expect(down.stdout).to.equal('scaling from 3 to 1 workers\npulse now runs 1 worker(s)\n');
    await answeredAfter(load.answered, 'requests served by the one worker left');
    const report = await load.stop();

    const afterDown = await health(pulse);
    expect(afterDown.status).to.equal(200);
    expect(afterDown.body.workers).to.deep.equal({ expected: 1, ready: 1 });
    expect(afterDown.body.details).to.have.length(1);
    expect(report.answered).to.be.above(0);
    expect(non2xx(report.statuses)).to.deep.equal([]);
    expect(Object.fromEntries(report.errors)).to.deep.equal({});
    const scaledDown = pulse.logs.filter((l) => l.msg === 'worker exited' && l.reason === 'scale_down');
    expect(scaledDown).to.have.length(2);
    expect(scaledDown.every((l) => l.code === 0)).to.equal(true);
  });

  it('SIGTTIN adds a worker and SIGTTOU removes one', async () => {
    const pulse = await pulses.start({ workers: 2 });
    pulse.signal('SIGTTIN');
    await waitFor(async () => {
      const { status, body } = await health(pulse);
      return status === 200 && body.workers.expected === 3 && body.workers.ready === 3;
    }, '3 ready workers after SIGTTIN', 20_000);

    pulse.signal('SIGTTOU');
    await waitFor(async () => {
      const { status, body } = await health(pulse);
      return status === 200 && body.workers.expected === 2 && body.details.length === 2;
    }, '2 workers after SIGTTOU', 20_000);

    // Never below one worker.
    pulse.signal('SIGTTOU');
    await waitFor(async () => (await health(pulse)).body.details.length === 1, '1 worker after a second SIGTTOU', 20_000);
    pulse.signal('SIGTTOU');
    // Nothing to wait for: this signal must change nothing, so give it time to (not) act.
    await sleep(500);
    const { status, body } = await health(pulse);
    expect(status).to.equal(200);
    expect(body.workers).to.deep.equal({ expected: 1, ready: 1 });
  });

  it('signals sent while a scaling runs add up instead of being refused', async () => {
    const pulse = await pulses.start({ workers: 1 });
    const scalings = () => pulse.logs.filter((l) => l.msg === 'scaling workers');
    // Each signal once the previous one was handled: the kernel merges identical signals
    // still pending, and each handled one logs its step at once.
    const send = async (signals: NodeJS.Signals[]) => {
      for (const signal of signals) {
        const handled = scalings().length;
        pulse.signal(signal);
        await waitFor(() => scalings().length > handled, `${signal} to be handled`);
      }
    };
    const from = pulse.logs.length;
    await send(['SIGTTIN', 'SIGTTIN', 'SIGTTIN']);
    // The second and third arrived while the first added worker was still starting.
    const firstAddedReady = pulse.logs.slice(from).findIndex((l) => l.msg === 'worker ready');
    expect(firstAddedReady, 'no added worker ready before the third signal was handled').to.equal(-1);
    await waitFor(async () => {
      const { status, body } = await health(pulse);
      return status === 200 && body.workers.ready === 4 && body.details.length === 4;
    }, '4 ready workers after three SIGTTIN', 30_000);

    const downFrom = scalings().length;
    await send(['SIGTTOU', 'SIGTTOU', 'SIGTTIN', 'SIGTTOU']);
    expect(scalings().slice(downFrom).map((l) => `${l.from}->${l.to}`)).to.deep.equal(['4->3', '3->2', '2->3', '3->2']);
    await waitFor(async () => {
      const { status, body } = await health(pulse);
      return status === 200 && body.workers.expected === 2 && body.details.length === 2;
    }, '2 workers after -1 -1 +1 -1', 30_000);
    expect(scalings().map((l) => `${l.from}->${l.to}`).slice(0, 3)).to.deep.equal(['1->2', '2->3', '3->4']);
    expect(pulse.logs.some((l) => l.msg === 'scaling refused')).to.equal(false);
  });
});
