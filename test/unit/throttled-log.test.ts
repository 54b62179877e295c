import { expect } from 'chai';
import { pino } from 'pino';
import { ThrottledLog } from '../../src/shared/throttled-log.js';
import { waitFor } from '../support/wait.js';

const INTERVAL_MS = 100;

function capture() {
  const lines: Array<{ level: number; msg: string; [key: string]: unknown }> = [];
  const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line)) });
  return { lines, throttled: new ThrottledLog(log, 'warn', INTERVAL_MS) };
}

describe('ThrottledLog (unit)', () => {
  it('logs the first occurrence in full, then one summary per interval with the count and the last details', async () => {
    const { lines, throttled } = capture();
    for (let i = 1; i <= 1000; i += 1) throttled.record('refused', 'cannot connect', { attempt: i, stack: 'the stack' }, { attempt: i });
    expect(lines).to.have.length(1);
    expect(lines[0]).to.include({ level: 40, msg: 'cannot connect', attempt: 1, stack: 'the stack' });

    await waitFor(() => lines.length === 2, 'the summary');
    expect(lines[1]).to.include({ level: 40, msg: 'cannot connect (repeated)', repeated: 999, attempt: 1000 });
    expect(lines[1]).not.to.have.property('stack');
    expect(lines[1]!.overMs).to.be.at.least(INTERVAL_MS - 5);
  });

  it('keeps summarizing while the event goes on, and logs in full again after a quiet interval', async () => {
    const { lines, throttled } = capture();
    throttled.record('k', 'outage', { n: 1 });
    throttled.record('k', 'outage', { n: 2 });
    await waitFor(() => lines.length === 2, 'the first summary');
    throttled.record('k', 'outage', { n: 3 });
    await waitFor(() => lines.length === 3, 'the second summary');
    expect(lines.map((l) => [l.msg, l.repeated])).to.deep.equal([
      ['outage', undefined],
      ['outage (repeated)', 1],
      ['outage (repeated)', 1],
    ]);
    // An interval with no repeat ends the episode: nothing is written for it.
    await new Promise((resolve) => setTimeout(resolve, INTERVAL_MS * 3));
    expect(lines).to.have.length(3);
    throttled.record('k', 'outage', { n: 4 });
    expect(lines[3]).to.include({ msg: 'outage', n: 4 });
  });

  it('throttles each key on its own', () => {
    const { lines, throttled } = capture();
    for (let i = 0; i < 10; i += 1) {
      throttled.record('refused', 'request failed', { cause: 'refused' });
      throttled.record('reset', 'request failed', { cause: 'reset' });
    }
    expect(lines.map((l) => l.cause)).to.deep.equal(['refused', 'reset']);
  });
});
