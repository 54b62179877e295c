import { spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { POSTGRES, type DatabaseBackend } from './database-backends.js';
import { uniqueRedisPrefix, TEST_REDIS_URL } from './databases.js';
import { freePort } from './ports.js';

export const PROJECT_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const PRIMARY_ENTRY = path.join(PROJECT_ROOT, 'dist/src/primary/main.js');

export interface LogLine {
  level: number;
  pid: number;
  role: string;
  msg: string;
  [key: string]: unknown;
}

/** A pino JSON line, or undefined for any other text. */
function parseLogLine(line: string): LogLine | undefined {
  if (!line.startsWith('{')) return undefined;
  try {
    return JSON.parse(line) as LogLine;
  } catch {
    return undefined;
  }
}

const running = new Set<PulseProcess>();

export interface StartOptions {
  workers?: number;
  /**
   * Default PostgreSQL (a fresh database) and the test Redis; SQLite: the embedded default,
   * DATABASE_URL and REDIS_URL unset, in a temporary working directory.
   */
  database?: DatabaseBackend;
  /** On top of the test defaults; a variable given as undefined is left out (e.g. JWT_SECRET unset). */
  env?: Record<string, string | undefined>;
  /** Start the primary in its own process group (so a test can signal the whole group). */
  detached?: boolean;
  /** Wait until /health answers 200 (default true). */
  waitHealthy?: boolean;
  /** The primary's entry file (default: this checkout's dist/src/primary/main.js). */
  entry?: string;
  /** Start it with this command line instead of `node <entry>` (e.g. README's `npm start`). */
  command?: string[];
  /**
   * Listen on these ports instead of free ones the OS picks: a "host" restarted in place.
   * Whatever listened there before must have exited.
   */
  ports?: { port: number; adminPort: number };
  /**
   * Skip the access log's lines (`"msg":"request"`) instead of parsing and keeping them: a
   * benchmark's millions of requests would fill the harness's memory and compete for its CPU.
   */
  dropAccessLines?: boolean;
}

const ACCESS_LINE_MARK = '"msg":"request"';

/** The real compiled service as a child process, with its logs parsed as they arrive. */
export class PulseProcess {
  /** Every JSON log line, from stdout and stderr, in the order each stream delivered them. */
  readonly logs: LogLine[] = [];
  /** Output lines that are not JSON log lines (config errors, crashes), from either stream. */
  readonly stderr: string[] = [];
  /** The primary's working directory. */
  cwd = PROJECT_ROOT;
  private readonly exitPromise: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;

  constructor(
    readonly child: ChildProcess,
    readonly port: number,
    readonly adminPort: number,
    readonly env: Record<string, string>,
    dropAccessLines = false,
  ) {
    // Log lines come on both streams (errors and fatals on stderr); anything else is text.
    for (const stream of [child.stdout!, child.stderr!]) {
      let buffer = '';
      stream.on('data', (chunk: Buffer) => {
        buffer += chunk.toString();
        let newline: number;
        while ((newline = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, newline);
          buffer = buffer.slice(newline + 1);
          if (dropAccessLines && line.includes(ACCESS_LINE_MARK)) continue;
          const log = parseLogLine(line);
          if (log) this.logs.push(log);
          else this.stderr.push(line);
        }
      });
    }
    this.exitPromise = new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        this.exited = { code, signal };
        running.delete(this);
        resolve(this.exited);
      });
    });
    running.add(this);
  }

  get pid(): number {
    return this.child.pid!;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get adminUrl(): string {
    return `http://127.0.0.1:${this.adminPort}`;
  }

  waitExit(timeoutMs = 20_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    return Promise.race([
      this.exitPromise,
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error(`pulse did not exit within ${timeoutMs} ms; logs:\n${this.tail()}`)), timeoutMs).unref(),
      ),
    ]);
  }

  /** Resolves with the first log line (existing or future) matching the predicate. */
  async waitForLog(predicate: (line: LogLine) => boolean, timeoutMs = 15_000, from = 0): Promise<LogLine> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.logs.slice(from).find(predicate);
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`log line not seen within ${timeoutMs} ms; logs:\n${this.tail()}`);
      if (this.exited) throw new Error(`pulse exited (${JSON.stringify(this.exited)}) before the log line; logs:\n${this.tail()}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  /** Pids of the current workers from the supervisor's own report. */
  async workerPids(): Promise<number[]> {
    const res = await fetch(`${this.adminUrl}/health`);
    const body = (await res.json()) as { details: { pid: number; status: string }[] };
    return body.details.map((d) => d.pid);
  }

  async waitHealthy(timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      if (this.exited) throw new Error(`pulse exited early (${JSON.stringify(this.exited)}):\n${this.tail()}`);
      try {
        const res = await fetch(`${this.adminUrl}/health`);
        last = await res.text();
        if (res.status === 200) return;
      } catch (error) {
        last = (error as Error).message;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`pulse not healthy within ${timeoutMs} ms (last: ${last}); logs:\n${this.tail()}`);
  }

  tail(lines = 40): string {
    return [...this.logs.slice(-lines).map((l) => JSON.stringify(l)), ...this.stderr.slice(-10)].join('\n');
  }

  signal(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  /** Graceful stop, then SIGKILL of the whole group if anything is left. */
  async stop(): Promise<void> {
    if (this.exited) return;
    this.signal('SIGTERM');
    try {
      await this.waitExit(15_000);
    } catch {
      killTree(this);
    }
  }
}

function killTree(proc: PulseProcess): void {
  try {
    process.kill(-proc.pid, 'SIGKILL');
  } catch {
    try {
      proc.child.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
}

export async function startPulse(options: StartOptions = {}): Promise<PulseProcess> {
  const [port, adminPort] = options.ports ? [options.ports.port, options.ports.adminPort] : await Promise.all([freePort(), freePort()]);
  const database = (options.database ?? POSTGRES).forPulse();
  // The control socket's directory, unless the test picked the socket: removed once the primary exits.
  const socketDir = options.env?.CONTROL_SOCKET ? undefined : fs.mkdtempSync(path.join(os.tmpdir(), 'pulse-test-'));
  const withDefaults: Record<string, string | undefined> = {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/tmp',
    NODE_ENV: 'test',
    PORT: String(port),
    HOST: '127.0.0.1',
    ADMIN_PORT: String(adminPort),
    ADMIN_HOST: '127.0.0.1',
    WORKERS: String(options.workers ?? 2),
    REDIS_URL: TEST_REDIS_URL,
    ...database.env,
    REDIS_KEY_PREFIX: uniqueRedisPrefix(),
    JWT_SECRET: 'test-secret-long-enough-for-production-0123',
    LOG_LEVEL: 'info',
    ...(socketDir && { CONTROL_SOCKET: path.join(socketDir, 'pulse.sock') }),
    ...options.env,
  };
  const env = Object.fromEntries(Object.entries(withDefaults).filter((entry): entry is [string, string] => entry[1] !== undefined));
  // Detached: the primary leads its own process group, so the after hook can kill the
  // whole tree, and a test can signal the group like a terminal's Ctrl+C does.
  const [file, ...args] = options.command ?? [process.execPath, options.entry ?? PRIMARY_ENTRY];
  const cwd = database.cwd ?? PROJECT_ROOT;
  const child = spawn(file!, args, {
    cwd,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  if (socketDir) child.once('exit', () => fs.rmSync(socketDir, { recursive: true, force: true }));
  const proc = new PulseProcess(child, port, adminPort, env, options.dropAccessLines);
  proc.cwd = cwd;
  if (options.waitHealthy ?? true) await proc.waitHealthy();
  return proc;
}

/**
 * For a suite whose tests each start their own Pulse: `const pulses = pulsePerTest()` in the
 * suite, `const pulse = await pulses.start(...)` in a test. After each test, every Pulse it
 * started is stopped, and its log tail printed first when the test failed.
 */
export function pulsePerTest(tailLines = 60): { start: (options?: StartOptions) => Promise<PulseProcess> } {
  let started: PulseProcess[] = [];
  afterEach(async function () {
    const failed = this.currentTest?.state === 'failed';
    for (const pulse of started) {
      if (failed) console.log(pulse.tail(tailLines));
      await pulse.stop();
    }
    started = [];
  });
  return {
    start: async (options) => {
      const pulse = await startPulse(options);
      started.push(pulse);
      return pulse;
    },
  };
}

/** Kills every process started by startPulse that is still running (root after hook). */
export async function killAllPulse(): Promise<void> {
  for (const proc of [...running]) {
    killTree(proc);
    await proc.waitExit(5000).catch(() => undefined);
  }
}

/**
 * Whether the process still runs. A zombie (exited, not yet reaped: its parent died and
 * this sandbox's init may be slow to reap orphans) has stopped running: it counts as gone.
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}
