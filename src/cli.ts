/**
 * `pulse ctl`: talks to a running primary over its control socket (CONTROL_SOCKET).
 *   reload                      rolling restart; blocks until it ends, prints progress
 *   status [--json]             workers, pids, uptimes, memory, health
 *   scale <N>                   sets the number of workers; blocks until done
 *   wait-ready [--timeout <ms>] blocks until every worker is ready and /health is 200
 */
import { parseArgs } from 'node:util';
import { ControlError, sendControlCommand, type ClientFailure } from './cli/control-client.js';
import { describeHealth, formatStatus } from './cli/status-table.js';
import { controlSocketPath } from './shared/config.js';
import type { StatusOutcome } from './shared/control-protocol.js';

const USAGE = `usage: pulse ctl <command>

commands:
  reload                       rolling restart, one worker at a time; blocks until it ends
  status [--json]              workers with pid, state, uptime, memory, in-flight requests, health
  scale <N>                    run N workers; blocks until done
  wait-ready [--timeout <ms>]  wait until every expected worker is ready, even if a dependency is down (default 60000 ms)

The control socket is CONTROL_SOCKET (default ./var/pulse.sock, relative to the working directory).`;

/** sysexits-style codes so that scripts and systemd can tell failures apart. */
const EXIT = { ok: 0, failed: 1, usage: 64, unavailable: 69, software: 70, tempfail: 75, noperm: 77 } as const;

const EXIT_BY_FAILURE: Record<ClientFailure, number> = {
  failed: EXIT.failed,
  refused: EXIT.failed,
  timeout: EXIT.failed,
  busy: EXIT.tempfail,
  'boot-error': EXIT.software,
  'not-running': EXIT.unavailable,
  denied: EXIT.noperm,
};

const STATUS_TIMEOUT_MS = 5000;
const WAIT_READY_DEFAULT_TIMEOUT_MS = 60_000;
const WAIT_READY_POLL_MS = 250;

class UsageError extends Error {}

const print = (line: string) => process.stdout.write(`${line}\n`);

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

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { json: { type: 'boolean', default: false }, timeout: { type: 'string' }, help: { type: 'boolean', short: 'h', default: false } },
  });
  const [command, ...rest] = positionals;
  if (values.help || command === 'help') {
    print(USAGE);
    return EXIT.ok;
  }
  if (values.json && command !== 'status') throw new UsageError('--json is an option of status only');
  if (values.timeout !== undefined && command !== 'wait-ready') throw new UsageError('--timeout is an option of wait-ready only');
  const socketPath = controlSocketPath(process.env.CONTROL_SOCKET);
  const expectArguments = (count: number) => {
    if (rest.length !== count) throw new UsageError(`${command} takes ${count || 'no'} argument${count === 1 ? '' : 's'}`);
  };
  switch (command) {
    case 'reload':
      expectArguments(0);
      await reload(socketPath);
      return EXIT.ok;
    case 'status':
      expectArguments(0);
      await status(socketPath, values.json);
      return EXIT.ok;
    case 'scale':
      expectArguments(1);
      await scale(socketPath, positiveInteger(rest[0], 'the worker count'));
      return EXIT.ok;
    case 'wait-ready': {
      expectArguments(0);
      const timeout = values.timeout === undefined ? WAIT_READY_DEFAULT_TIMEOUT_MS : positiveInteger(values.timeout, '--timeout');
      await waitReady(socketPath, timeout);
      return EXIT.ok;
    }
    case undefined:
      throw new UsageError('missing command');
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  }
}

function describeFailure(command: string | undefined, error: unknown): number {
  if (error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
    process.stderr.write(`pulse ctl: ${(error as Error).message}\n\n${USAGE}\n`);
    return EXIT.usage;
  }
  if (error instanceof ControlError) {
    const prefix = command === 'reload' && (error.reason === 'failed' || error.reason === 'boot-error') ? 'rolling restart failed: ' : '';
    process.stderr.write(`pulse ctl ${command}: ${prefix}${error.message}\n`);
    return EXIT_BY_FAILURE[error.reason];
  }
  process.stderr.write(`pulse ctl: unexpected error: ${(error as Error).message}\n`);
  return EXIT.failed;
}

const args = process.argv.slice(2);
process.exitCode = await main(args).catch((error: unknown) => describeFailure(args.find((arg) => !arg.startsWith('-')), error));
