import type { ListenOptions } from 'node:net';
import type { Config } from '../shared/config.js';
import { WorkerEnv } from '../shared/ipc-protocol.js';

/**
 * Where a worker listens: PORT and HOST through the primary (node:cluster's round-robin),
 * or, under systemd socket activation, the inherited socket itself (the worker accepts on
 * its own descriptor, so the socket outlives every worker and the primary).
 */
export function listenTarget(config: Config, env: NodeJS.ProcessEnv = process.env): { options: ListenOptions; description: string } {
  const fd = Number(env[WorkerEnv.listenFd]);
  if (Number.isInteger(fd) && fd > 0) return { options: { fd } as ListenOptions, description: `the socket passed by systemd (fd ${fd})` };
  return { options: { port: config.port, host: config.host }, description: `${config.host}:${config.port}` };
}
