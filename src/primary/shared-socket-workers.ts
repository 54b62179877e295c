import { fork } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { WorkerEnv } from '../shared/ipc-protocol.js';
import type { Logger } from '../shared/logger.js';
import { adoptWorker, type WorkerClusterEvents, type WorkerProcess, type WorkerProcesses } from './worker-cluster.js';

/**
 * Workers for systemd socket activation: each one gets the listening socket systemd passed
 * as its own descriptor of the same number and accepts on it directly, so the socket
 * belongs to systemd and outlives every worker and the primary (a restart refuses nothing:
 * connections wait in the kernel's backlog). They are plain child processes, not cluster
 * workers: a cluster worker's listen() on a descriptor would go through the primary.
 * The kernel, not the primary, spreads connections over the workers.
 */
export class SharedSocketWorkers extends EventEmitter<WorkerClusterEvents> implements WorkerProcesses {
  private nextId = 1;

  constructor(
    private readonly entry: string,
    private readonly log: Logger,
    private readonly socketFd: number,
  ) {
    super();
  }

  fork(env?: Record<string, string>): WorkerProcess {
    const id = this.nextId++;
    const stdio = ['inherit', 'inherit', 'inherit', ...Array<'ignore'>(this.socketFd - 3).fill('ignore'), this.socketFd, 'ipc'];
    const child = fork(this.entry, [], { env: { ...process.env, ...env, [WorkerEnv.id]: String(id) }, stdio: stdio as never });
    return adoptWorker(child, id, this, this.log);
  }

  workerReady(): void {}
  workerLeaving(): void {}
  stopping(): void {}

  /** Nothing to stop: each worker closes its own descriptor when it drains; the socket stays open. */
  async stopAccepting(): Promise<void> {}
}
