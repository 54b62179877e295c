import { expect } from 'chai';
import { RespawnBackoff } from '../../src/primary/backoff.js';

describe('RespawnBackoff', () => {
  it('doubles from 100 ms and caps at 30 s', () => {
    const backoff = new RespawnBackoff();
    const delays = Array.from({ length: 12 }, () => backoff.next(10));
    expect(delays).to.deep.equal([100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000, 30000]);
  });

  it('starts over once a worker was up long enough to count as stable', () => {
    const backoff = new RespawnBackoff(100, 30_000, 30_000);
    backoff.next(10);
    backoff.next(10);
    expect(backoff.next(10)).to.equal(400);
    expect(backoff.next(31_000)).to.equal(100);
    expect(backoff.next(10)).to.equal(200);
  });
});
