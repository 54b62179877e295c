import fs from 'node:fs';
import net from 'node:net';
import readline from 'node:readline';
import path from 'node:path';
import {
  encodeLine,
  parseControlRequest,
  type ControlReply,
  type ControlRequest,
  type StatusOutcome,
} from '../shared/control-protocol.js';
import type { HealthAnswer } from '../shared/health-types.js';
import type { Logger } from '../shared/logger.js';
import { ConfigError } from '../shared/config.js';
import { EnvFileError } from '../shared/env-file.js';
import { ShutdownInProgressError, SupervisorBusyError, type RolloutResult, type Supervisor } from './supervisor.js';

/** How long a client may take to send its request line, and how long that line may be. */
const REQUEST_TIMEOUT_MS = 5000;
const MAX_REQUEST_BYTES = 64 * 1024;
/** How long we wait for an answer on an existing socket file before calling it stale. */
const PROBE_TIMEOUT_MS = 1000;

export interface ControlDeps {
  supervisor: Supervisor;
  health: () => HealthAnswer;
  /** The whole reload: the environment file, migrations, then the rolling restart. */
  reload: (onProgress: (line: string) => void) => Promise<RolloutResult>;
  log: Logger;
}

export class ControlSocketInUseError extends Error {
  constructor(readonly socketPath: string) {
    super(`another pulse primary is already running on the control socket ${socketPath}; stop it first or set CONTROL_SOCKET to another path`);
    this.name = 'ControlSocketInUseError';
  }
}

type Reply = (reply: ControlReply) => void;

/** Resolves true when something accepts a connection on the socket path. */
function somethingListensOn(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(socketPath);
    const timer = setTimeout(() => finish(true), PROBE_TIMEOUT_MS); // accepted but silent still means "in use"
    const finish = (live: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(live);
    };
    socket.once('connect', () => finish(true));
    socket.once('error', () => finish(false));
  });
}

/**
 * Makes the socket path usable: creates the directory (0700) and removes a socket
 * file left by a primary that died, but never one another primary still answers on,
 * and never a file that is not a socket.
 */
async function prepareSocketPath(socketPath: string): Promise<void> {
  fs.mkdirSync(path.dirname(socketPath), { recursive: true, mode: 0o700 });
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(socketPath);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  if (!stat.isSocket()) throw new Error(`${socketPath} exists and is not a socket; refusing to replace it`);
  if (await somethingListensOn(socketPath)) throw new ControlSocketInUseError(socketPath);
  fs.unlinkSync(socketPath);
}

/**
 * The primary's control socket: `pulse ctl` commands (reload, status, scale) as
 * line-delimited JSON. Only the service user can connect (socket mode 0600).
 */
export class ControlServer {
  private readonly server: net.Server;
  private socketPath: string | undefined;

  constructor(private readonly deps: ControlDeps) {
    this.server = net.createServer((socket) => this.onConnection(socket));
  }

  async listen(socketPath: string): Promise<void> {
    await prepareSocketPath(socketPath);
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      // bind() happens synchronously in the primary: the umask makes the socket 0600 from
      // its first moment, with no window in which another user could connect.
      const previousUmask = process.umask(0o177);
      try {
        this.server.listen(socketPath, () => {
          this.server.off('error', reject);
          resolve();
        });
      } finally {
        process.umask(previousUmask);
      }
    });
    this.socketPath = socketPath;
    fs.chmodSync(socketPath, 0o600);
  }

  /** Synchronous so that it can run in a process 'exit' handler. */
  removeSocketFile(): void {
    if (!this.socketPath) return;
    try {
      fs.unlinkSync(this.socketPath);
    } catch {
      // already gone
    }
    this.socketPath = undefined;
  }

  private onConnection(socket: net.Socket): void {
    const lines = readline.createInterface({ input: socket, crlfDelay: Infinity });
    lines.on('error', () => undefined); // a client that went away
    let handled = false;
    socket.setTimeout(REQUEST_TIMEOUT_MS, () => {
      if (!handled) socket.destroy();
    });
    socket.on('error', () => undefined); // a client that went away; a running command carries on
    const reply: Reply = (message) => {
      if (!socket.destroyed && socket.writable) socket.write(encodeLine(message));
      if (message.type !== 'progress') socket.end();
    };
    const handle = (respond: () => void) => {
      handled = true;
      socket.setTimeout(0);
      lines.close();
      respond();
    };
    // A client that never sends a newline must not make the primary buffer without end.
    socket.on('data', () => {
      if (!handled && socket.bytesRead > MAX_REQUEST_BYTES) {
        handle(() => reply({ type: 'failed', reason: 'refused', error: `request line longer than ${MAX_REQUEST_BYTES} bytes` }));
      }
    });
    lines.on('line', (line) => {
      if (handled || line.trim() === '') return;
      handle(() => {
        const request = parseControlRequest(line);
        if ('invalid' in request) return reply({ type: 'failed', reason: 'refused', error: request.invalid });
        this.run(request, reply);
      });
    });
  }

  private run(request: ControlRequest, reply: Reply): void {
    const { log } = this.deps;
    if (request.command !== 'status') log.info({ command: request.command }, 'control command received');
    this.execute(request, reply).catch((error: Error) => {
      const reason =
        error instanceof SupervisorBusyError ? 'busy'
        : error instanceof ShutdownInProgressError ? 'refused'
        : error instanceof ConfigError || error instanceof EnvFileError ? 'config'
        : 'failed';
      log.warn({ command: request.command, reason, err: { message: error.message } }, 'control command failed');
      reply({ type: 'failed', reason, error: error.message });
    });
  }

  private async execute(request: ControlRequest, reply: Reply): Promise<void> {
    const { supervisor } = this.deps;
    switch (request.command) {
      case 'status':
        return reply({ type: 'done', result: this.status() });
      case 'reload': {
        const result = await this.deps.reload((message) => reply({ type: 'progress', message }));
        if (result.ok) return reply({ type: 'done', result: { replaced: result.replaced, total: result.total, durationMs: result.durationMs } });
        const summary = `${result.replaced}/${result.total} workers replaced`;
        if (supervisor.isStopping) throw new ShutdownInProgressError(`the rolling restart was stopped by a shutdown (${summary})`);
        const detail = `${result.error ?? 'unknown error'} (${summary}; the remaining old workers keep serving)`;
        if (result.bootError) return reply({ type: 'failed', reason: 'boot-error', error: detail });
        throw new Error(detail);
      }
      case 'scale': {
        // Refused (busy, shutting down) before anything is printed.
        const from = supervisor.desiredWorkers;
        const scaling = supervisor.scaleTo(request.workers);
        reply({ type: 'progress', message: `scaling from ${from} to ${request.workers} workers` });
        const result = await scaling;
        if (supervisor.isStopping) throw new ShutdownInProgressError('the scaling was stopped by a shutdown');
        if (result.ready < result.workers) throw new Error(`scaled to ${result.workers} workers but only ${result.ready} are ready (see the logs)`);
        return reply({ type: 'done', result: { workers: result.workers } });
      }
    }
  }

  private status(): StatusOutcome {
    const { supervisor } = this.deps;
    const health = this.deps.health();
    return {
      primaryPid: process.pid,
      primaryUptimeS: Math.round(process.uptime()),
      rollingRestart: supervisor.isRolling,
      shuttingDown: supervisor.isStopping,
      health,
      workers: health.body.details.map((detail) => {
        const report = supervisor.worker(detail.id)?.lastReport;
        return { ...detail, rss_bytes: report?.rssBytes ?? null, requests_served: report?.requestsServed ?? null };
      }),
    };
  }
}
