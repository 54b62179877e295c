import net from 'node:net';
import { expect } from 'chai';
import { isAlive, type PulseProcess, pulsePerTest } from '../support/pulse-process.js';
import { SlowRequest, tryConnect } from '../support/raw-http.js';
import { sleep, waitFor } from '../support/wait.js';

const registerBody = (tag: string) => JSON.stringify({ email: `${tag}-${Date.now()}@example.com`, password: 'secret-password' });

async function inflightOnWorkers(pulse: PulseProcess): Promise<number> {
  const res = await fetch(`${pulse.adminUrl}/health`);
  const body = (await res.json()) as { details: { inflight: number | null }[] };
  return body.details.reduce((sum, d) => sum + (d.inflight ?? 0), 0);
}

describe('coordinated graceful shutdown (end to end)', function () {
  this.timeout(40_000);
  const pulses = pulsePerTest();

  it('completes a request in flight at SIGTERM, refuses new connections, exits 0 within the budget', async () => {
    const shutdownTimeoutMs = 3000;
    const pulse = await pulses.start({ workers: 2, env: { SHUTDOWN_TIMEOUT_MS: String(shutdownTimeoutMs), RATE_LIMIT_MAX: '100000' } });
    const body = registerBody('inflight');
    const slow = new SlowRequest(pulse.port, 'POST', '/register', body);
    await slow.connected();
    slow.sendPart(10);
    await waitFor(async () => (await inflightOnWorkers(pulse)) >= 1, 'the slow request to be in flight');

    const signalledAt = Date.now();
    pulse.signal('SIGTERM');
    await pulse.waitForLog((l) => l.msg === 'shutdown started');
    await waitFor(() => pulse.logs.filter((l) => l.msg === 'drain started').length === 2, 'both workers to start draining');
    await waitFor(async () => (await tryConnect(pulse.port)) === 'ECONNREFUSED', 'new connections to be refused', 1000, 20);

    await sleep(300);
    slow.sendRest(10);
    const response = await slow.response();
    expect(response).to.not.have.property('cut');
    const { status, headers, body: text } = response as { status: number; headers: Record<string, string>; body: string };
    expect(status).to.equal(201);
    expect(headers.connection).to.equal('close');
    expect(JSON.parse(text)).to.include({ success: true, message: 'User registered successfully' });

    const exit = await pulse.waitExit(shutdownTimeoutMs + 1000);
    expect(exit.code).to.equal(0);
    expect(Date.now() - signalledAt).to.be.below(shutdownTimeoutMs + 1000);
    expect(pulse.logs.filter((l) => l.msg === 'pools closed')).to.have.length(2);
    expect(pulse.logs.some((l) => l.msg === 'shutdown complete: every worker drained')).to.equal(true);
  });

  it('SHUTDOWN_DELAY_MS: readiness turns 503 at once while new connections are still accepted and served, then the drain', async () => {
    const delayMs = 2500;
    const pulse = await pulses.start({ workers: 2, env: { SHUTDOWN_DELAY_MS: String(delayMs), RATE_LIMIT_MAX: '100000' } });
    const signalledAt = Date.now();
    pulse.signal('SIGTERM');
    await waitFor(async () => (await fetch(`${pulse.adminUrl}/health/ready`)).status === 503, 'readiness 503', 1000, 20);
    // Fresh connections, as a load balancer that has not noticed yet would open them.
    let served = 0;
    while (Date.now() - signalledAt < delayMs - 700) {
      const res = await fetch(`${pulse.url}/ping`, { headers: { Connection: 'close' } });
      expect(res.status).to.equal(200);
      served += 1;
      await sleep(50);
    }
    expect(served).to.be.above(10);
    expect(pulse.logs.some((l) => l.msg === 'drain started'), 'no drain during the delay').to.equal(false);
    await waitFor(async () => (await tryConnect(pulse.port)) === 'ECONNREFUSED', 'new connections refused after the delay', delayMs + 2000, 20);
    expect(Date.now() - signalledAt).to.be.at.least(delayMs - 100);
    const exit = await pulse.waitExit(10_000);
    expect(exit.code).to.equal(0);
  });

  it('cuts a request still in flight at SHUTDOWN_TIMEOUT_MS, still closes pools, and does not hang', async () => {
    const shutdownTimeoutMs = 1000;
    const pulse = await pulses.start({ workers: 1, env: { SHUTDOWN_TIMEOUT_MS: String(shutdownTimeoutMs), RATE_LIMIT_MAX: '100000' } });
    const slow = new SlowRequest(pulse.port, 'POST', '/register', registerBody('stuck'));
    await slow.connected();
    slow.sendPart(5);
    await waitFor(async () => (await inflightOnWorkers(pulse)) >= 1, 'the stuck request to be in flight');

    const signalledAt = Date.now();
    pulse.signal('SIGTERM');
    const outcome = await slow.done;
    expect(outcome).to.deep.equal({ cut: true });
    const cutAfter = Date.now() - signalledAt;
    expect(cutAfter).to.be.at.least(shutdownTimeoutMs - 50);

    const exit = await pulse.waitExit(shutdownTimeoutMs + 4000);
    expect(exit.code).to.equal(1, 'a shutdown that cut a request is not clean');
    const cutLog = pulse.logs.find((l) => l.msg === 'drain deadline reached, connections cut');
    expect(cutLog).to.include({ cut: 1 });
    expect(pulse.logs.find((l) => l.msg === 'pools closed')).to.include({ database: 'closed', redis: 'closed' });
    const problem = pulse.logs.find((l) => l.msg === 'shutdown was not clean');
    expect(String(problem?.problem)).to.match(/worker 1 \(pid \d+\) cut 1 request/);
  });

  it('SIGINT to the whole process group (Ctrl+C) drains as gracefully as SIGTERM', async () => {
    const pulse = await pulses.start({ workers: 2, env: { SHUTDOWN_TIMEOUT_MS: '3000', RATE_LIMIT_MAX: '100000' } });
    const slow = new SlowRequest(pulse.port, 'POST', '/register', registerBody('ctrl-c'));
    await slow.connected();
    slow.sendPart(10);
    await waitFor(async () => (await inflightOnWorkers(pulse)) >= 1, 'the slow request to be in flight');

    process.kill(-pulse.pid, 'SIGINT');
    await waitFor(() => pulse.logs.filter((l) => l.msg === 'drain started').length === 2, 'both workers to drain');
    slow.sendRest(10);
    const response = (await slow.response()) as { status: number };
    expect(response.status).to.equal(201);
    const exit = await pulse.waitExit(4000);
    expect(exit.code).to.equal(0);
    expect(pulse.logs.some((l) => l.msg === 'second signal during shutdown: killing workers and exiting now')).to.equal(false);
    expect(pulse.logs.some((l) => l.msg === 'shutdown complete: every worker drained')).to.equal(true);
  });

  it('a second SIGTERM during the drain forces an immediate exit', async () => {
    const pulse = await pulses.start({ workers: 1, env: { SHUTDOWN_TIMEOUT_MS: '20000', RATE_LIMIT_MAX: '100000' } });
    const slow = new SlowRequest(pulse.port, 'POST', '/register', registerBody('forced'));
    await slow.connected();
    slow.sendPart(5);
    await waitFor(async () => (await inflightOnWorkers(pulse)) >= 1, 'the request to be in flight');
    const [workerPid] = await pulse.workerPids();
    pulse.signal('SIGTERM');
    await pulse.waitForLog((l) => l.msg === 'drain started');
    pulse.signal('SIGTERM');
    const exit = await pulse.waitExit(2000);
    // The documented code of a forced stop (README, "Signals").
    expect(exit.code).to.equal(130);
    expect(pulse.logs.some((l) => l.msg === 'second signal during shutdown: killing workers and exiting now')).to.equal(true);
    await waitFor(() => !isAlive(workerPid!), 'the worker to be killed', 2000);
    expect(await slow.response(), 'the request in flight was cut, not answered').to.deep.equal({ cut: true });
  });
});

describe('the primary dies', function () {
  this.timeout(30_000);
  const pulses = pulsePerTest();

  it('kill -9 of the primary leaves no worker behind after SHUTDOWN_TIMEOUT_MS + 1 s', async () => {
    const shutdownTimeoutMs = 2000;
    const pulse = await pulses.start({ workers: 2, env: { SHUTDOWN_TIMEOUT_MS: String(shutdownTimeoutMs) } });
    const pids = await pulse.workerPids();
    expect(pids).to.have.length(2);
    process.kill(pulse.pid, 'SIGKILL');
    await waitFor(() => pids.every((pid) => !isAlive(pid)), 'every worker to exit', shutdownTimeoutMs + 1000);
    expect(pulse.logs.filter((l) => l.msg === 'drain started' && l.reason === 'primary gone')).to.have.length(2);
  });
});

describe('signals while the primary is still starting', function () {
  this.timeout(20_000);
  const pulses = pulsePerTest();
  let blackHole: net.Server | undefined;
  after(() => blackHole?.close());

  it('ignores SIGHUP/SIGTTIN instead of dying, and exits 0 on SIGTERM with nothing to drain', async () => {
    // A "database" that accepts connections and never answers keeps the primary in its migration step.
    let migrationConnections = 0;
    blackHole = net.createServer(() => (migrationConnections += 1));
    await new Promise<void>((resolve) => blackHole!.listen(0, '127.0.0.1', resolve));
    const port = (blackHole.address() as net.AddressInfo).port;
    const pulse = await pulses.start({ workers: 1, waitHealthy: false, env: { DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/pulse` } });
    await waitFor(() => migrationConnections > 0, 'the primary to be in its migration step');
    pulse.signal('SIGHUP');
    pulse.signal('SIGTTIN');
    await pulse.waitForLog((l) => l.msg === 'signal ignored: the primary is still starting' && l.signal === 'SIGTTIN');
    expect(pulse.exited).to.equal(undefined);
    pulse.signal('SIGTERM');
    const exit = await pulse.waitExit(3000);
    expect(exit.code).to.equal(0);
    expect(pulse.logs.some((l) => l.msg === 'stopped before any worker was started')).to.equal(true);
  });
});
