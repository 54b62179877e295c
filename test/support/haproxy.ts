import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './ports.js';
import { PROJECT_ROOT } from './pulse-process.js';
import { waitFor } from './wait.js';

/** Debian's haproxy package. */
export const HAPROXY_BINARY = '/usr/sbin/haproxy';
/** The configuration operators install (docs/OPERATIONS.md, "Behind a load balancer"), run here as is. */
export const PULSE_HAPROXY_CONFIG = path.join(PROJECT_ROOT, 'deploy/haproxy/pulse.cfg');
/** Debian's own configuration, which pulse.cfg is loaded after in production. */
export const DEBIAN_HAPROXY_CONFIG = '/etc/haproxy/haproxy.cfg';

export function haproxyInstalled(): boolean {
  try {
    fs.accessSync(HAPROXY_BINARY, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** `haproxy -c` on these files, in this order, with these variables in its environment. */
export function checkHaproxyConfig(files: string[], env: Record<string, string> = {}): { status: number | null; output: string } {
  const args = ['-c', ...files.flatMap((file) => ['-f', file])];
  const result = spawnSync(HAPROXY_BINARY, args, { encoding: 'utf8', env: { PATH: process.env.PATH ?? '', ...env } });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

/** One Pulse host as pulse.cfg names it: its API port and its admin port (readiness checks). */
export interface PulseServer {
  port: number;
  adminPort: number;
}

export type ServerName = 'pulse-a' | 'pulse-b';

const running = new Set<Haproxy>();
const LOG_TAIL_LINES = 300;

/**
 * HAProxy in the foreground (`-db`) with pulse.cfg in front of two local Pulse hosts. A
 * small global section of its own gives it a stats socket (to read server states instead
 * of sleeping) and logs on stdout; pulse.cfg's values come from the environment.
 */
export class Haproxy {
  /** The last lines HAProxy wrote (its request log and its server state changes). */
  readonly output: string[] = [];
  private readonly exited: Promise<void>;

  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
    private readonly statsSocket: string,
    private readonly dir: string,
  ) {
    const keep = (chunk: Buffer) => {
      this.output.push(...chunk.toString().split('\n').filter(Boolean));
      this.output.splice(0, Math.max(0, this.output.length - LOG_TAIL_LINES));
    };
    child.stdout!.on('data', keep);
    child.stderr!.on('data', keep);
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
    running.add(this);
  }

  static async start(servers: Record<ServerName, PulseServer>, options: { checkInter: string }): Promise<Haproxy> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pulse-haproxy-'));
    const statsSocket = path.join(dir, 'admin.sock');
    const globalConfig = path.join(dir, 'global.cfg');
    fs.writeFileSync(globalConfig, ['global', `    stats socket ${statsSocket} mode 600 level admin`, '    log stdout format raw local0', ''].join('\n'));
    const port = await freePort();
    const env = {
      PATH: process.env.PATH ?? '',
      PULSE_LB_BIND: `127.0.0.1:${port}`,
      PULSE_CHECK_INTER: options.checkInter,
      PULSE_A: `127.0.0.1:${servers['pulse-a'].port}`,
      PULSE_A_ADMIN_PORT: String(servers['pulse-a'].adminPort),
      PULSE_B: `127.0.0.1:${servers['pulse-b'].port}`,
      PULSE_B_ADMIN_PORT: String(servers['pulse-b'].adminPort),
    };
    const child = spawn(HAPROXY_BINARY, ['-db', '-f', globalConfig, '-f', PULSE_HAPROXY_CONFIG], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const haproxy = new Haproxy(child, port, statsSocket, dir);
    await waitFor(async () => (await haproxy.serverStatuses()).size === 2, 'HAProxy answering on its stats socket', 10_000, 50).catch((error: Error) => {
      throw new Error(`${error.message}; HAProxy said:\n${haproxy.output.join('\n')}`);
    });
    return haproxy;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** One command on the stats socket (non-interactive: HAProxy answers, then closes). */
  command(line: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = net.createConnection(this.statsSocket);
      let answer = '';
      socket.setEncoding('utf8');
      socket.once('connect', () => socket.write(`${line}\n`));
      socket.on('data', (chunk: string) => (answer += chunk));
      socket.once('end', () => resolve(answer));
      socket.once('error', reject);
    });
  }

  /**
   * Each server's status in backend `pulse` from `show stat`: `UP`, `DOWN`, or a transition
   * such as `UP 1/2` (failed one check of `fall`) or `DOWN 1/2` (passed one of `rise`).
   */
  async serverStatuses(): Promise<Map<string, string>> {
    const [header, ...rows] = (await this.command('show stat')).trim().split('\n');
    const columns = header!.replace(/^# /, '').split(',');
    const column = (name: string) => columns.indexOf(name);
    const statuses = new Map<string, string>();
    for (const row of rows.map((r) => r.split(','))) {
      const server = row[column('svname')]!;
      if (row[column('pxname')] === 'pulse' && server.startsWith('pulse-')) statuses.set(server, row[column('status')]!);
    }
    return statuses;
  }

  /** Resolves when HAProxy counts the server fully UP or DOWN (not in a transition). */
  async waitForServer(server: ServerName, status: 'UP' | 'DOWN', timeoutMs = 15_000): Promise<void> {
    await waitFor(async () => (await this.serverStatuses()).get(server) === status, `HAProxy to see ${server} ${status}`, timeoutMs, 25);
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGTERM');
      const killed = setTimeout(() => this.child.kill('SIGKILL'), 3000);
      await this.exited;
      clearTimeout(killed);
    }
    running.delete(this);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Stops every HAProxy this run started and did not stop (root after hook). */
export async function stopAllHaproxy(): Promise<void> {
  await Promise.all([...running].map((haproxy) => haproxy.stop()));
}
