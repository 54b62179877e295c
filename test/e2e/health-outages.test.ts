import { expect } from 'chai';
import { faultsPerTest } from '../support/fault-fixtures.js';
import { healthUntil, readHealth, scrapeMetrics, sendMany } from '../support/observe.js';
import { sampleValue } from '../support/prometheus-text.js';
import { type PulseProcess, pulsePerTest } from '../support/pulse-process.js';

/** The bound for noticing an outage, and a recovery, without a restart. */
const WITHIN_MS = 3000;

type Dependency = 'database' | 'redis';

async function dependencyGauge(pulse: PulseProcess, dependency: Dependency): Promise<number | undefined> {
  return sampleValue((await scrapeMetrics(pulse)).samples, 'pulse_dependency_up', { dependency });
}

/**
 * Takes one dependency away and brings it back, checking what /health, the API and the
 * dependency gauge say at each step, and that no worker was restarted.
 */
async function outageAndRecovery(pulse: PulseProcess, down: Dependency, cut: () => Promise<void>, restore: () => Promise<void>) {
  const other: Dependency = down === 'database' ? 'redis' : 'database';
  const workers = (await readHealth(pulse)).body.details.map((d) => d.pid).sort();

  await cut();
  // Each worker notices at its next report; the combined answer turns at the first one.
  const outage = await healthUntil(pulse, (r) => r.body.details.every((d) => d[down] === 'disconnected'), `every worker to report ${down} "disconnected"`, WITHIN_MS);
  expect(outage.httpStatus).to.equal(503);
  expect(outage.body).to.include({ status: 'unhealthy', [down]: 'disconnected', [other]: 'connected' });
  for (const detail of outage.body.details) expect(detail).to.include({ status: 'ready', [other]: 'connected' });
  expect(await dependencyGauge(pulse, down)).to.equal(0);
  expect(await dependencyGauge(pulse, other)).to.equal(1);
  // What does not need the dependency still works (the rate limiter fails open), and the
  // API port's /health says why the service is unhealthy.
  expect(await sendMany(`${pulse.url}/ping`, 6)).to.deep.equal(new Map([[200, 6]]));
  const api = await readHealth(pulse, 'api');
  expect(api.httpStatus).to.equal(503);
  expect(api.body).to.deep.equal({ status: 'unhealthy', [down]: 'disconnected', [other]: 'connected' });

  await restore();
  const back = await healthUntil(pulse, (r) => r.httpStatus === 200, `/health 200 after ${down} came back`, WITHIN_MS);
  expect(back.body).to.include({ status: 'healthy', database: 'connected', redis: 'connected' });
  expect(back.body.details.map((d) => d.pid).sort(), 'no worker was restarted').to.deep.equal(workers);
  expect(await dependencyGauge(pulse, down)).to.equal(1);
}

describe('health through dependency outages (end to end)', function () {
  this.timeout(40_000);
  const pulses = pulsePerTest();
  const faults = faultsPerTest();

  it('Redis stopped: 503 redis "disconnected" within 3 s, the API keeps serving; Redis back: 200 within 3 s', async () => {
    const server = await faults.redis();
    const pulse = await pulses.start({ workers: 2, env: { REDIS_URL: server.url, RATE_LIMIT_MAX: '100000' } });
    await outageAndRecovery(pulse, 'redis', () => server.kill(), () => server.restart());
  });

  it('Postgres cut: 503 database "disconnected" within 3 s, the API keeps serving; restored: 200 within 3 s', async () => {
    const { proxy: cuttable, databaseUrl } = await faults.database('dbcut');
    const pulse = await pulses.start({ workers: 2, env: { DATABASE_URL: databaseUrl, RATE_LIMIT_MAX: '100000' } });
    await outageAndRecovery(pulse, 'database', async () => cuttable.cut(), () => cuttable.reopen());
  });
});
