import { expect } from 'chai';
import { isAlive, pulsePerTest } from '../support/pulse-process.js';
import { waitFor } from '../support/wait.js';

describe("README's start command (end to end)", function () {
  this.timeout(40_000);
  const pulses = pulsePerTest();

  it('`npm start`: SIGTERM to npm reaches the primary, which drains and exits; nothing is left running', async () => {
    // --ignore-scripts skips the prestart build (the suite has built already), not the start script.
    const pulse = await pulses.start({ workers: 2, command: ['npm', 'start', '--ignore-scripts', '--silent'] });
    const primaryPid = Number(pulse.logs.find((l) => l.msg === 'starting primary')?.pid);
    const workers = await pulse.workerPids();
    expect(primaryPid, 'npm runs the primary in place of a shell').to.not.equal(pulse.pid);

    pulse.signal('SIGTERM');
    const exit = await pulse.waitExit(15_000);
    expect(exit.code).to.equal(0);
    expect(pulse.logs.some((l) => l.msg === 'shutdown complete: every worker drained')).to.equal(true);
    await waitFor(() => ![primaryPid, ...workers].some(isAlive), 'the primary and its workers to be gone', 3000);
  });
});
