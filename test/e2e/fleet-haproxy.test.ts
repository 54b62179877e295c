import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { expect } from 'chai';
import { createClient } from 'redis';
import { printUncaptured } from '../support/captured-output.js';
import { uniqueDatabaseUrl, uniqueRedisPrefix, TEST_REDIS_URL } from '../support/databases.js';
import {
  checkHaproxyConfig,
  DEBIAN_HAPROXY_CONFIG,
  Haproxy,
  HAPROXY_BINARY,
  haproxyInstalled,
  PULSE_HAPROXY_CONFIG,
  type PulseServer,
  type ServerName,
} from '../support/haproxy.js';
import { sendJson, signUpThrough } from '../support/journal-client.js';
import { scrapeMetrics } from '../support/observe.js';
import { sampleValue } from '../support/prometheus-text.js';
import { PROJECT_ROOT, type PulseProcess, startPulse } from '../support/pulse-process.js';
import { RecordedHttpLoad, type RequestRecord } from '../support/recorded-http-load.js';
import { increment } from '../support/stats.js';
import { waitFor } from '../support/wait.js';

/** HAProxy's check interval in these tests: with `fall 2` a host is out of rotation within ~0.6 s. */
const CHECK_INTER = '300ms';
/** Above inter × fall with room for a busy 2-core machine: the delay an operator sets above it. */
const SHUTDOWN_DELAY_MS = 2000;

/** One "machine": a Pulse primary that can be stopped and started again on the same ports. */
class Host {
  private constructor(
    readonly name: ServerName,
    public pulse: PulseProcess,
    private readonly env: Record<string, string>,
  ) {}

  static async start(name: ServerName, env: Record<string, string>, started: PulseProcess[]): Promise<Host> {
    const pulse = await startPulse({ workers: 2, env });
    started.push(pulse);
    return new Host(name, pulse, env);
  }

  get server(): PulseServer {
    return { port: this.pulse.port, adminPort: this.pulse.adminPort };
  }

  /** A new primary with the same ports, database and Redis (the previous one has exited). */
  async startAgain(started: PulseProcess[]): Promise<void> {
    this.pulse = await startPulse({ workers: 2, env: this.env, ports: this.server });
    started.push(this.pulse);
  }
}

interface Fleet {
  hosts: [Host, Host];
  lb: Haproxy;
}

/**
 * Two hosts sharing one database and one Redis key prefix, behind HAProxy with pulse.cfg.
 * Started one after the other: the first creates and migrates the shared database.
 */
async function startFleet(settings: Record<string, string>, started: PulseProcess[]): Promise<Fleet> {
  const env = {
    DATABASE_URL: uniqueDatabaseUrl('fleet'),
    REDIS_KEY_PREFIX: uniqueRedisPrefix('fleet'),
    // The guide's value behind a balancer: HAProxy, not Pulse, closes idle connections.
    HTTP_KEEP_ALIVE_TIMEOUT_MS: '65000',
    ...settings,
  };
  const a = await Host.start('pulse-a', env, started);
  const b = await Host.start('pulse-b', env, started);
  const lb = await Haproxy.start({ 'pulse-a': a.server, 'pulse-b': b.server }, { checkInter: CHECK_INTER });
  await lb.waitForServer('pulse-a', 'UP');
  await lb.waitForServer('pulse-b', 'UP');
  return { hosts: [a, b], lb };
}

async function pingsServed(pulse: PulseProcess): Promise<number> {
  return sampleValue((await scrapeMetrics(pulse)).samples, 'http_requests_total', { route: '/ping' }) ?? 0;
}

interface Outcome {
  records: RequestRecord[];
  failures: Map<string, number>;
  exitCodes: (number | null)[];
}

/**
 * The deploy an operator runs across the fleet, one host at a time, under keep-alive load
 * through HAProxy: SIGTERM, wait until the balancer has the host DOWN and the old primary has
 * exited, start the new primary on the same ports, wait until the balancer has it UP again
 * and sends it traffic. Before the restart every request sent while the host was still in
 * rotation gets its final outcome: HAProxy retries a refused connection on the same server
 * (3 retries, 1 s apart), so without this the count of failures would depend on how fast the
 * new primary comes up.
 */
async function rollingDeploy(fleet: Fleet, started: PulseProcess[]): Promise<Outcome> {
  const load = new RecordedHttpLoad({ port: fleet.lb.port, path: '/ping', concurrency: 6, pauseMs: 5 });
  const exitCodes: (number | null)[] = [];
  try {
    await waitFor(() => load.records.filter((r) => r.status === 200).length >= 50, 'load flowing through HAProxy');
    for (const host of fleet.hosts) {
      const old = host.pulse;
      old.signal('SIGTERM');
      await fleet.lb.waitForServer(host.name, 'DOWN');
      const outOfRotationAt = Date.now();
      exitCodes.push((await old.waitExit(20_000)).code);
      const unanswered = () => load.records.filter((r) => r.start <= outOfRotationAt && r.end === Infinity).length;
      await waitFor(() => unanswered() === 0, 'requests sent before the host was out of rotation to finish', 15_000);
      await host.startAgain(started);
      await fleet.lb.waitForServer(host.name, 'UP');
      await waitFor(async () => (await pingsServed(host.pulse)) > 0, `the balancer sending traffic to the new ${host.name}`, 10_000);
    }
  } finally {
    await load.stop();
  }
  const failures = new Map<string, number>();
  for (const record of load.records) {
    if (record.error !== undefined) increment(failures, record.error);
    else if (record.status !== 200) increment(failures, String(record.status));
  }
  return { records: load.records, failures, exitCodes };
}

function failureCount(outcome: Outcome): number {
  return [...outcome.failures.values()].reduce((sum, n) => sum + n, 0);
}

describe('docs/OPERATIONS.md shows deploy/haproxy/pulse.cfg as shipped', () => {
  it('has the file verbatim in its "Behind a load balancer" section', () => {
    const guide = fs.readFileSync(path.join(PROJECT_ROOT, 'docs/OPERATIONS.md'), 'utf8');
    expect(guide).to.include('\n## Behind a load balancer\n');
    const section = guide.slice(guide.indexOf('\n## Behind a load balancer\n'));
    expect(section).to.include(`\`\`\`haproxy\n${fs.readFileSync(PULSE_HAPROXY_CONFIG, 'utf8')}\`\`\``);
  });
});

describe('two Pulse hosts behind HAProxy, one Postgres and one Redis (end to end)', function () {
  this.timeout(60_000);
  const started: PulseProcess[] = [];
  const balancers: Haproxy[] = [];

  before(function () {
    if (!haproxyInstalled()) {
      printUncaptured(`    skipped: ${HAPROXY_BINARY} is missing (Debian package haproxy; .ci/run installs it)`);
      this.skip();
    }
  });

  async function stopAll(failed: boolean): Promise<void> {
    for (const lb of balancers.splice(0)) {
      if (failed) console.log(lb.output.slice(-60).join('\n'));
      await lb.stop();
    }
    for (const pulse of started.splice(0)) {
      if (failed && !pulse.exited) console.log(pulse.tail(30));
      await pulse.stop();
    }
  }

  it('pulse.cfg is valid after Debian\'s haproxy.cfg, as installed, and on its own with the test\'s values', () => {
    if (fs.existsSync(DEBIAN_HAPROXY_CONFIG)) {
      const installed = checkHaproxyConfig([DEBIAN_HAPROXY_CONFIG, PULSE_HAPROXY_CONFIG]);
      expect(installed.status, installed.output).to.equal(0);
      expect(installed.output).to.not.include('WARNING');
    }
    const alone = checkHaproxyConfig([PULSE_HAPROXY_CONFIG], { PULSE_CHECK_INTER: CHECK_INTER, PULSE_A: '127.0.0.1:1', PULSE_LB_BIND: '127.0.0.1:8080' });
    expect(alone.status, alone.output).to.equal(0);
  });

  describe('what one machine cannot show', () => {
    let fleet: Fleet;
    const redis = createClient({ url: TEST_REDIS_URL });

    before(async function () {
      this.timeout(60_000);
      await redis.connect();
      fleet = await startFleet({ RATE_LIMIT_MAX: '100', TRUST_PROXY: 'true' }, started);
      balancers.push(fleet.lb);
    });
    after(async function () {
      await redis.close();
      await stopAll(false);
    });
    afterEach(function () {
      if (this.currentTest?.state === 'failed') console.log(fleet?.lb.output.slice(-40).join('\n'));
    });

    it('the rate limit is shared: 100 requests answered by host A, the 101st on host B is 429', async () => {
      const [a, b] = fleet.hosts;
      // One client as the balancer reports it (TRUST_PROXY=true), with a window of its own.
      const client = { 'X-Forwarded-For': '198.51.100.7' };
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const get = (pulse: PulseProcess, headers: Record<string, string>) =>
        new Promise<{ status: number; remaining: string | undefined }>((resolve, reject) => {
          http
            .get(`${pulse.url}/ping`, { agent, headers }, (res) => {
              res.resume();
              res.on('end', () => resolve({ status: res.statusCode!, remaining: res.headers['x-ratelimit-remaining'] as string | undefined }));
            })
            .on('error', reject);
        });
      try {
        const onA = [];
        for (let i = 0; i < 100; i += 1) onA.push(await get(a.pulse, client));
        expect(onA.map((r) => r.status)).to.deep.equal(Array(100).fill(200));
        expect(onA.at(-1)!.remaining).to.equal('0');
        const onB = await get(b.pulse, client);
        expect(onB.status, 'host B counts what host A let through').to.equal(429);
      } finally {
        agent.destroy();
      }

      // Through HAProxy the client cannot choose its identity: pulse.cfg replaces X-Forwarded-For
      // with the address it sees, so claiming the exhausted one gets this client its own window.
      const viaBalancer = await fetch(`${fleet.lb.url}/ping`, { headers: client });
      expect(viaBalancer.status).to.equal(200);
      expect(viaBalancer.headers.get('x-ratelimit-remaining')).to.equal('99');
    });

    it('a write on host A is visible at once on host B, whose first page is cached', async () => {
      const [a, b] = fleet.hosts;
      const { token, userId } = await signUpThrough(a.pulse);
      const before = await sendJson(b.pulse, 'GET', '/entries', { token });
      expect(before.status).to.equal(200);
      expect(before.body.total).to.equal(0);
      const prefix = b.pulse.env.REDIS_KEY_PREFIX;
      expect(await redis.hExists(`${prefix}first-page:user:${userId}`, '10'), 'host B cached the first page').to.equal(1);

      const created = await sendJson(a.pulse, 'POST', '/entries', { token, body: { text: 'written on A', mood: 7, category: 'fleet' } });
      expect(created.status).to.equal(201);
      const after = await sendJson(b.pulse, 'GET', '/entries', { token });
      expect(after.status).to.equal(200);
      expect(after.body.total, 'host B sees the write at once').to.equal(1);
      expect(after.body.entries.map((e: { text: string }) => e.text)).to.deep.equal(['written on A']);
    });
  });

  describe('a rolling deploy across the hosts under keep-alive load through HAProxy', () => {
    afterEach(async function () {
      await stopAll(this.currentTest?.state === 'failed');
    });

    it(`with SHUTDOWN_DELAY_MS (${SHUTDOWN_DELAY_MS}) above inter × fall: 0 requests lost`, async () => {
      const fleet = await startFleet({ SHUTDOWN_DELAY_MS: String(SHUTDOWN_DELAY_MS), RATE_LIMIT_MAX: '1000000000' }, started);
      balancers.push(fleet.lb);
      const outcome = await rollingDeploy(fleet, started);
      console.log(`      with the delay: ${outcome.records.length} requests, ${failureCount(outcome)} failed`);
      expect(outcome.records.length, 'traffic flowed through the deploy').to.be.above(0);
      expect(Object.fromEntries(outcome.failures), 'errors and non-2xx answers').to.deep.equal({});
      expect(outcome.exitCodes, 'each old primary drained cleanly').to.deep.equal([0, 0]);
    });

    it('without it (SHUTDOWN_DELAY_MS=0): requests fail while the balancer still sends to a host that stopped listening', async () => {
      // Not timing luck: readiness turns 503 and the listener closes at the same instant, and
      // HAProxy needs two failed checks (at least one interval, 300 ms) to notice. In that window
      // each of the load's back-to-back connections sends the stopped host a request; none is
      // answered (HAProxy retries the refused connection on that host, then answers 503), and
      // rollingDeploy waits for their outcome before the host comes back.
      const fleet = await startFleet({ SHUTDOWN_DELAY_MS: '0', RATE_LIMIT_MAX: '1000000000' }, started);
      balancers.push(fleet.lb);
      const outcome = await rollingDeploy(fleet, started);
      console.log(`      without the delay: ${outcome.records.length} requests, ${failureCount(outcome)} failed ${JSON.stringify(Object.fromEntries(outcome.failures))}`);
      expect(failureCount(outcome)).to.be.above(0);
    });
  });
});
