import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TEST_REDIS_URL } from '../../test/support/databases.js';
import { Pm2Cli } from '../../test/support/pm2.js';
import { freePort } from '../../test/support/ports.js';
import { PROJECT_ROOT } from '../../test/support/pulse-process.js';
import { sleep, waitFor } from '../../test/support/wait.js';
import { BARE_KOA_PATH } from './bare-koa-route.js';
import { onCleanup } from './cleanup.js';

const BENCH_DIST = path.join(PROJECT_ROOT, 'dist/bench');
export const PM2_APP_NAME = 'bare-koa';

export interface HttpTarget {
  port: number;
  url: string;
  path: string;
}

function target(port: number): HttpTarget {
  return { port, url: `http://127.0.0.1:${port}${BARE_KOA_PATH}`, path: BARE_KOA_PATH };
}

async function answers(url: string): Promise<boolean> {
  const res = await fetch(url);
  await res.arrayBuffer();
  return res.status === 200;
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((resolve) => child.once('exit', () => resolve()));
}

/** bare-koa-cluster.js on a free port, in its own process group; resolves once every worker listens. */
export async function startBareKoaCluster(workers: number): Promise<HttpTarget & { pid: number; stop: () => Promise<void> }> {
  const port = await freePort();
  const child = spawn(process.execPath, [path.join(BENCH_DIST, 'bare-koa-cluster.js')], {
    cwd: PROJECT_ROOT,
    env: { PATH: process.env.PATH ?? '', PORT: String(port), WORKERS: String(workers), REDIS_URL: TEST_REDIS_URL },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const stop = onCleanup('bare Koa cluster', async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    await Promise.race([exited(child), sleep(5000)]);
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // the group is gone
    }
  });
  await waitFor(() => output.includes('ready'), `the bare Koa cluster to listen (output: ${output})`, 15_000, 25);
  await waitFor(() => answers(target(port).url), 'the bare Koa cluster to answer', 5000, 50);
  return { ...target(port), pid: child.pid!, stop };
}

/**
 * pm2 in cluster mode running the bare Koa app, with its own PM2_HOME in a temporary
 * directory. kill() stops its daemon and every app it runs, and removes the directory.
 */
export class Pm2 {
  private killed = false;

  private constructor(
    readonly cli: Pm2Cli,
    readonly port: number,
  ) {}

  static async create(): Promise<Pm2> {
    const home = fs.mkdtempSync(path.join(os.tmpdir(), 'pulse-bench-pm2-'));
    const port = await freePort();
    const cli = new Pm2Cli({ PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', PM2_HOME: home, PORT: String(port), HOST: '127.0.0.1' });
    const pm2 = new Pm2(cli, port);
    onCleanup('pm2', () => pm2.kill());
    return pm2;
  }

  get target(): HttpTarget {
    return target(this.port);
  }

  /** `pm2 start bare-koa-app.js -i <workers>` (cluster mode), resolved once all are online and answering. */
  async startCluster(workers: number): Promise<void> {
    const started = await this.cli.run('start', path.join(BENCH_DIST, 'bare-koa-app.js'), '-i', String(workers), '--name', PM2_APP_NAME);
    if (started.code !== 0) throw new Error(`pm2 start failed (${started.code}): ${started.stderr}${started.stdout}`);
    await waitFor(
      async () => (await this.cli.list()).filter((p) => p.pm2_env.status === 'online').length === workers,
      `${workers} pm2 instances online`,
      15_000,
      200,
    );
    await waitFor(() => answers(this.target.url), 'the pm2 app to answer', 10_000, 50);
  }

  /** Idempotent: a second call must not start a daemon again in the removed home. */
  async kill(): Promise<void> {
    if (this.killed) return;
    this.killed = true;
    await this.cli.kill();
    fs.rmSync(this.cli.env.PM2_HOME, { recursive: true, force: true });
  }
}
