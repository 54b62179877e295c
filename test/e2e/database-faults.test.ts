import { expect } from 'chai';
import { unavailableAnswerBoundMs } from '../../src/db/knex-config.js';
import { loadConfig } from '../../src/shared/config.js';
import { uniqueDatabaseUrl } from '../support/databases.js';
import { sendJson, signUpThrough } from '../support/journal-client.js';
import { getFresh, readHealth, scrapeMetrics } from '../support/observe.js';
import { sampleValue } from '../support/prometheus-text.js';
import { type PulseProcess, pulsePerTest } from '../support/pulse-process.js';
import { RecordedHttpLoad, type RequestRecord } from '../support/recorded-http-load.js';
import { increment, sum } from '../support/stats.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { sleep, waitFor } from '../support/wait.js';

/** The bound for serving again once new connections to Postgres work. */
const RECOVERY_MS = 15_000;
/** What README and OPERATIONS promise with the default settings. */
const ANSWER_BOUND_MS = unavailableAnswerBoundMs(loadConfig({}));
/** The service's own work on top of its wait for Postgres, on a shared two-core machine. */
const PROCESSING_MARGIN_MS = 500;
const LOAD_CONCURRENCY = 16;

interface Scenario {
  pulse: PulseProcess;
  proxy: TcpProxy;
  token: string;
  /** A route answered from Postgres alone (no cache). */
  entryPath: string;
  load: RecordedHttpLoad;
}

const describeStatuses = (records: RequestRecord[]) => {
  const outcomes = new Map<string, number>();
  for (const r of records) increment(outcomes, r.error ?? String(r.status));
  return JSON.stringify([...outcomes]);
};

describe('Postgres faults under load (end to end, Postgres behind a TCP proxy)', function () {
  this.timeout(120_000);
  const pulses = pulsePerTest();
  let scenario: Scenario | undefined;
  afterEach(async () => {
    await scenario?.load.stop();
    await scenario?.proxy.cut();
    scenario = undefined;
  });

  async function startUnderLoad(label: string): Promise<Scenario> {
    const proxy = new TcpProxy('127.0.0.1', 5432);
    await proxy.start();
    const databaseUrl = new URL(uniqueDatabaseUrl(label));
    databaseUrl.port = String(proxy.port);
    const pulse = await pulses.start({ workers: 2, env: { DATABASE_URL: databaseUrl.toString(), RATE_LIMIT_MAX: '100000000' } });
    const { token } = await signUpThrough(pulse);
    const created = await sendJson(pulse, 'POST', '/entries', { token, body: { text: 'still here', mood: 7, category: 'faults' } });
    expect(created.status).to.equal(201);
    const entryPath = `/entries/${created.body.id as number}`;
    const load = new RecordedHttpLoad({ port: pulse.port, path: entryPath, concurrency: LOAD_CONCURRENCY, headers: { Authorization: `Bearer ${token}` } });
    scenario = { pulse, proxy, token, entryPath, load };
    await waitFor(() => load.records.filter((r) => r.status === 200).length >= 100, 'the load to be served');
    return scenario;
  }

  /**
   * Since the fault: /health 200, fresh database requests 200, the load's answers of the
   * last second all 200, and none of its requests waiting for more than a second (judged
   * from 2 s after the fault on, when a request stuck since the fault shows as waiting).
   */
  async function servingAgain({ pulse, token, entryPath, load }: Scenario, faultAt: number): Promise<boolean> {
    if (Date.now() < faultAt + 2000) return false;
    if ((await readHealth(pulse)).httpStatus !== 200) return false;
    for (let i = 0; i < 4; i += 1) {
      const res = await fetch(`${pulse.url}${entryPath}`, { headers: { Connection: 'close', Authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(5000) });
      await res.arrayBuffer();
      if (res.status !== 200) return false;
    }
    const now = Date.now();
    if (load.inFlightAt(now).some((r) => r.start < now - 1000)) return false;
    const recent = load.records.filter((r) => r.start > faultAt && r.end >= now - 1000 && r.end <= now);
    return recent.length > 0 && recent.every((r) => r.status === 200);
  }

  it('silently dead connections (new ones work): detected and replaced, serving again within 15 s, no worker restarted', async () => {
    const s = await startUnderLoad('silenced');
    const workers = (await s.pulse.workerPids()).sort();
    const silencedAt = Date.now();
    s.proxy.silenceExisting();

    await waitFor(() => servingAgain(s, silencedAt), '/health 200 and database requests 200 after the connections went silent', RECOVERY_MS, 200);
    const recoveredMs = Date.now() - silencedAt;
    expect((await s.pulse.workerPids()).sort(), 'recovered without restarting a worker').to.deep.equal(workers);
    const givenUp = sampleValue((await scrapeMetrics(s.pulse)).samples, 'pulse_db_connections_given_up_total');
    expect(givenUp, 'the dead connections were destroyed').to.be.greaterThan(0);
    await s.load.stop();
    const stuck = s.load.records.filter((r) => r.start >= silencedAt && r.end - r.start > ANSWER_BOUND_MS + PROCESSING_MARGIN_MS);
    expect(stuck.length, `requests waiting longer than ${ANSWER_BOUND_MS} ms (recovered after ${recoveredMs} ms)`).to.equal(0);
  });

  it(`blackhole partition: every database request answered (200 or 503) within the documented ${ANSWER_BOUND_MS} ms, a bounded log; serving again after it heals`, async () => {
    const s = await startUnderLoad('blackhole');
    const firstLine = s.pulse.logs.length;
    const partitionedAt = Date.now();
    s.proxy.blackhole();
    await sleep(10_000);
    // The API port's own /health and /ping do not wait on Postgres either.
    expect((await getFresh(`${s.pulse.url}/ping`)).status).to.equal(200);
    const health = await readHealth(s.pulse);
    expect(health.httpStatus).to.equal(503);
    expect(health.body.database).to.equal('disconnected');
    const healedAt = Date.now();
    s.proxy.heal();
    await waitFor(() => servingAgain(s, healedAt), 'serving again after the partition healed', RECOVERY_MS, 200);
    await s.load.stop();

    const during = s.load.records.filter((r) => r.start >= partitionedAt - 1000 && r.start < healedAt);
    const unanswered = during.filter((r) => r.status !== 200 && r.status !== 503);
    expect(unanswered.length, `outcomes ${describeStatuses(during)}`).to.equal(0);
    const slowest = Math.max(...during.map((r) => r.end - r.start));
    expect(slowest, `slowest answer during the partition (${describeStatuses(during)})`).to.be.at.most(ANSWER_BOUND_MS + PROCESSING_MARGIN_MS);
    expect(during.filter((r) => r.status === 503).length, 'the partition was felt').to.be.greaterThan(0);
    const lines = s.pulse.logs.slice(firstLine).filter((l) => l.level >= 40);
    expect(lines.length, `warn/error lines: ${JSON.stringify(lines.map((l) => l.msg))}`).to.be.at.most(60);
  });

  it('an outage of a few seconds under load writes a bounded number of log lines, names the first error, and counts every failure', async () => {
    const s = await startUnderLoad('logflood');
    const firstLine = s.pulse.logs.length;
    await s.proxy.cut();
    await sleep(4000);
    await s.proxy.reopen();
    const reopenedAt = Date.now();
    await waitFor(() => servingAgain(s, reopenedAt), 'serving again after the outage', RECOVERY_MS, 200);
    await s.load.stop();
    const failedRequests = sampleValue((await scrapeMetrics(s.pulse)).samples, 'http_requests_total', { route: '/entries/:id', status: '503' }) ?? 0;
    expect(failedRequests, 'the outage was felt').to.be.greaterThan(100);

    // Every repeat is summarized within one interval after the last one.
    const summaries = () => s.pulse.logs.slice(firstLine).filter((l) => l.msg === 'request failed (repeated)');
    const logged = () => sum(s.pulse.logs.slice(firstLine).filter((l) => l.msg.startsWith('request failed')).map((l) => (l.repeated as number | undefined) ?? 1));
    await waitFor(() => logged() === failedRequests, `the log to account for all ${failedRequests} failed requests`, 10_000);
    const lines = s.pulse.logs.slice(firstLine).filter((l) => l.level >= 40);
    expect(lines.length, `warn/error lines for ${failedRequests} failed requests: ${JSON.stringify(lines.map((l) => l.msg))}`).to.be.at.most(60);
    expect(summaries().length).to.be.greaterThan(0);
    const first = lines.find((l) => l.msg === 'request failed');
    const err = first?.err as { message?: string; stack?: string } | undefined;
    expect(err?.message, 'the first failure is logged with its cause').to.match(/ECONNREFUSED|ECONNRESET|Connection terminated|not queryable|Timeout acquiring/);
    expect(err?.stack, 'and its stack').to.be.a('string');
  });
});
