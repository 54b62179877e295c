import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { ExitCode } from '../../src/shared/exit-codes.js';
import { CLI_ENTRY, CtlRun, runCtl, runPulseCommand } from '../support/ctl.js';
import { PROJECT_ROOT, startPulse, type PulseProcess } from '../support/pulse-process.js';
import { waitFor } from '../support/wait.js';

const tempDirs: string[] = [];
const tempDir = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pulse-ctl-'));
  tempDirs.push(dir);
  return dir;
};

/** A socket file whose owner died without removing it (what a SIGKILLed primary leaves). */
async function staleSocketAt(socketPath: string): Promise<void> {
  const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(socketPath)}, () => process.kill(process.pid, 'SIGKILL'))`]);
  await new Promise((resolve) => child.once('exit', resolve));
  expect(fs.lstatSync(socketPath).isSocket()).to.equal(true);
}

interface StatusJson {
  primaryPid: number;
  rollingRestart: boolean;
  health: { httpStatus: number; body: { status: string; workers: { expected: number; ready: number } } };
  workers: { id: number; pid: number; status: string; uptime_s: number; rss_bytes: number; inflight: number }[];
}

describe('pulse ctl and the control socket (end to end)', function () {
  this.timeout(60_000);
  const started: PulseProcess[] = [];
  afterEach(async () => {
    for (const proc of started.splice(0)) await proc.stop();
    for (const dir of tempDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
  });
  const start = async (...args: Parameters<typeof startPulse>) => {
    const proc = await startPulse(...args);
    started.push(proc);
    return proc;
  };

  it('`status` prints a table of workers, and `status --json` the same as JSON', async () => {
    const pulse = await start({ workers: 2 });
    const pids = await pulse.workerPids();

    const table = await runCtl(['status'], pulse.env);
    expect(table.code, table.stderr).to.equal(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).to.match(new RegExp(`^pulse healthy: 2/2 workers ready, database connected, redis connected; primary pid ${pulse.pid}, up \\d+s$`));
    expect(lines[1]!.split(/\s+/)).to.deep.equal(['ID', 'PID', 'GEN', 'STATE', 'UPTIME', 'RSS', 'INFLIGHT', 'HEALTH']);
    expect(lines).to.have.length(4);
    for (const [index, pid] of pids.entries()) {
      expect(lines[2 + index]).to.match(new RegExp(`^\\d+\\s+${pid}\\s+1\\s+ready\\s+\\d+s\\s+[\\d.]+MB\\s+\\d+\\s+ok$`));
    }

    const json = await runCtl(['status', '--json'], pulse.env);
    expect(json.code, json.stderr).to.equal(0);
    const status = JSON.parse(json.stdout) as StatusJson;
    expect(status.primaryPid).to.equal(pulse.pid);
    expect(status.rollingRestart).to.equal(false);
    expect(status.health.httpStatus).to.equal(200);
    expect(status.health.body.workers).to.deep.equal({ expected: 2, ready: 2 });
    expect(status.workers.map((w) => w.pid)).to.have.members(pids);
    for (const worker of status.workers) {
      expect(worker.status).to.equal('ready');
      expect(worker.rss_bytes).to.be.above(1024 * 1024);
      expect(worker.inflight).to.be.a('number');
    }
  });

  it('`npx pulse ctl status --socket PATH` works from the install directory, whatever CONTROL_SOCKET says; so does the pre-`ctl` form units still run', async () => {
    const pulse = await start({ workers: 1 });
    const elsewhere = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', CONTROL_SOCKET: path.join(tempDir(), 'not-here.sock') };
    // --offline: the package's own bin, never a registry lookup.
    const npx = spawnSync('npx', ['--offline', 'pulse', 'ctl', 'status', '--socket', pulse.env.CONTROL_SOCKET!], { cwd: PROJECT_ROOT, env: elsewhere, encoding: 'utf8' });
    expect(npx.status, npx.stderr).to.equal(0);
    expect(npx.stdout).to.match(new RegExp(`^pulse healthy: 1/1 workers ready, .*primary pid ${pulse.pid}`));

    const socketFirst = await runCtl(['--socket', pulse.env.CONTROL_SOCKET!, 'status', '--json'], elsewhere);
    expect(socketFirst.code, socketFirst.stderr).to.equal(0);
    expect((JSON.parse(socketFirst.stdout) as StatusJson).primaryPid).to.equal(pulse.pid);
    const withoutSocket = await runCtl(['status'], elsewhere);
    expect(withoutSocket.code).to.equal(ExitCode.unavailable);
    expect(withoutSocket.stderr).to.include(elsewhere.CONTROL_SOCKET);

    const legacy = await runPulseCommand(['status', '--json'], pulse.env);
    expect(legacy.code, legacy.stderr).to.equal(0);
    expect((JSON.parse(legacy.stdout) as StatusJson).primaryPid).to.equal(pulse.pid);
  });

  it('says clearly when pulse is not running, and rejects bad usage', async () => {
    const socketPath = path.join(tempDir(), 'nothing.sock');
    const env = { PATH: process.env.PATH ?? '', CONTROL_SOCKET: socketPath };
    const missing = await runCtl(['status'], env);
    expect(missing.code).to.equal(69);
    expect(missing.stderr.trim()).to.equal(`pulse ctl status: pulse is not running (no control socket at ${socketPath})`);

    await staleSocketAt(socketPath);
    const stale = await runCtl(['reload'], env);
    expect(stale.code).to.equal(69);
    expect(stale.stderr).to.include('pulse is not running (nothing answers on the control socket');

    for (const args of [[], ['restart'], ['scale'], ['scale', '0'], ['scale', 'two'], ['wait-ready', '--timeout', 'soon'], ['status', '--colour'], ['reload', '--json'], ['status', '--timeout', '5'], ['status', '--socket'], ['status', '--socket', '']]) {
      const usage = await runCtl(args, env);
      expect(usage.code, args.join(' ')).to.equal(64);
      expect(usage.stderr).to.include('usage: pulse ctl <command>');
    }
  });

  it('a caller without permission on the control socket gets exit 77 and what to do; the primary is unaffected', async () => {
    const pulse = await start({ workers: 1 });
    const socketPath = pulse.env.CONTROL_SOCKET!;
    let denied: { code: number | null; stderr: string };
    if (process.getuid?.() === 0) {
      // Permissions do not stop root: ask as nobody, who cannot enter the socket's 0700 directory.
      const asNobody = spawnSync(process.execPath, [CLI_ENTRY, 'ctl', 'status'], {
        cwd: PROJECT_ROOT,
        env: { PATH: process.env.PATH ?? '', CONTROL_SOCKET: socketPath },
        uid: 65534,
        gid: 65534,
        encoding: 'utf8',
      });
      denied = { code: asNobody.status, stderr: asNobody.stderr };
    } else {
      fs.chmodSync(socketPath, 0);
      try {
        denied = await runCtl(['status'], pulse.env);
      } finally {
        fs.chmodSync(socketPath, 0o600);
      }
    }
    expect(denied.code, denied.stderr).to.equal(ExitCode.noPermission);
    expect(denied.stderr.trim()).to.equal(
      `pulse ctl status: permission denied on the control socket ${socketPath}: run this as the service user (for example: sudo -u pulse ...)`,
    );
    const status = await runCtl(['status'], pulse.env);
    expect(status.code, status.stderr).to.equal(0);
  });

  it('`wait-ready` waits for a primary that is still starting (no socket yet) until every worker is ready', async () => {
    const socketPath = path.join(tempDir(), 'later', 'pulse.sock');
    // NODE_DEBUG=net: ctl's connection attempts show on its stderr.
    const waiting = new CtlRun(['wait-ready', '--timeout', '30000'], { PATH: process.env.PATH ?? '', CONTROL_SOCKET: socketPath, NODE_DEBUG: 'net' });
    const attempts = () => waiting.stderr.split(`attempting to connect to ${socketPath}`).length - 1;
    let pulse: PulseProcess;
    try {
      // Two attempts: the first found no socket, and ctl kept waiting instead of giving up.
      await waitFor(() => attempts() >= 2, 'ctl to try the missing socket twice');
      expect(fs.existsSync(socketPath)).to.equal(false);
      pulse = await start({ workers: 2, env: { CONTROL_SOCKET: socketPath }, waitHealthy: false });
    } catch (error) {
      waiting.child.kill();
      throw error;
    }
    const waited = await waiting.done;
    expect(waited.code, waited.stderr).to.equal(0);
    expect(waited.stdout.trim()).to.equal('pulse is ready: 2/2 workers, /health 200');
    const health = await fetch(`${pulse.adminUrl}/health`);
    expect(health.status).to.equal(200);
    expect(((await health.json()) as { workers: { ready: number } }).workers.ready).to.equal(2);
  });

  it('`wait-ready` fails after its timeout when pulse never comes up', async () => {
    const env = { PATH: process.env.PATH ?? '', CONTROL_SOCKET: path.join(tempDir(), 'pulse.sock') };
    const startedAt = Date.now();
    const waited = await runCtl(['wait-ready', '--timeout', '700'], env);
    expect(waited.code).to.equal(1);
    expect(waited.stderr).to.include('pulse was not ready within 700 ms (last: pulse is not running (no control socket at');
    expect(Date.now() - startedAt).to.be.below(5000);
  });

  it('creates the socket 0600 in a 0700 directory and removes it on exit', async () => {
    const dir = path.join(tempDir(), 'run', 'pulse');
    const socketPath = path.join(dir, 'pulse.sock');
    const pulse = await start({ workers: 1, env: { CONTROL_SOCKET: socketPath } });
    const stat = fs.lstatSync(socketPath);
    expect(stat.isSocket()).to.equal(true);
    expect(stat.mode & 0o777).to.equal(0o600);
    expect(fs.statSync(dir).mode & 0o777).to.equal(0o700);
    pulse.signal('SIGTERM');
    expect((await pulse.waitExit()).code).to.equal(0);
    expect(fs.existsSync(socketPath)).to.equal(false);
  });

  it('replaces a stale socket file at start, but refuses to start next to a live primary (exit 73)', async () => {
    const socketPath = path.join(tempDir(), 'pulse.sock');
    await staleSocketAt(socketPath);
    const first = await start({ workers: 1, env: { CONTROL_SOCKET: socketPath } });
    expect((await runCtl(['status'], first.env)).code).to.equal(0);

    const second = await start({ workers: 1, env: { CONTROL_SOCKET: socketPath }, waitHealthy: false });
    const exit = await second.waitExit(15_000);
    // Its own code (EX_CANTCREAT), listed in pm2's stop_exit_codes: retrying cannot help.
    expect(exit.code).to.equal(ExitCode.controlSocketInUse);
    const fatal = second.logs.find((l) => l.level === 60);
    expect(fatal?.msg).to.equal(
      `cannot open the control socket: another pulse primary is already running on the control socket ${socketPath}; stop it first or set CONTROL_SOCKET to another path`,
    );
    // The live primary still owns its socket.
    const status = await runCtl(['status', '--json'], first.env);
    expect(status.code, status.stderr).to.equal(0);
    expect((JSON.parse(status.stdout) as StatusJson).primaryPid).to.equal(first.pid);
  });

  it('refuses to replace a path that is not a socket', async () => {
    const filePath = path.join(tempDir(), 'pulse.sock');
    fs.writeFileSync(filePath, 'not a socket');
    const pulse = await start({ workers: 1, env: { CONTROL_SOCKET: filePath }, waitHealthy: false });
    expect((await pulse.waitExit(15_000)).code).to.equal(1);
    expect(pulse.logs.find((l) => l.level === 60)?.msg).to.include('exists and is not a socket; refusing to replace it');
    expect(fs.readFileSync(filePath, 'utf8')).to.equal('not a socket');
  });

  it('answers a malformed request with an error line instead of hanging', async () => {
    const pulse = await start({ workers: 1 });
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(pulse.env.CONTROL_SOCKET!);
      let data = '';
      socket.on('data', (chunk) => (data += chunk.toString()));
      socket.on('end', () => resolve(data));
      socket.on('error', reject);
      socket.write('{"command":"explode"}\n');
    });
    expect(JSON.parse(reply)).to.deep.equal({
      type: 'failed',
      reason: 'refused',
      error: 'unknown command "explode" (expected one of: reload, status, scale)',
    });
    await waitFor(async () => (await fetch(`${pulse.adminUrl}/health`)).status === 200, 'pulse to stay healthy');
  });
});
