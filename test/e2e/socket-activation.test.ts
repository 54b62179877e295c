import { expect } from 'chai';
import { printUncaptured } from '../support/captured-output.js';
import { KeepAliveLoad } from '../support/keepalive-load.js';
import { pulsePerTest } from '../support/pulse-process.js';
import { RecordedHttpLoad } from '../support/recorded-http-load.js';
import { canSocketActivate, SOCKET_ACTIVATE, startSocketActivated } from '../support/socket-activated.js';
import { waitFor } from '../support/wait.js';

describe('systemd socket activation (end to end, with systemd-socket-activate)', function () {
  this.timeout(60_000);
  const pulses = pulsePerTest();
  before(function () {
    if (!canSocketActivate()) {
      printUncaptured(`    (skipped: ${SOCKET_ACTIVATE} is missing: apt-get install systemd)`);
      this.skip();
    }
  });

  it('serves on the socket systemd passed, and a restart of the primary under load refuses and fails nothing', async () => {
    const pulse = await startSocketActivated(pulses.start, { workers: 2, env: { RATE_LIMIT_MAX: '1000000000' } });
    expect(pulse.logs.find((l) => l.msg.startsWith('serving on the socket passed by systemd'))).to.include({ fd: 3 });
    expect(pulse.logs.filter((l) => l.msg === 'ready' && l.role === 'worker').map((l) => l.listen)).to.deep.equal([
      'the socket passed by systemd (fd 3)',
      'the socket passed by systemd (fd 3)',
    ]);
    const keepAlive = new KeepAliveLoad(pulse.port, '/ping', 16);
    const fresh = new RecordedHttpLoad({ port: pulse.port, path: '/ping', concurrency: 4, headers: { Connection: 'close' }, timeoutMs: 20_000 });
    const bothServedAfter = async (what: string) => {
      const [keepAliveBefore, freshBefore] = [keepAlive.answered, fresh.answered];
      await waitFor(() => keepAlive.answered > keepAliveBefore && fresh.answered > freshBefore, what, 15_000);
    };
    await bothServedAfter('the load to be served');

    const from = pulse.logs.length;
    pulse.signal('SIGUSR2');
    await pulse.waitForLog((l) => l.msg === 'shutdown complete: every worker drained', 15_000, from);
    await pulse.waitForLog((l) => l.msg === 'all workers ready', 30_000, from);
    await bothServedAfter('the restarted primary to serve the load');
    const [report] = await Promise.all([keepAlive.stop(), fresh.stop()]);

    const primaries = new Set(pulse.logs.filter((l) => l.msg === 'starting primary').map((l) => l.pid));
    expect(primaries.size, 'the primary was restarted').to.equal(2);
    expect(Object.fromEntries(report.errors), 'keep-alive clients').to.deep.equal({});
    expect([...report.statuses.keys()]).to.deep.equal([200]);
    expect(Object.fromEntries(fresh.window().errors), 'a new connection per request: none refused').to.deep.equal({});
    expect(Object.fromEntries(fresh.window().non2xx)).to.deep.equal({});
    const during = fresh.records.filter((r) => r.end - r.start > 500).length;
    expect(during, 'requests that waited in the backlog while no primary ran').to.be.above(0);
  });
});
