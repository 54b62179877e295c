import { expect } from 'chai';
import { DeadlineError, withDeadline } from '../../src/shared/deadline.js';

const settleAfter = <T>(ms: number, outcome: () => T) =>
  new Promise<T>((resolve, reject) =>
    setTimeout(() => {
      try {
        resolve(outcome());
      } catch (error) {
        reject(error);
      }
    }, ms),
  );

describe('withDeadline', () => {
  it('resolves with the operation when it settles in time', async () => {
    expect(await withDeadline(settleAfter(5, () => 'answer'), 1000, 'ping')).to.equal('answer');
  });

  it("rejects with the operation's own error when it fails in time", async () => {
    const failure = new Error('refused');
    const outcome = await withDeadline(
      settleAfter(5, () => {
        throw failure;
      }),
      1000,
      'ping',
    ).catch((error: unknown) => error);
    expect(outcome).to.equal(failure);
  });

  it('rejects with a DeadlineError naming the operation when it is late, and ignores the late answer', async () => {
    const outcome = await withDeadline(settleAfter(200, () => 'late'), 20, 'redis ping').catch((error: unknown) => error);
    expect(outcome).to.be.instanceOf(DeadlineError);
    expect((outcome as Error).message).to.equal('redis ping did not answer within 20 ms');
  });
});
