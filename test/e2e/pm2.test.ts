import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { non2xx } from '../support/autocannon-load.js';
import { TEST_REDIS_URL, uniqueDatabaseUrl, uniqueRedisPrefix } from '../support/databases.js';
import { ExitCode } from '../../src/shared/exit-codes.js';
import { KeepAliveLoad } from '../support/keepalive-load.js';
import { Pm2Cli, type Pm2Process } from '../support/pm2.js';
import { freePort } from '../support/ports.js';
import { PROJECT_ROOT, isAlive } from '../support/pulse-process.js';
import { waitFor } from '../support/wait.js';

interface Health {
  workers: { expected: number; ready: number };
  details: { pid: number }[];
}

async function pulseIn(pm2: Pm2Cli): Promise<Pm2Process> {
  const found = (await pm2.list()).find((p) => p.name === 'pulse');
  if (!found) throw new Error('pm2 does not list pulse');
  return found;
}

describe('pm2 with ecosystem.config.js (the real pm2)', function () {
  this.timeout(90_000);
  let pm2: Pm2Cli;
  let adminUrl: string;
  let port: number;
  const health = async () => {
    const res = await fetch(`${adminUrl}/health`);
    return { status: res.status, body: (await res.json()) as Health };
  };

  before(async () => {
    const pm2Home = fs.mkdtempSync(path.join(os.tmpdir(), 'pulse-pm2-'));
    const adminPort = await freePort();
    port = await freePort();
    adminUrl = `http://127.0.0.1:${adminPort}`;
    pm2 = new Pm2Cli({
      PATH: process.env.PATH ?? '',
      HOME: pm2Home,
      PM2_HOME: pm2Home,
      HOST: '127.0.0.1',
      PORT: String(port),
      ADMIN_HOST: '127.0.0.1',
      ADMIN_PORT: String(adminPort),
      WORKERS: '2',
      DATABASE_URL: uniqueDatabaseUrl('pm2'),
      REDIS_URL: TEST_REDIS_URL,
      REDIS_KEY_PREFIX: uniqueRedisPrefix('pm2'),
      JWT_SECRET: 'test-secret-long-enough-for-production-0123',
      RATE_LIMIT_MAX: '1000000000',
      SHUTDOWN_TIMEOUT_MS: '12000',
      CONTROL_SOCKET: path.join(pm2Home, 'pulse.sock'),
    });
  });

  after(async function () {
    this.timeout(30_000);
    await pm2.kill();
    fs.rmSync(pm2.env.PM2_HOME, { recursive: true, force: true });
  });

  it('`pm2 start` returns only once every worker is ready; one primary in fork mode', async () => {
    const started = await pm2.run('start', 'ecosystem.config.js');
    // Checked at once: with wait_ready pm2 waited for the primary's 'ready' message.
    const { status, body } = await health();
    expect(started.code, started.stdout + started.stderr).to.equal(0);
    expect(status).to.equal(200);
    expect(body.workers).to.deep.equal({ expected: 2, ready: 2 });
    const listed = await pm2.list();
    expect(listed).to.have.length(1);
    expect(listed[0]).to.include({ name: 'pulse' });
    expect(listed[0]!.pm2_env).to.include({ status: 'online', exec_mode: 'fork_mode' });
    // pm2's SIGKILL comes only after the configured drain, the kill margin and pool closing.
    expect(listed[0]!.pm2_env.kill_timeout).to.equal(12_000 + 10_000);
  });

  it('`pm2 sendSignal SIGHUP pulse` rolls every worker without a failed request; the primary stays', async () => {
    const primary = (await pulseIn(pm2)).pid;
    const before = (await health()).body.details.map((d) => d.pid);
    const load = new KeepAliveLoad(port, '/ping', 8);

    const signalled = await pm2.run('sendSignal', 'SIGHUP', 'pulse');
    expect(signalled.code, signalled.stdout + signalled.stderr).to.equal(0);
    await waitFor(async () => {
      const { status, body } = await health();
      return status === 200 && body.details.length === 2 && body.details.every((d) => !before.includes(d.pid));
    }, 'every worker replaced', 30_000);
    const report = await load.stop();

    expect(report.answered, 'traffic flowed during the rollout').to.be.above(0);
    expect(non2xx(report.statuses)).to.deep.equal([]);
    expect(Object.fromEntries(report.errors)).to.deep.equal({});
    const after = await pulseIn(pm2);
    expect(after.pid).to.equal(primary);
    expect(after.pm2_env.restart_time).to.equal(0);
    await waitFor(() => fs.readFileSync(after.pm2_env.pm_out_log_path, 'utf8').includes('"msg":"rolling restart finished"'), 'the rollout to be logged');
  });

  it('`pm2 scale pulse 2` cannot take Pulse down: the second primary exits 73, pm2 leaves it stopped, deleting it leaves the first serving', async () => {
    const first = await pulseIn(pm2);
    const workers = (await health()).body.details.map((d) => d.pid);
    expect(first.pm2_env.stop_exit_codes).to.include(ExitCode.controlSocketInUse);

    const scaled = await pm2.run('scale', 'pulse', '2');
    expect(scaled.code, scaled.stdout + scaled.stderr).to.equal(0);
    const secondInstance = async () => (await pm2.list()).find((p) => p.name === 'pulse' && p.pm_id !== first.pm_id);
    await waitFor(async () => (await secondInstance())?.pm2_env.exit_code !== undefined, 'the second instance to exit', 30_000);
    // pm2 would restart it after exp_backoff_restart_delay (100 ms); give it ten times that.
    // (pm2 shows such an app as "waiting restart" whenever a restart delay is configured,
    // but with its exit code in stop_exit_codes it schedules no restart.)
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const second = (await secondInstance())!;
    expect(second.pm2_env.exit_code).to.equal(ExitCode.controlSocketInUse);
    expect(second.pm2_env.restart_time).to.equal(0);
    expect(second.pid).to.equal(0);
    const refusal = fs
      .readFileSync(second.pm2_env.pm_err_log_path, 'utf8')
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as { level: number; msg: string })
      .find((line) => line.level === 60);
    expect(refusal?.msg).to.include('another pulse primary is already running');

    // The first primary never noticed: same pid, same workers, still healthy.
    const { status, body } = await health();
    expect(status).to.equal(200);
    expect(body.details.map((d) => d.pid)).to.have.members(workers);
    expect((await pm2.list()).find((p) => p.pm_id === first.pm_id)).to.deep.include({ pid: first.pid });

    // The documented way back: delete the stopped instance by id (`pm2 scale pulse 1` would delete the first).
    const deleted = await pm2.run('delete', String(second.pm_id));
    expect(deleted.code, deleted.stdout + deleted.stderr).to.equal(0);
    const listed = await pm2.list();
    expect(listed.map((p) => p.pm_id)).to.deep.equal([first.pm_id]);
    expect(listed[0]!.pm2_env.status).to.equal('online');
    expect((await health()).status).to.equal(200);
  });

  it('`pm2 stop pulse` drains the workers and the primary exits 0 (not SIGKILLed by pm2)', async () => {
    const { pid: primary, pm2_env: env } = await pulseIn(pm2);
    const workers = (await health()).body.details.map((d) => d.pid);

    const stopped = await pm2.run('stop', 'pulse');
    expect(stopped.code, stopped.stdout + stopped.stderr).to.equal(0);
    const after = await pulseIn(pm2);
    expect(after.pm2_env.status).to.equal('stopped');
    expect(after.pm2_env.exit_code).to.equal(0);
    expect(isAlive(primary)).to.equal(false);
    for (const pid of workers) expect(isAlive(pid), `worker ${pid}`).to.equal(false);
    const log = fs.readFileSync(env.pm_out_log_path, 'utf8');
    expect(log).to.include('"msg":"shutdown complete: every worker drained"');
    expect(log).to.include('"signal":"SIGINT"');
    expect(fs.existsSync(pm2.env.CONTROL_SOCKET!)).to.equal(false);
  });
});

describe('ecosystem.config.js stop budget', () => {
  const killTimeoutWith = (shutdownTimeout: string | undefined) => {
    const env: Record<string, string> = { PATH: process.env.PATH ?? '' };
    if (shutdownTimeout !== undefined) env.SHUTDOWN_TIMEOUT_MS = shutdownTimeout;
    const output = execFileSync(process.execPath, ['-e', "import('./ecosystem.config.js').then((m) => console.log(m.apps[0].kill_timeout))"], {
      cwd: PROJECT_ROOT,
      env,
      encoding: 'utf8',
    });
    return Number(output.trim());
  };

  it('is the default drain plus 10 s without SHUTDOWN_TIMEOUT_MS, or with a value Pulse would refuse', () => {
    expect(killTimeoutWith(undefined)).to.equal(15_000);
    expect(killTimeoutWith('soon')).to.equal(15_000);
    expect(killTimeoutWith('-5')).to.equal(15_000);
  });

  it('follows SHUTDOWN_TIMEOUT_MS', () => {
    expect(killTimeoutWith('30000')).to.equal(40_000);
  });
});
