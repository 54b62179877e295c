import net from 'node:net';
import readline from 'node:readline';
import {
  encodeLine,
  parseControlReply,
  type ControlFailure,
  type ControlOutcomes,
  type ControlRequest,
} from '../shared/control-protocol.js';

/** Why a command did not succeed, as seen from the CLI. */
export type ClientFailure = ControlFailure | 'not-running' | 'denied' | 'timeout';

export class ControlError extends Error {
  constructor(
    readonly reason: ClientFailure,
    message: string,
  ) {
    super(message);
    this.name = 'ControlError';
  }
}

export interface SendOptions {
  onProgress?: (message: string) => void;
  /** Gives up (and closes the connection) after this long; none by default. */
  timeoutMs?: number;
}

function connectError(socketPath: string, error: NodeJS.ErrnoException): ControlError {
  switch (error.code) {
    case 'ENOENT':
      return new ControlError('not-running', `pulse is not running (no control socket at ${socketPath})`);
    case 'ECONNREFUSED':
      return new ControlError('not-running', `pulse is not running (nothing answers on the control socket ${socketPath}; it was left by a primary that died)`);
    case 'EACCES':
    case 'EPERM':
      return new ControlError('denied', `permission denied on the control socket ${socketPath}: run this as the service user (for example: sudo -u pulse ...)`);
    default:
      return new ControlError('failed', `cannot talk to pulse on ${socketPath}: ${error.message}`);
  }
}

/**
 * Sends one command to the primary and resolves with its result; progress lines are
 * handed to `onProgress` as they arrive. Rejects with a ControlError saying why not.
 */
export function sendControlCommand<R extends ControlRequest>(
  socketPath: string,
  request: R,
  options: SendOptions = {},
): Promise<ControlOutcomes[R['command']]> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(socketPath);
    const lines = readline.createInterface({ input: socket, crlfDelay: Infinity });
    lines.on('error', () => undefined); // the socket's own 'error' below says what happened
    let settled = false;
    const settle = (outcome: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      outcome();
    };
    const timer = options.timeoutMs === undefined ? undefined : setTimeout(
      () => settle(() => reject(new ControlError('timeout', `no answer from pulse within ${options.timeoutMs} ms`))),
      options.timeoutMs,
    );
    let connected = false;
    socket.once('connect', () => {
      connected = true;
      socket.write(encodeLine(request));
    });
    socket.on('error', (error: NodeJS.ErrnoException) => {
      settle(() => reject(connected ? new ControlError('failed', `connection to pulse lost: ${error.message}`) : connectError(socketPath, error)));
    });
    socket.on('close', () => {
      settle(() => reject(new ControlError('failed', 'pulse closed the control connection without an answer (did the primary exit?)')));
    });
    lines.on('line', (line) => {
      if (settled || line.trim() === '') return;
      let reply;
      try {
        reply = parseControlReply(line);
      } catch (error) {
        return settle(() => reject(new ControlError('failed', (error as Error).message)));
      }
      if (reply.type === 'progress') options.onProgress?.(reply.message);
      else if (reply.type === 'done') settle(() => resolve(reply.result as ControlOutcomes[R['command']]));
      else settle(() => reject(new ControlError(reply.reason, reply.error)));
    });
  });
}
