import { expect } from 'chai';
import { RATE_LIMIT_MESSAGE } from '../../src/app/rate-limit.js';
import { requestOnNewConnection, type Answer } from '../support/new-connection.js';
import { parseExposition, sampleValue } from '../support/prometheus-text.js';
import { pulsePerTest } from '../support/pulse-process.js';

describe('rate limit shared by the workers of the real cluster', function () {
  this.timeout(60_000);
  const pulses = pulsePerTest();

  it('lets exactly RATE_LIMIT_MAX requests through in total, whichever worker answers', async () => {
    const pulse = await pulses.start({ workers: 2, env: { RATE_LIMIT_MAX: '5' } });
    const workerPids = await pulse.workerPids();
    expect(workerPids).to.have.length(2);

    const answers: Answer[] = [];
    for (let i = 0; i < 12; i += 1) answers.push(await requestOnNewConnection(pulse, '/ping', workerPids));

    // Both workers answered: if each counted on its own, more than 5 would have passed.
    expect(answers.every((a) => a.workerPid !== undefined), 'every connection owned by a worker').to.equal(true);
    expect(new Set(answers.map((a) => a.workerPid)).size).to.equal(2);
    const allowed = answers.filter((a) => a.status === 200);
    expect(answers.map((a) => a.status)).to.deep.equal([...Array(5).fill(200), ...Array(7).fill(429)]);
    expect(allowed.map((a) => a.headers['x-ratelimit-remaining'])).to.deep.equal(['4', '3', '2', '1', '0']);
    for (const answer of answers) expect(answer.headers['x-ratelimit-limit']).to.equal('5');
    for (const blocked of answers.filter((a) => a.status === 429)) {
      expect(JSON.parse(blocked.body)).to.deep.equal({ success: false, message: RATE_LIMIT_MESSAGE });
      expect(Number(blocked.headers['retry-after'])).to.be.within(1, 61);
    }

    // /health on the API port is never limited, on either worker.
    for (let i = 0; i < 4; i += 1) {
      const health = await requestOnNewConnection(pulse, '/health', workerPids);
      expect(health.status).to.equal(200);
      expect(health.headers['x-ratelimit-limit']).to.equal(undefined);
    }

    const samples = parseExposition(await (await fetch(`${pulse.adminUrl}/metrics`)).text());
    expect(sampleValue(samples, 'pulse_rate_limit_decisions_total', { decision: 'allowed' })).to.equal(5);
    expect(sampleValue(samples, 'pulse_rate_limit_decisions_total', { decision: 'blocked' })).to.equal(7);
    expect(sampleValue(samples, 'pulse_rate_limit_decisions_total', { decision: 'failed_open' })).to.equal(0);
  });
});
