import { expect } from 'chai';
import { AutocannonLoad, non2xx } from '../support/autocannon-load.js';
import { CapacityWatch } from '../support/capacity-watch.js';
import { CtlRun, runCtl, type CtlResult } from '../support/ctl.js';
import { DATABASE_BACKENDS } from '../support/database-backends.js';
import { TEST_REDIS_URL } from '../support/databases.js';
import { KeepAliveLoad } from '../support/keepalive-load.js';
import { RecordedHttpLoad } from '../support/recorded-http-load.js';
import { parseExposition, sampleValue } from '../support/prometheus-text.js';
import { type PulseProcess, pulsePerTest } from '../support/pulse-process.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { waitFor } from '../support/wait.js';

const WORKERS = 3;
const NO_RATE_LIMIT = { RATE_LIMIT_MAX: '1000000000' };

async function metric(pulse: PulseProcess, name: string, labels: Record<string, string>): Promise<number | undefined> {
  const res = await fetch(`${pulse.adminUrl}/metrics`);
  return sampleValue(parseExposition(await res.text()), name, labels);
}

/** Two clients at once: autocannon (32 keep-alive connections) and Node's own keep-alive Agent. */
function startLoad(pulse: PulseProcess) {
  const autocannon = new AutocannonLoad(`${pulse.url}/ping`, 32);
  const agent = new KeepAliveLoad(pulse.port, '/ping', 8);
  return {
    /** Resolves once both clients got answers after this call. */
    async moreAnswers(what: string) {
      const [fromAutocannon, fromAgent] = [autocannon.report.answered, agent.answered];
      await waitFor(() => autocannon.report.answered > fromAutocannon && agent.answered > fromAgent, what, 15_000);
    },
    async stop() {
      const [fromAutocannon, fromAgent] = await Promise.all([autocannon.stop(), agent.stop()]);
      return { fromAutocannon, fromAgent };
    },
  };
}

/**
 * Runs `rollout` under continuous keep-alive load while watching /health, then checks
 * the guarantees: no failed request, capacity never below N, every worker replaced.
 */
async function expectZeroDowntimeRollout(pulse: PulseProcess, rollout: () => Promise<void>): Promise<void> {
  const before = await pulse.workerPids();
  const load = startLoad(pulse);
  await load.moreAnswers('the load to be served');
  const watch = new CapacityWatch(pulse.adminUrl);

  await rollout();

  const capacity = await watch.stop();
  await load.moreAnswers('the new workers to serve the load');
  const { fromAutocannon, fromAgent } = await load.stop();
  expect(non2xx(fromAutocannon.statuses), 'autocannon non-2xx').to.deep.equal([]);
  expect(Object.fromEntries(fromAutocannon.errors), 'autocannon socket errors').to.deep.equal({});
  expect(non2xx(fromAgent.statuses), 'agent non-2xx').to.deep.equal([]);
  expect(Object.fromEntries(fromAgent.errors), 'agent socket errors').to.deep.equal({});
  expect(capacity.samples).to.be.above(10);
  expect(capacity.failedPolls).to.equal(0);
  expect(capacity.dips, 'health samples with fewer ready workers than expected').to.deep.equal([]);
  const after = await pulse.workerPids();
  expect(after).to.have.length(before.length);
  expect(after.filter((pid) => before.includes(pid)), 'old pids still serving').to.deep.equal([]);
}

describe('rolling restart (end to end)', function () {
  this.timeout(90_000);
  const pulses = pulsePerTest();
  const proxies: TcpProxy[] = [];
  afterEach(async () => {
    for (const proxy of proxies.splice(0)) await proxy.cut();
  });

  for (const database of DATABASE_BACKENDS) {
    it(`\`ctl reload\` under keep-alive load: no failed request, every pid changes, capacity never below N, exit 0 with progress [${database.name}]`, async () => {
      const pulse = await pulses.start({ workers: WORKERS, env: NO_RATE_LIMIT, database });
      let reload: CtlResult | undefined;
      await expectZeroDowntimeRollout(pulse, async () => {
        reload = await runCtl(['reload'], pulse.env);
      });
      expect(reload!.code, reload!.stderr).to.equal(0);
      expect(reload!.stdout).to.match(/replacing worker \d+ \(1\/3\): starting worker \d+/);
      expect(reload!.stdout).to.match(/rolling restart finished: 3\/3 workers replaced in [\d.]+ s/);
      expect(await metric(pulse, 'pulse_rolling_restarts_total', { result: 'succeeded' })).to.equal(1);
      expect(await metric(pulse, 'pulse_worker_restarts_total', { reason: 'rolling' })).to.equal(WORKERS);
    });
  }

  it('SIGHUP under keep-alive load: the same guarantees', async () => {
    const pulse = await pulses.start({ workers: WORKERS, env: NO_RATE_LIMIT });
    await expectZeroDowntimeRollout(pulse, async () => {
      const from = pulse.logs.length;
      pulse.signal('SIGHUP');
      const finished = await pulse.waitForLog((l) => /^rolling restart (finished|failed)/.test(l.msg), 60_000, from);
      expect(finished.msg).to.equal('rolling restart finished');
    });
  });

  it('refuses a second reload (ctl or SIGHUP) while one is running, clearly and with a non-zero exit', async () => {
    const pulse = await pulses.start({ workers: WORKERS, env: NO_RATE_LIMIT });
    const first = new CtlRun(['reload'], pulse.env);
    // Two more workers still have to start after this line: the rollout is well under way.
    await first.waitForOutput('(1/3)');

    const second = await runCtl(['reload'], pulse.env);
    const from = pulse.logs.length;
    pulse.signal('SIGHUP');
    const scale = await runCtl(['scale', '4'], pulse.env);

    expect(second.code).to.equal(75);
    expect(second.stderr).to.include('a rolling restart is already in progress; wait for it to finish');
    expect(second.stdout).to.equal('');
    expect(scale.code).to.equal(75);
    expect(scale.stdout, 'refused before printing anything').to.equal('');
    expect(scale.stderr).to.include('a rolling restart is already in progress');
    const refused = await pulse.waitForLog((l) => l.msg === 'rolling restart refused', 5000, from);
    expect(JSON.stringify(refused)).to.include('already in progress');

    const firstResult = await first.done;
    expect(firstResult.code, firstResult.stderr).to.equal(0);
    expect(pulse.logs.filter((l) => l.msg === 'rolling restart started')).to.have.length(1);
    expect(await metric(pulse, 'pulse_rolling_restarts_total', {})).to.equal(1);
  });

  it('SIGTERM during a rollout, while the replacement is still loading: it is stopped before it listens, the rollout stops, every old worker drains, exit 0', async () => {
    // New Redis connections are refused: the replacement boots without Redis, which the
    // serving workers reach, so it is not admitted and stays loading until the signal.
    const redis = new URL(TEST_REDIS_URL);
    const proxy = new TcpProxy(redis.hostname, Number(redis.port || 6379));
    proxies.push(proxy);
    await proxy.start();
    const pulse = await pulses.start({ workers: WORKERS, env: { ...NO_RATE_LIMIT, REDIS_URL: `redis://127.0.0.1:${proxy.port}` } });
    const oldPids = await pulse.workerPids();
    await proxy.refuseNew();
    const from = pulse.logs.length;
    const reload = new CtlRun(['reload'], pulse.env);
    const replacement = await pulse.waitForLog((l) => l.msg === 'worker forked' && l.replacement === true, 15_000, from);
    const linesOf = (worker: unknown) => pulse.logs.filter((l) => l.role === 'worker' && l.worker === worker).map((l) => l.msg);
    await pulse.waitForLog((l) => l.role === 'worker' && l.worker === replacement.worker && l.msg === 'booted; waiting for the primary to admit it', 15_000, from);
    expect(linesOf(replacement.worker), 'the replacement is still loading').to.not.include('ready');
    pulse.signal('SIGTERM');

    const exit = await pulse.waitExit(15_000);
    const result = await reload.done;
    expect(exit.code, pulse.tail()).to.equal(0);
    expect(linesOf(replacement.worker)).to.include('stopped before serving').and.not.include('ready');
    for (const pid of oldPids) {
      const exited = pulse.logs.find((l) => l.msg === 'worker exited' && l.workerPid === pid);
      expect(exited?.code, `old worker ${pid} drained and exited 0`).to.equal(0);
    }
    expect(pulse.logs.filter((l) => l.msg === 'drain finished')).to.have.length(WORKERS);
    expect(pulse.logs.some((l) => l.msg === 'shutdown complete: every worker drained')).to.equal(true);
    expect(result.code).to.equal(1);
    expect(result.stderr).to.match(/the rolling restart was stopped by a shutdown|closed the control connection/);
  });

  it('stops at a replacement that cannot reach a dependency the old workers reach: exit non-zero, old workers keep serving, failure counted', async () => {
    // New Redis connections are refused while established ones keep working: the old
    // workers stay healthy, a new worker boots without Redis and is never admitted.
    const redis = new URL(TEST_REDIS_URL);
    const proxy = new TcpProxy(redis.hostname, Number(redis.port || 6379));
    proxies.push(proxy);
    await proxy.start();
    const pulse = await pulses.start({
      workers: 2,
      env: { ...NO_RATE_LIMIT, REDIS_URL: `redis://127.0.0.1:${proxy.port}`, WORKER_READY_TIMEOUT_MS: '8000' },
    });
    const before = await pulse.workerPids();
    await proxy.refuseNew();
    const agent = new KeepAliveLoad(pulse.port, '/ping', 8);
    // A new connection per request: any worker in the rotation would get some of them.
    const fresh = new RecordedHttpLoad({ port: pulse.port, path: '/ping', concurrency: 4, headers: { Connection: 'close' } });
    const watch = new CapacityWatch(pulse.adminUrl);
    const from = pulse.logs.length;

    const reload = await runCtl(['reload'], pulse.env);

    const capacity = await watch.stop();
    const [served] = await Promise.all([agent.stop(), fresh.stop()]);
    const replacement = pulse.logs.slice(from).find((l) => l.msg === 'worker forked' && l.replacement === true)!;
    expect(pulse.logs.some((l) => l.msg === 'ready' && l.worker === replacement.worker), 'the replacement never listened').to.equal(false);
    expect(Object.fromEntries(fresh.window().errors), 'connection-per-request errors').to.deep.equal({});
    expect(Object.fromEntries(fresh.window().non2xx)).to.deep.equal({});
    expect(reload.code).to.equal(1);
    expect(reload.stdout).to.include('replacing worker');
    expect(reload.stderr).to.match(
      /rolling restart failed: new worker \d+ was not ready within 8000 ms \(it cannot reach redis, which the serving workers reach\) \(0\/2 workers replaced; the remaining old workers keep serving\)/,
    );
    expect(await pulse.workerPids()).to.have.members(before);
    expect(capacity.dips).to.deep.equal([]);
    expect(non2xx(served.statuses)).to.deep.equal([]);
    expect(Object.fromEntries(served.errors)).to.deep.equal({});
    expect(served.answered, 'the old workers served throughout').to.be.above(0);
    expect(await metric(pulse, 'pulse_rolling_restarts_total', { result: 'failed' })).to.equal(1);
    expect(pulse.logs.some((l) => l.msg === 'rolling restart failed; remaining old workers kept')).to.equal(true);
    const health = await fetch(`${pulse.adminUrl}/health`);
    expect(health.status).to.equal(200);

    // Once the dependency is back, the next reload goes through.
    await proxy.reopen();
    const retry = await runCtl(['reload'], pulse.env);
    expect(retry.code, retry.stderr).to.equal(0);
    expect((await pulse.workerPids()).filter((pid) => before.includes(pid))).to.deep.equal([]);
    expect(await metric(pulse, 'pulse_rolling_restarts_total', { result: 'succeeded' })).to.equal(1);
  });
});
