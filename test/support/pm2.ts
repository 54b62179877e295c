import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT, isAlive } from './pulse-process.js';

const PM2_CLI = path.join(PROJECT_ROOT, 'node_modules/pm2/bin/pm2');

/** What `pm2 jlist` says of one process (the fields the tests and the benchmark read). */
export interface Pm2Process {
  name: string;
  pid: number;
  pm_id: number;
  pm2_env: {
    status: string;
    exec_mode: string;
    restart_time: number;
    exit_code?: number;
    pm_out_log_path: string;
    pm_err_log_path: string;
    kill_timeout: number;
    stop_exit_codes?: number[];
  };
}

export interface Pm2Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * The real pm2 CLI (this checkout's devDependency) with the environment given, whose
 * PM2_HOME is a private directory: it neither sees nor touches any other pm2 on the machine.
 */
export class Pm2Cli {
  constructor(readonly env: Record<string, string> & { PM2_HOME: string }) {}

  run(...args: string[]): Promise<Pm2Result> {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, [PM2_CLI, ...args], { cwd: PROJECT_ROOT, env: this.env, stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      child.once('close', (code) => resolve({ code, stdout, stderr }));
    });
  }

  async list(): Promise<Pm2Process[]> {
    const { stdout } = await this.run('jlist');
    return JSON.parse(stdout.slice(stdout.indexOf('['))) as Pm2Process[];
  }

  /** Stops the daemon and everything it runs; kills the daemon by pid if it will not go. */
  async kill(): Promise<void> {
    await this.run('kill');
    const pidFile = path.join(this.env.PM2_HOME, 'pm2.pid');
    if (!fs.existsSync(pidFile)) return;
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    if (pid && isAlive(pid)) process.kill(pid, 'SIGKILL');
  }
}
