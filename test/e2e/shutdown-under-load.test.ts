import { expect } from 'chai';
import { AutocannonLoad } from '../support/autocannon-load.js';
import { forEachDatabase } from '../support/database-backends.js';
import { KeepAliveLoad } from '../support/keepalive-load.js';
import { pulsePerTest } from '../support/pulse-process.js';
import { waitFor } from '../support/wait.js';

const AUTOCANNON_CONNECTIONS = 32;
const COMPLIANT_LOOPS = 16;

forEachDatabase('SIGTERM under continuous keep-alive load (end to end)', function (database) {
  this.timeout(40_000);
  const pulses = pulsePerTest();

  it('answers only normal API responses and every answered request is one the workers counted', async () => {
    const pulse = await pulses.start({ workers: 2, database, env: { SHUTDOWN_TIMEOUT_MS: '4000', RATE_LIMIT_MAX: '10000000' } });
    const autocannon = new AutocannonLoad(`${pulse.url}/ping`, AUTOCANNON_CONNECTIONS);
    const compliant = new KeepAliveLoad(pulse.port, '/ping', COMPLIANT_LOOPS);

    // Every connection busy (about one answer each so far) when the signal comes.
    await waitFor(
      () => autocannon.report.answered >= AUTOCANNON_CONNECTIONS && compliant.answered >= COMPLIANT_LOOPS,
      'both clients to be served on all their connections',
    );
    pulse.signal('SIGTERM');
    const exit = await pulse.waitExit(6000);
    const viaAutocannon = await autocannon.stop();
    const viaCompliant = await compliant.stop();

    expect(exit.code).to.equal(0);
    expect(viaAutocannon.answered).to.be.above(0);
    expect(viaCompliant.answered).to.be.above(0);
    expect([...viaAutocannon.statuses.keys()]).to.deep.equal([200]);
    expect([...viaCompliant.statuses.keys()]).to.deep.equal([200]);

    const drains = pulse.logs.filter((l) => l.msg === 'drain finished');
    const served = drains.reduce((sum, l) => sum + Number(l.requestsServed), 0);
    expect(served, 'responses the workers completed vs responses the clients received').to.equal(
      viaAutocannon.answered + viaCompliant.answered,
    );
    expect(drains.map((l) => l.cut)).to.deep.equal([0, 0]);

    // Once the drain starts, new connections fail at the TCP level: refused once the listener
    // is gone, reset if the kernel had already queued them (one per client loop at most).
    // Neither carries an answered request: every response the workers finished was received (above).
    for (const code of viaCompliant.errors.keys()) expect(code).to.be.oneOf(['ECONNREFUSED', 'ECONNRESET']);
    expect(viaCompliant.errors.get('ECONNRESET') ?? 0).to.be.at.most(COMPLIANT_LOOPS);
    expect(viaCompliant.reusedSocketErrors, 'requests lost on a kept-alive socket the server closed').to.equal(0);
    // autocannon ignores Connection: close and writes its next request on a socket the
    // server is closing: at most one more reset per connection.
    for (const code of viaAutocannon.errors.keys()) expect(code).to.be.oneOf(['ECONNREFUSED', 'ECONNRESET']);
    expect(viaAutocannon.errors.get('ECONNRESET') ?? 0).to.be.at.most(2 * AUTOCANNON_CONNECTIONS);
  });
});
