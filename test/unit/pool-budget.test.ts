import { expect } from 'chai';
import { hostConnections, workerRequestPoolSize } from '../../src/db/pool-budget.js';

describe('the host database connection budget (unit)', () => {
  it('shares DATABASE_POOL_MAX among the workers plus one for a rollout, health connection included', () => {
    expect(workerRequestPoolSize(40, 4)).to.equal(7); // 8 per worker, one of them for health pings
    expect(hostConnections(40, 4)).to.equal(40);
    expect(hostConnections(40, 8)).to.be.at.most(40);
    expect(hostConnections(100, 3)).to.be.at.most(100);
  });

  it('never leaves a worker without a request connection (a budget too small is exceeded, not starved)', () => {
    expect(workerRequestPoolSize(2, 16)).to.equal(1);
    expect(hostConnections(2, 16)).to.equal(34);
  });
});
