import autocannon from 'autocannon';
import { expect } from 'chai';
import { KeepAliveLoad } from '../support/keepalive-load.js';
import { startPulse, type PulseProcess } from '../support/pulse-process.js';
import { sleep } from '../support/wait.js';

const AUTOCANNON_CONNECTIONS = 32;

describe('SIGTERM under continuous keep-alive load (end to end)', function () {
  this.timeout(40_000);
  let pulse: PulseProcess | undefined;
  after(async () => pulse?.stop());

  it('answers only normal API responses and every answered request is one the workers counted', async () => {
    pulse = await startPulse({ workers: 2, env: { SHUTDOWN_TIMEOUT_MS: '4000', RATE_LIMIT_MAX: '10000000' } });
    const autocannonStatuses = new Map<number, number>();
    const autocannonErrors = new Map<string, number>();
    const instance = autocannon({ url: `${pulse.url}/ping`, connections: AUTOCANNON_CONNECTIONS, duration: 6, timeout: 5 });
    instance.on('response', (_client: unknown, statusCode: number) => {
      autocannonStatuses.set(statusCode, (autocannonStatuses.get(statusCode) ?? 0) + 1);
    });
    instance.on('reqError', (error: NodeJS.ErrnoException) => {
      const code = error.code ?? error.message;
      autocannonErrors.set(code, (autocannonErrors.get(code) ?? 0) + 1);
    });
    const finished = new Promise<void>((resolve) => instance.once('done', () => resolve()));
    const compliant = new KeepAliveLoad(pulse.port, '/ping', 16);

    await sleep(1500);
    pulse.signal('SIGTERM');
    const exit = await pulse.waitExit(6000);
    instance.stop();
    await finished;
    const report = await compliant.stop();

    expect(exit.code).to.equal(0);
    const autocannonAnswered = [...autocannonStatuses.values()].reduce((a, b) => a + b, 0);
    expect(autocannonAnswered).to.be.above(100);
    expect(report.answered).to.be.above(50);
    expect([...autocannonStatuses.keys()]).to.deep.equal([200]);
    expect([...report.statuses.keys()]).to.deep.equal([200]);

    const served = pulse.logs
      .filter((l) => l.msg === 'drain finished')
      .reduce((sum, l) => sum + Number(l.requestsServed), 0);
    expect(served, 'responses the workers completed vs responses the clients received').to.equal(autocannonAnswered + report.answered);

    // A client that honours Connection: close sees nothing but refused connects once the listener is gone.
    expect(pulse.logs.filter((l) => l.msg === 'drain finished').map((l) => l.cut)).to.deep.equal([0, 0]);

    // Once the drain starts, new connections fail at the TCP level: refused once the listener
    // is gone, reset if the kernel had already queued them (one per client loop at most).
    // Neither carries an answered request: every response the workers finished was received (above).
    for (const code of report.errors.keys()) expect(code).to.be.oneOf(['ECONNREFUSED', 'ECONNRESET']);
    expect(report.errors.get('ECONNRESET') ?? 0).to.be.at.most(16);
    expect(report.reusedSocketErrors, 'requests lost on a kept-alive socket the server closed').to.equal(0);
    // autocannon also ignores Connection: close and writes its next request on a socket the
    // server is closing: at most one more reset per connection.
    for (const code of autocannonErrors.keys()) expect(code).to.be.oneOf(['ECONNREFUSED', 'ECONNRESET']);
    expect(autocannonErrors.get('ECONNRESET') ?? 0).to.be.at.most(2 * AUTOCANNON_CONNECTIONS);
  });
});
