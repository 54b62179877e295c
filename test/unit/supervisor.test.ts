import { EventEmitter } from 'node:events';
import { expect } from 'chai';
import { RespawnBackoff } from '../../src/primary/backoff.js';
import { IllegalTransitionError, ManagedWorker } from '../../src/primary/managed-worker.js';
import { Supervisor, TICK_MS, type RolloutResult, type SupervisorSettings } from '../../src/primary/supervisor.js';
import { createSupervisorMetrics } from '../../src/primary/supervisor-metrics.js';
import type { WorkerCluster, WorkerClusterEvents, WorkerProcess } from '../../src/primary/worker-cluster.js';
import type { WorkerHealthReport } from '../../src/shared/health-types.js';
import type { PrimaryMessageBody, WorkerMessageBody } from '../../src/shared/ipc-protocol.js';
import { createLogger } from '../../src/shared/logger.js';

const HEARTBEAT_TIMEOUT_MS = 10_000;
const READY_TIMEOUT_MS = 30_000;
const KILL_AFTER_MS = 8000;

class FakeProcess implements WorkerProcess {
  readonly sent: PrimaryMessageBody[] = [];
  readonly signals: NodeJS.Signals[] = [];

  constructor(
    readonly id: number,
    readonly env: Record<string, string> | undefined,
  ) {}

  get pid(): number {
    return 1000 + this.id;
  }

  send(body: PrimaryMessageBody): void {
    this.sent.push(body);
  }

  kill(signal: NodeJS.Signals): void {
    this.signals.push(signal);
  }

  told(type: PrimaryMessageBody['type']): boolean {
    return this.sent.some((m) => m.type === type);
  }
}

/** node:cluster as the supervisor sees it, driven by the test. */
class FakeCluster extends EventEmitter<WorkerClusterEvents> implements WorkerCluster {
  readonly processes = new Map<number, FakeProcess>();
  private nextId = 1;

  fork(env?: Record<string, string>): WorkerProcess {
    const process = new FakeProcess(this.nextId++, env);
    this.processes.set(process.id, process);
    return process;
  }

  workerReady(): void {}
  workerLeaving(): void {}
  stopping(): void {}

  say(id: number, body: WorkerMessageBody): void {
    this.emit('message', id, { pulse: 1, ...body } as never);
  }

  exit(id: number, code: number | null, signal: string | null = null): void {
    this.emit('exit', id, code, signal);
  }

  get forked(): number[] {
    return [...this.processes.keys()];
  }

  get(id: number): FakeProcess {
    return this.processes.get(id)!;
  }
}

function report(overrides: Partial<WorkerHealthReport> = {}): WorkerHealthReport {
  return { database: 'connected', redis: 'connected', eventLoopLagMs: 1, inflight: 0, rssBytes: 50e6, uptimeS: 1, requestsServed: 0, ...overrides };
}

function harness(overrides: Partial<SupervisorSettings> = {}) {
  const clock = { t: 1_000_000, now() { return this.t; } };
  const cluster = new FakeCluster();
  const metrics = createSupervisorMetrics();
  const settings: SupervisorSettings = {
    readyTimeoutMs: READY_TIMEOUT_MS,
    heartbeatTimeoutMs: HEARTBEAT_TIMEOUT_MS,
    responsiveWithinMs: 2500,
    shutdownTimeoutMs: 5000,
    killAfterMs: KILL_AFTER_MS,
    maxWorkerMemoryMb: undefined,
    maxRequestsPerWorker: undefined,
    backoff: new RespawnBackoff(),
    ...overrides,
  };
  const supervisor = new Supervisor(settings, cluster, clock, createLogger('test', 'silent'), metrics);
  const progress: string[] = [];
  const halts: [number, string][] = [];
  supervisor.on('halt', (code, reason) => halts.push([code, reason]));

  const h = {
    clock,
    cluster,
    metrics,
    supervisor,
    progress,
    halts,
    /** Lets time pass the way the primary's timer does: one tick every TICK_MS. */
    advance(ms: number, { heartbeats = [] as number[] } = {}) {
      for (let elapsed = 0; elapsed < ms; elapsed += TICK_MS) {
        clock.t += TICK_MS;
        if (elapsed % 1000 === 0) for (const id of heartbeats) h.heartbeat(id);
        supervisor.tick();
      }
    },
    /** The primary was frozen (SIGSTOP, VM pause) for `ms`: one late tick. */
    freeze(ms: number) {
      clock.t += ms;
    },
    heartbeat(id: number, overrides: Partial<WorkerHealthReport> = {}) {
      if (supervisor.worker(id)) cluster.say(id, { type: 'health-report', report: report(overrides) });
    },
    /** A worker's boot: hello, booted; if admitted (told `serve`), it listens and says ready. */
    boot(id: number, overrides: Partial<WorkerHealthReport> = {}) {
      cluster.say(id, { type: 'hello' });
      cluster.say(id, { type: 'booted', report: report(overrides) });
      if (cluster.get(id).told('serve')) cluster.say(id, { type: 'ready' });
    },
    bootAll() {
      for (const w of supervisor.workers) if (w.starting) h.boot(w.id);
    },
    state(id: number) {
      return supervisor.worker(id)?.state ?? 'exited';
    },
    ready(): number[] {
      return supervisor.serving().map((w) => w.id);
    },
    /** A drained worker exits 0. */
    drained(id: number) {
      cluster.exit(id, 0);
    },
    rollout(): Promise<RolloutResult> {
      return supervisor.startRollout((line) => progress.push(line));
    },
    restarts(reason: string): Promise<number | undefined> {
      return metrics.workerRestarts.get().then((m) => m.values.find((v) => v.labels.reason === reason)?.value);
    },
  };
  return h;
}

async function settled<T>(promise: Promise<T>): Promise<T | 'pending'> {
  return Promise.race([promise, new Promise<'pending'>((resolve) => setImmediate(() => resolve('pending')))]);
}

describe('Supervisor (unit, fake cluster and clock)', () => {
  describe('booting', () => {
    it('forks N workers and admits each only once it has booted: a worker never listens before the primary says so', () => {
      const h = harness();
      h.supervisor.start(2);
      expect(h.cluster.forked).to.deep.equal([1, 2]);
      h.cluster.say(1, { type: 'hello' });
      expect(h.cluster.get(1).told('serve')).to.equal(false);
      expect(h.state(1)).to.equal('booting');
      h.cluster.say(1, { type: 'booted', report: report() });
      expect(h.cluster.get(1).told('serve')).to.equal(true);
      h.cluster.say(1, { type: 'ready' });
      expect(h.ready()).to.deep.equal([1]);
      expect(h.supervisor.expected).to.equal(2);
    });

    it('admits a worker that booted without Redis or Postgres (degraded), instead of killing it for a startup timeout', () => {
      const h = harness();
      h.supervisor.start(1);
      h.boot(1, { redis: 'disconnected', database: 'disconnected' });
      expect(h.ready()).to.deep.equal([1]);
      h.advance(READY_TIMEOUT_MS * 2, { heartbeats: [1] });
      expect(h.cluster.get(1).signals).to.deep.equal([]);
      expect(h.cluster.forked).to.deep.equal([1]);
    });

    it('a crash while booting is a boot error: respawned with backoff once a worker has ever served', async () => {
      const h = harness();
      h.supervisor.start(2);
      h.bootAll();
      h.cluster.exit(1, 1);
      expect(h.cluster.forked).to.deep.equal([1, 2]);
      h.advance(100);
      expect(h.cluster.forked).to.deep.equal([1, 2, 3]);
      h.cluster.say(3, { type: 'hello' });
      h.cluster.exit(3, 1);
      h.advance(100);
      expect(h.cluster.forked, 'backoff: 200 ms after a second failure').to.deep.equal([1, 2, 3]);
      h.advance(200);
      expect(h.cluster.forked).to.deep.equal([1, 2, 3, 4]);
      expect(await h.restarts('boot_error')).to.equal(1);
      expect(await h.restarts('crash')).to.equal(1);
      expect(h.halts).to.deep.equal([]);
    });

    it('halts when a worker fails to boot and none ever has (gunicorn WORKER_BOOT_ERROR), instead of respawning forever', () => {
      const h = harness();
      h.supervisor.start(2);
      h.cluster.say(1, { type: 'hello' });
      h.cluster.say(1, { type: 'boot-failed', error: 'Cannot find module x' });
      h.cluster.exit(1, 70);
      expect(h.halts).to.have.length(1);
      expect(h.halts[0]![0]).to.equal(70);
      expect(h.halts[0]![1]).to.include('Cannot find module x');
      h.advance(5000);
      expect(h.cluster.forked).to.deep.equal([1, 2]);
    });

    it('kills a worker that is not ready within WORKER_READY_TIMEOUT_MS (startup_timeout)', async () => {
      const h = harness();
      h.supervisor.start(1);
      h.cluster.say(1, { type: 'hello' });
      h.advance(READY_TIMEOUT_MS);
      expect(h.cluster.get(1).signals).to.deep.equal([]);
      h.advance(200);
      expect(h.cluster.get(1).signals).to.deep.equal(['SIGKILL']);
      h.cluster.exit(1, null, 'SIGKILL');
      expect(await h.restarts('startup_timeout')).to.equal(1);
    });
  });

  describe('hung workers and time jumps', () => {
    it('kills a silent worker within the heartbeat timeout while another worker is responsive', async () => {
      const h = harness();
      h.supervisor.start(2);
      h.bootAll();
      h.advance(HEARTBEAT_TIMEOUT_MS - 200, { heartbeats: [2] });
      expect(h.cluster.get(1).signals).to.deep.equal([]);
      h.advance(400, { heartbeats: [2] });
      expect(h.cluster.get(1).signals).to.deep.equal(['SIGKILL']);
      h.cluster.exit(1, null, 'SIGKILL');
      expect(await h.restarts('hung')).to.equal(1);
      h.advance(200, { heartbeats: [2] });
      expect(h.cluster.forked).to.deep.equal([1, 2, 3]);
    });

    it('a whole-service freeze (the primary too): its own late tick forgives every worker; nobody is killed', () => {
      const h = harness();
      h.supervisor.start(2);
      h.bootAll();
      h.advance(1000, { heartbeats: [1, 2] });
      h.freeze(12_000);
      h.supervisor.tick();
      h.advance(HEARTBEAT_TIMEOUT_MS - 1500);
      expect(h.cluster.get(1).signals).to.deep.equal([]);
      expect(h.cluster.get(2).signals).to.deep.equal([]);
      expect(h.ready()).to.deep.equal([1, 2]);
      // Their reports resume: they stay.
      h.advance(HEARTBEAT_TIMEOUT_MS * 2, { heartbeats: [1, 2] });
      expect(h.cluster.forked).to.deep.equal([1, 2]);
    });

    it('workers all silent at once are not all killed: a replacement starts first, and only then are the silent ones killed', () => {
      const h = harness();
      h.supervisor.start(2);
      h.bootAll();
      h.advance(HEARTBEAT_TIMEOUT_MS + 200);
      expect(h.cluster.get(1).signals).to.deep.equal([]);
      expect(h.cluster.get(2).signals).to.deep.equal([]);
      expect(h.cluster.forked, 'one replacement started').to.deep.equal([1, 2, 3]);
      h.advance(1000);
      expect(h.cluster.forked, 'one at a time').to.deep.equal([1, 2, 3]);
      h.boot(3);
      expect(h.cluster.get(1).signals).to.deep.equal(['SIGKILL']);
      expect(h.cluster.get(2).signals).to.deep.equal(['SIGKILL']);
    });

    it('never kills the last ready worker for silence before its replacement is ready; keeps it if it speaks again', () => {
      const h = harness();
      h.supervisor.start(1);
      h.boot(1);
      h.advance(HEARTBEAT_TIMEOUT_MS + 200);
      expect(h.cluster.get(1).signals).to.deep.equal([]);
      expect(h.cluster.forked).to.deep.equal([1, 2]);
      h.cluster.say(2, { type: 'hello' });
      // It was only slow: it reports again before the replacement is ready.
      h.heartbeat(1);
      h.supervisor.tick();
      expect(h.state(2), 'the replacement is no longer wanted').to.equal('draining');
      expect(h.cluster.get(2).told('drain')).to.equal(true);
      expect(h.cluster.get(1).signals).to.deep.equal([]);
      expect(h.ready()).to.deep.equal([1]);
    });

    it('a whole-service freeze where a worker speaks before the late tick: its message does not make its silent peer look hung', () => {
      const h = harness();
      h.supervisor.start(2);
      h.bootAll();
      h.advance(1000, { heartbeats: [1, 2] });
      h.freeze(12_000);
      // After the thaw, worker 1's report reaches the primary before the primary's own timer fires.
      h.heartbeat(1);
      h.supervisor.tick();
      h.advance(HEARTBEAT_TIMEOUT_MS - 1500, { heartbeats: [1] });
      expect(h.cluster.get(2).signals, 'the peer that has not spoken yet keeps its grace period').to.deep.equal([]);
      expect(h.ready()).to.deep.equal([1, 2]);
      h.advance(HEARTBEAT_TIMEOUT_MS * 2, { heartbeats: [1, 2] });
      expect(h.cluster.forked).to.deep.equal([1, 2]);
    });

    it('a pause of the primary alone also moves boot and drain deadlines', () => {
      const h = harness();
      h.supervisor.start(1);
      h.cluster.say(1, { type: 'hello' });
      h.advance(READY_TIMEOUT_MS - 1000);
      h.freeze(20_000);
      h.supervisor.tick();
      expect(h.cluster.get(1).signals).to.deep.equal([]);
    });
  });

  describe('rolling restarts', () => {
    it('replaces every worker one at a time, new first, and finishes when the old ones have exited', async () => {
      const h = harness();
      h.supervisor.start(2);
      h.bootAll();
      const done = h.rollout();
      expect(h.cluster.forked).to.deep.equal([1, 2, 3]);
      expect(h.progress).to.deep.equal(['replacing worker 1 (1/2): starting worker 3']);
      expect(h.supervisor.serving()).to.have.length(2);
      h.boot(3);
      expect(h.state(1)).to.equal('draining');
      expect(h.cluster.get(1).sent).to.deep.include({ type: 'drain', reason: 'rolling' });
      expect(h.ready()).to.deep.equal([2, 3]);
      expect(h.cluster.forked, 'no next replacement while the old worker drains: it still holds its share of the database').to.deep.equal([1, 2, 3]);
      h.drained(1);
      expect(h.cluster.forked, 'then the next one').to.deep.equal([1, 2, 3, 4]);
      h.boot(4);
      expect(await settled(done)).to.equal('pending');
      h.drained(2);
      const result = await done;
      expect(result).to.include({ ok: true, replaced: 2, total: 2 });
      expect(h.supervisor.workers.map((w) => w.generation)).to.deep.equal([2, 2]);
      expect(await h.restarts('rolling')).to.equal(2);
    });

    it('a boot error during a rollout stops it: old workers keep serving, no retry loop, flagged as a boot error', async () => {
      const h = harness();
      h.supervisor.start(2);
      h.bootAll();
      const done = h.rollout();
      h.cluster.say(3, { type: 'hello' });
      h.cluster.say(3, { type: 'boot-failed', error: 'SyntaxError: Unexpected token' });
      h.cluster.exit(3, 70);
      const result = await done;
      expect(result).to.include({ ok: false, replaced: 0, total: 2, bootError: true });
      expect(result.error).to.equal('new worker 3 exited before it was ready (code 70): SyntaxError: Unexpected token');
      h.advance(5000, { heartbeats: [1, 2] });
      expect(h.cluster.forked).to.deep.equal([1, 2, 3]);
      expect(h.ready()).to.deep.equal([1, 2]);
      expect(h.halts).to.deep.equal([]);
    });

    it('a replacement that cannot reach Redis while the old workers can is never admitted; the rollout fails at the ready timeout', async () => {
      const h = harness({ readyTimeoutMs: 5000 });
      h.supervisor.start(1);
      h.boot(1);
      const done = h.rollout();
      h.boot(2, { redis: 'disconnected' });
      expect(h.cluster.get(2).told('serve')).to.equal(false);
      h.advance(5200, { heartbeats: [1] });
      expect(h.cluster.get(2).signals).to.deep.equal(['SIGKILL']);
      h.cluster.exit(2, null, 'SIGKILL');
      const result = await done;
      expect(result.ok).to.equal(false);
      expect(result.error).to.equal('new worker 2 was not ready within 5000 ms (it cannot reach redis, which the serving workers reach)');
      expect(h.ready()).to.deep.equal([1]);
    });

    it('admits the replacement as soon as it reaches the dependency after all', async () => {
      const h = harness();
      h.supervisor.start(1);
      h.boot(1);
      const done = h.rollout();
      h.boot(2, { redis: 'disconnected' });
      expect(h.cluster.get(2).told('serve')).to.equal(false);
      h.heartbeat(2);
      expect(h.cluster.get(2).told('serve')).to.equal(true);
      h.cluster.say(2, { type: 'ready' });
      h.drained(1);
      expect((await done).ok).to.equal(true);
    });

    it('SIGTERM during a rollout: the rollout fails, the booting replacement stops without listening, everyone drains, clean', async () => {
      const h = harness();
      h.supervisor.start(2);
      h.bootAll();
      const done = h.rollout();
      h.cluster.say(3, { type: 'hello' });
      const stopped = h.supervisor.stop();
      expect((await done).error).to.equal('shutdown started during the rolling restart');
      expect(h.state(3)).to.equal('draining');
      expect(h.cluster.get(3).told('serve')).to.equal(false);
      expect(h.cluster.get(3).told('drain')).to.equal(true);
      for (const id of [1, 2, 3]) h.drained(id);
      expect(await stopped).to.include({ clean: true });
    });

    it('a second rollout is refused while one runs; `ctl scale` too', () => {
      const h = harness();
      h.supervisor.start(1);
      h.boot(1);
      void h.rollout();
      expect(() => h.rollout()).to.throw('a rolling restart is already in progress');
      expect(() => h.supervisor.scaleTo(3)).to.throw('a rolling restart is already in progress');
    });

    it('SIGHUP during scaling: both happen; new capacity boots first, then the replacements, one at a time', async () => {
      const h = harness();
      h.supervisor.start(1);
      h.boot(1);
      const scaled = h.supervisor.scaleTo(2);
      expect(h.cluster.forked).to.deep.equal([1, 2]);
      const done = h.rollout();
      expect(h.cluster.forked, 'no replacement while the new worker boots').to.deep.equal([1, 2]);
      h.boot(2);
      expect(await scaled).to.deep.equal({ workers: 2, ready: 2 });
      expect(h.supervisor.worker(2)!.generation, 'forked before the rollout: replaced too').to.equal(1);
      expect(h.cluster.forked).to.deep.equal([1, 2, 3]);
      h.boot(3);
      h.drained(1);
      h.boot(4);
      h.drained(2);
      expect(await done).to.include({ ok: true, total: 2, replaced: 2 });
      expect(h.ready()).to.deep.equal([3, 4]);
    });
  });

  describe('exits and shutdown', () => {
    it('a crash while draining is a problem of the shutdown, not a reason to respawn', async () => {
      const h = harness();
      h.supervisor.start(2);
      h.bootAll();
      const stopped = h.supervisor.stop();
      h.drained(1);
      h.cluster.exit(2, 1);
      h.advance(1000);
      expect(h.cluster.forked).to.deep.equal([1, 2]);
      const outcome = await stopped;
      expect(outcome.clean).to.equal(false);
      expect(outcome.problems).to.deep.equal(['worker 2 (pid 1002) exited with code 1']);
    });

    it('a worker forked just before the shutdown (no hello yet) is told to stop as soon as it can hear, and its exit is clean', async () => {
      const h = harness();
      h.supervisor.start(1);
      h.boot(1);
      h.cluster.exit(1, null, 'SIGKILL');
      h.advance(100);
      expect(h.cluster.forked).to.deep.equal([1, 2]);
      const stopped = h.supervisor.stop();
      expect(h.cluster.get(2).sent).to.deep.equal([]);
      h.cluster.say(2, { type: 'hello' });
      expect(h.cluster.get(2).sent).to.deep.equal([{ type: 'drain', reason: 'shutdown' }]);
      h.cluster.exit(2, null, 'SIGTERM');
      expect(await stopped).to.include({ clean: true });
    });

    it('SIGKILLs a draining worker at the kill deadline and reports it', async () => {
      const h = harness();
      h.supervisor.start(1);
      h.boot(1);
      const stopped = h.supervisor.stop();
      h.advance(KILL_AFTER_MS);
      expect(h.cluster.get(1).signals).to.deep.equal([]);
      h.advance(200);
      expect(h.cluster.get(1).signals).to.deep.equal(['SIGKILL']);
      h.cluster.exit(1, null, 'SIGKILL');
      expect((await stopped).problems).to.deep.equal([`worker 1 (pid 1001) was killed after ${KILL_AFTER_MS} ms`]);
    });

    it('a connection closed unanswered during the shutdown makes it unclean', async () => {
      const h = harness();
      h.supervisor.start(1);
      h.boot(1);
      const stopped = h.supervisor.stop();
      h.cluster.emit('stranded', 'closed');
      h.drained(1);
      expect((await stopped).clean).to.equal(false);
    });
  });

  describe('scaling and recycling', () => {
    it('scale-up keeps /health expecting the old count until the new workers are ready; scale-down retires the newest', async () => {
      const h = harness();
      h.supervisor.start(2);
      h.bootAll();
      const up = h.supervisor.scaleTo(4);
      expect(h.supervisor.expected).to.equal(2);
      h.boot(3);
      expect(h.supervisor.expected).to.equal(3);
      h.boot(4);
      expect(await up).to.deep.equal({ workers: 4, ready: 4 });
      expect(h.supervisor.expected).to.equal(4);
      const down = h.supervisor.scaleTo(1);
      expect(h.supervisor.expected).to.equal(1);
      expect([2, 3, 4].map((id) => h.state(id))).to.deep.equal(['draining', 'draining', 'draining']);
      for (const id of [2, 3, 4]) h.drained(id);
      expect(await down).to.deep.equal({ workers: 1, ready: 1 });
    });

    it('SIGTTIN/SIGTTOU change the desired count at once and never go below one', () => {
      const h = harness();
      h.supervisor.start(1);
      h.boot(1);
      h.supervisor.scaleBy(1);
      h.supervisor.scaleBy(1);
      expect(h.cluster.forked).to.deep.equal([1, 2, 3]);
      h.supervisor.scaleBy(-1);
      h.supervisor.scaleBy(-1);
      h.supervisor.scaleBy(-1);
      expect(h.supervisor.desiredWorkers).to.equal(1);
      expect([2, 3].map((id) => h.state(id))).to.deep.equal(['draining', 'draining']);
      expect(h.cluster.get(3).told('serve')).to.equal(false);
    });

    it('recycles a worker at the first report that reaches its request limit (MAX_REQUESTS_PER_WORKER + under 10% jitter), not before, not later', async () => {
      const decidedAt: number[] = [];
      for (let run = 0; run < 30; run += 1) {
        const h = harness({ maxRequestsPerWorker: 100 });
        h.supervisor.start(1);
        h.boot(1);
        let served = 90;
        while (h.cluster.forked.length === 1 && served < 200) h.heartbeat(1, { requestsServed: (served += 1) });
        expect(h.cluster.forked, `a replacement forked by ${served} requests`).to.deep.equal([1, 2]);
        decidedAt.push(served);
        h.boot(2);
        expect(h.cluster.get(1).sent).to.deep.include({ type: 'drain', reason: 'max_requests' });
      }
      for (const served of decidedAt) expect(served).to.be.within(100, 109);
      expect(new Set(decidedAt).size, 'the limit is jittered').to.be.above(1);
    });

    it('recycles a worker over its memory limit through a replacement, new first', async () => {
      const h = harness({ maxWorkerMemoryMb: 100 });
      h.supervisor.start(1);
      h.boot(1);
      h.heartbeat(1, { rssBytes: 150 * 1024 * 1024 });
      expect(h.cluster.forked).to.deep.equal([1, 2]);
      expect(h.state(1)).to.equal('ready');
      h.boot(2);
      expect(h.cluster.get(1).sent).to.deep.include({ type: 'drain', reason: 'memory' });
      h.drained(1);
      expect(await h.restarts('memory')).to.equal(1);
    });
  });

  it('worker states only move along the lifecycle', () => {
    const worker = new ManagedWorker(new FakeProcess(1, undefined), 1, 0, 1000, false, undefined);
    expect(() => worker.moveTo('ready')).to.throw(IllegalTransitionError, 'forked -> ready');
    worker.moveTo('booting');
    worker.moveTo('ready');
    expect(() => worker.moveTo('booting')).to.throw(IllegalTransitionError);
    worker.moveTo('draining');
    expect(() => worker.moveTo('ready')).to.throw(IllegalTransitionError);
    worker.moveTo('exited');
    expect(() => worker.moveTo('draining')).to.throw(IllegalTransitionError);
  });
});
