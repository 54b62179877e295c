import net from 'node:net';
import { expect } from 'chai';
import { runCtl } from '../support/ctl.js';
import { CountSampler, databaseNameOf, postgresConnectionCounter } from '../support/connection-sampler.js';
import { DatabaseLoad } from '../support/database-load.js';
import { signUpThrough } from '../support/journal-client.js';
import { pulsePerTest, type PulseProcess } from '../support/pulse-process.js';
import { waitFor } from '../support/wait.js';

const WORKERS = 4;
const HOST_BUDGET = 20;
const NO_RATE_LIMIT = { RATE_LIMIT_MAX: '1000000000' };

/** Uploads that never finish, spread over the workers by the cluster: each keeps its worker draining until the deadline. */
function slowUploads(pulse: PulseProcess, token: string, count: number): net.Socket[] {
  return Array.from({ length: count }, () => {
    const socket = net.connect(pulse.port, '127.0.0.1');
    socket.on('error', () => undefined);
    socket.write(`POST /entries HTTP/1.1\r\nHost: pulse\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{`);
    return socket;
  });
}

describe('the host database connection budget (end to end, Postgres direct)', function () {
  this.timeout(120_000);
  const pulses = pulsePerTest();

  it(`DATABASE_POOL_MAX=${HOST_BUDGET} with ${WORKERS} workers: Postgres never holds more than ${HOST_BUDGET} connections from the host, under load and during a rolling restart`, async () => {
    const pulse = await pulses.start({ workers: WORKERS, env: { DATABASE_POOL_MAX: String(HOST_BUDGET), ...NO_RATE_LIMIT } });
    const { token } = await signUpThrough(pulse);
    const counter = await postgresConnectionCounter(databaseNameOf(pulse.env.DATABASE_URL!));
    const sampler = new CountSampler(counter.count);
    try {
      // More concurrent database requests than the host has connections: every pool fills.
      const load = new DatabaseLoad({ port: pulse.port, token, readers: 24, writers: 8 });
      await waitFor(() => load.answered > 300, 'load to be served', 30_000);
      const reload = await runCtl(['reload'], pulse.env);
      const answeredAtReload = load.answered;
      await waitFor(() => load.answered > answeredAtReload + 300, 'load after the rolling restart', 30_000);
      const report = await load.stop();
      const connections = await sampler.stop();

      expect(reload.code, reload.stdout + reload.stderr).to.equal(0);
      expect(report.failures, 'failed requests').to.deep.equal({});
      expect(connections.failedSamples).to.equal(0);
      expect(connections.samples).to.be.above(20);
      expect(connections.max, 'most connections Postgres held for the host at once').to.be.at.most(HOST_BUDGET);
      // The pools were full: four workers' worth of the budget (4 connections each) in use.
      expect(connections.max).to.be.at.least(WORKERS * (HOST_BUDGET / (WORKERS + 1)));
    } finally {
      await sampler.stop();
      await counter.close();
    }
  });

  // A draining worker keeps its pools until it exits: were the next replacement started while
  // it drains, drains longer than a boot would stack up (measured before: 28 for a budget of 20).
  it(`retired workers draining slow clients for longer than a boot: still at most ${HOST_BUDGET} connections`, async function () {
    this.timeout(180_000);
    const pulse = await pulses.start({ workers: WORKERS, env: { DATABASE_POOL_MAX: String(HOST_BUDGET), SHUTDOWN_TIMEOUT_MS: '3000', ...NO_RATE_LIMIT } });
    const { token } = await signUpThrough(pulse);
    const counter = await postgresConnectionCounter(databaseNameOf(pulse.env.DATABASE_URL!));
    const sampler = new CountSampler(counter.count);
    const sockets: net.Socket[] = [];
    try {
      const load = new DatabaseLoad({ port: pulse.port, token, readers: 24, writers: 8 });
      await waitFor(() => load.answered > 300, 'load to be served', 30_000);
      sockets.push(...slowUploads(pulse, token, 3 * WORKERS));
      const reload = await runCtl(['reload'], pulse.env);
      const report = await load.stop();
      const connections = await sampler.stop();

      expect(reload.code, reload.stdout + reload.stderr).to.equal(0);
      expect(report.failures, 'failed requests').to.deep.equal({});
      expect(connections.max, 'most connections Postgres held for the host at once').to.be.at.most(HOST_BUDGET);
    } finally {
      for (const socket of sockets) socket.destroy();
      await sampler.stop();
      await counter.close();
    }
  });
});
