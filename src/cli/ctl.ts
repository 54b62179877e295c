/**
 * `pulse ctl`: talks to a running primary over its control socket (CONTROL_SOCKET, or
 * --socket PATH).
 *   reload                      rolling restart; blocks until it ends, prints progress
 *   status [--json]             workers, pids, uptimes, memory, health
 *   scale <N>                   sets the number of workers; blocks until done
 *   wait-ready [--timeout <ms>] blocks until every expected worker is ready (a dependency down does not hold it)
 */
import { parseArgs } from 'node:util';
import { controlSocketPath } from '../shared/config.js';
import type { StatusOutcome } from '../shared/control-protocol.js';
import { ExitCode } from '../shared/exit-codes.js';
import { ControlError, sendControlCommand, type ClientFailure } from './control-client.js';
import { describeHealth, formatStatus } from './status-table.js';
import { UsageError, print } from './output.js';

export const CTL_COMMANDS = ['reload', 'status', 'scale', 'wait-ready'];

export const CTL_USAGE = `usage: pulse ctl <command> [--socket PATH]

commands:
  reload                       rolling restart, one worker at a time; blocks until it ends
  status [--json]              workers with pid, state, uptime, memory, in-flight requests, health
  scale <N>                    run N workers; blocks until done
  wait-ready [--timeout <ms>]  wait until every expected worker is ready, even if a dependency is down (default 60000 ms)

The control socket is --socket PATH, else CONTROL_SOCKET (default ./var/pulse.sock, relative
to the working directory).`;

const EXIT_BY_FAILURE: Record<ClientFailure, number> = {
  failed: ExitCode.failure,
  refused: ExitCode.failure,
  timeout: ExitCode.failure,
  busy: ExitCode.busy,
  'boot-error': ExitCode.software,
  config: ExitCode.config,
  'not-running': ExitCode.unavailable,
  denied: ExitCode.noPermission,
};

const STATUS_TIMEOUT_MS = 5000;
const WAIT_READY_DEFAULT_TIMEOUT_MS = 60_000;
const WAIT_READY_POLL_MS = 250;

function positiveInteger(value: string | undefined, what: string): number {
  const number = Number(value);
  if (value === undefined || !/^\d+$/.test(value) || !Number.isSafeInteger(number) || number < 1) {
    throw new UsageError(`${what} must be a whole number of at least 1 (got ${JSON.stringify(value ?? '')})`);
  }
  return number;
}

async function reload(socketPath: string): Promise<void> {
  const result = await sendControlCommand(socketPath, { command: 'reload' }, { onProgress: print });
  print(`rolling restart finished: ${result.replaced}/${result.total} workers replaced in ${(result.durationMs / 1000).toFixed(1)} s`);
}

async function status(socketPath: string, json: boolean): Promise<void> {
  const result = await sendControlCommand(socketPath, { command: 'status' }, { timeoutMs: STATUS_TIMEOUT_MS });
  print(json ? JSON.stringify(result, null, 2) : formatStatus(result));
}

async function scale(socketPath: string, workers: number): Promise<void> {
  const result = await sendControlCommand(socketPath, { command: 'scale', workers }, { onProgress: print });
  print(`pulse now runs ${result.workers} worker(s)`);
}

/**
 * Ready means every expected worker serves. A dependency that is down (Redis, Postgres) does
 * not hold the start: the service runs degraded, as it would if the dependency failed later,
 * and /health and the alerts say so.
 */
function readiness(status: StatusOutcome): string | undefined {
  const { body } = status.health;
  if (body.workers.ready >= body.workers.expected) return undefined;
  return describeHealth(body);
}

/**
 * Polls until pulse is fully ready. A socket that does not exist yet, or refuses, only
 * means the primary is still starting: keep trying until the deadline.
 */
async function waitReady(socketPath: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  for (;;) {
    const remaining = deadline - Date.now();
    if (remaining <= 0) break;
    try {
      const current = await sendControlCommand(socketPath, { command: 'status' }, { timeoutMs: Math.min(STATUS_TIMEOUT_MS, remaining) });
      if (current.shuttingDown) throw new ControlError('failed', 'pulse is shutting down');
      const notReady = readiness(current);
      if (!notReady) {
        const { body, httpStatus } = current.health;
        const degraded = httpStatus === 200 ? '/health 200' : `degraded, /health ${httpStatus}: database ${body.database}, redis ${body.redis}`;
        print(`pulse is ready: ${body.workers.ready}/${body.workers.expected} workers, ${degraded}`);
        return;
      }
      last = notReady;
    } catch (error) {
      if (!(error instanceof ControlError) || !['not-running', 'timeout'].includes(error.reason)) throw error;
      last = error.message;
    }
    await new Promise((resolve) => setTimeout(resolve, Math.min(WAIT_READY_POLL_MS, Math.max(0, deadline - Date.now()))));
  }
  throw new ControlError('timeout', `pulse was not ready within ${timeoutMs} ms (last: ${last})`);
}

async function ctl(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      json: { type: 'boolean', default: false },
      timeout: { type: 'string' },
      socket: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [command, ...rest] = positionals;
  if (values.help || command === 'help') {
    print(CTL_USAGE);
    return ExitCode.ok;
  }
  if (values.json && command !== 'status') throw new UsageError('--json is an option of status only');
  if (values.timeout !== undefined && command !== 'wait-ready') throw new UsageError('--timeout is an option of wait-ready only');
  if (values.socket === '') throw new UsageError('--socket needs a path');
  const socketPath = controlSocketPath(values.socket ?? process.env.CONTROL_SOCKET);
  const expectArguments = (count: number) => {
    if (rest.length !== count) throw new UsageError(`${command} takes ${count || 'no'} argument${count === 1 ? '' : 's'}`);
  };
  switch (command) {
    case 'reload':
      expectArguments(0);
      await reload(socketPath);
      return ExitCode.ok;
    case 'status':
      expectArguments(0);
      await status(socketPath, values.json);
      return ExitCode.ok;
    case 'scale':
      expectArguments(1);
      await scale(socketPath, positiveInteger(rest[0], 'the worker count'));
      return ExitCode.ok;
    case 'wait-ready': {
      expectArguments(0);
      const timeout = values.timeout === undefined ? WAIT_READY_DEFAULT_TIMEOUT_MS : positiveInteger(values.timeout, '--timeout');
      await waitReady(socketPath, timeout);
      return ExitCode.ok;
    }
    case undefined:
      throw new UsageError('missing command');
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  }
}

function describeFailure(command: string | undefined, error: unknown): number {
  if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
    process.stderr.write(`pulse ctl: ${(error as Error).message}\n\n${CTL_USAGE}\n`);
    return ExitCode.usage;
  }
  if (error instanceof ControlError) {
    const prefix = command === 'reload' && (error.reason === 'failed' || error.reason === 'boot-error') ? 'rolling restart failed: ' : '';
    process.stderr.write(`pulse ctl ${command}: ${prefix}${error.message}\n`);
    return EXIT_BY_FAILURE[error.reason];
  }
  process.stderr.write(`pulse ctl: unexpected error: ${(error as Error).message}\n`);
  return ExitCode.failure;
}

/** Runs `pulse ctl <argv>`; resolves with the exit code, having printed what went wrong. */
export function runCtl(argv: string[]): Promise<number> {
  const command = argv.find((arg, index) => !arg.startsWith('-') && argv[index - 1] !== '--socket' && argv[index - 1] !== '--timeout');
  return ctl(argv).catch((error: unknown) => describeFailure(command, error));
}
