/**
 * The protocol between `pulse ctl` and the primary over the Unix control socket:
 * one JSON object per line. The client sends one request line; the primary answers
 * with any number of `progress` lines and exactly one final `done` or `failed` line,
 * then closes the connection. Separate from the worker IPC protocol on purpose: the
 * two have different peers, lifetimes and trust.
 */
import type { HealthAnswer, HealthWorkerDetail } from './health-types.js';

export type ControlRequest =
  | { command: 'reload' }
  | { command: 'status' }
  | { command: 'scale'; workers: number };

export type ControlCommand = ControlRequest['command'];

export interface ReloadOutcome {
  replaced: number;
  total: number;
  durationMs: number;
}

/** A worker as /health describes it, plus what an operator wants on top. */
export interface WorkerStatus extends HealthWorkerDetail {
  rss_bytes: number | null;
  requests_served: number | null;
}

export interface StatusOutcome {
  primaryPid: number;
  primaryUptimeS: number;
  rollingRestart: boolean;
  shuttingDown: boolean;
  /** Exactly what the admin server's /health answers right now. */
  health: HealthAnswer;
  workers: WorkerStatus[];
}

export interface ScaleOutcome {
  workers: number;
}

export interface ControlOutcomes {
  reload: ReloadOutcome;
  status: StatusOutcome;
  scale: ScaleOutcome;
}

/**
 * Why a command failed, so the CLI can pick an exit code: `busy` (another rollout or
 * scaling runs; retry later), `refused` (shutting down, bad request), `boot-error` (a new
 * worker could not boot: its code is broken), `config` (the environment file the reload read
 * is invalid), `failed` (ran and failed).
 */
export type ControlFailure = 'busy' | 'refused' | 'boot-error' | 'config' | 'failed';

export type ControlReply<C extends ControlCommand = ControlCommand> =
  | { type: 'progress'; message: string }
  | { type: 'done'; result: ControlOutcomes[C] }
  | { type: 'failed'; reason: ControlFailure; error: string };

const COMMANDS = new Set<ControlCommand>(['reload', 'status', 'scale']);

/** Validates one request line; returns a message saying what is wrong instead of throwing. */
export function parseControlRequest(line: string): ControlRequest | { invalid: string } {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return { invalid: 'request is not valid JSON' };
  }
  if (typeof value !== 'object' || value === null) return { invalid: 'request must be a JSON object' };
  const { command, workers } = value as { command?: unknown; workers?: unknown };
  if (typeof command !== 'string' || !COMMANDS.has(command as ControlCommand)) {
    return { invalid: `unknown command ${JSON.stringify(command)} (expected one of: ${[...COMMANDS].join(', ')})` };
  }
  if (command === 'scale') {
    if (typeof workers !== 'number' || !Number.isInteger(workers) || workers < 1) {
      return { invalid: 'scale needs "workers": a whole number of at least 1' };
    }
    return { command, workers };
  }
  return { command: command as 'reload' | 'status' };
}

export function parseControlReply(line: string): ControlReply {
  const value = JSON.parse(line) as ControlReply;
  if (typeof value !== 'object' || value === null || !['progress', 'done', 'failed'].includes(value.type)) {
    throw new Error(`unexpected reply from the primary: ${line.slice(0, 200)}`);
  }
  return value;
}

export function encodeLine(message: ControlRequest | ControlReply): string {
  return `${JSON.stringify(message)}\n`;
}
