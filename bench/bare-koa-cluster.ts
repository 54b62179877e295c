/**
 * The bare Koa baseline as a node:cluster: WORKERS copies of bare-koa-app.ts behind the
 * primary's round-robin, like Pulse's workers. Prints `ready` once every worker listens.
 * SIGTERM/SIGINT stop the workers (SIGKILL after 2 s) and then the primary.
 */
import cluster from 'node:cluster';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const STOP_GRACE_MS = 2000;
const workers = Number(process.env.WORKERS ?? 2);

cluster.setupPrimary({ exec: path.join(path.dirname(fileURLToPath(import.meta.url)), 'bare-koa-app.js') });

let listening = 0;
cluster.on('listening', () => {
  listening += 1;
  if (listening === workers) process.stdout.write('ready\n');
});
cluster.on('exit', (worker, code, signal) => {
  if (!stopping) process.stderr.write(`bare koa worker ${worker.process.pid} exited (${signal ?? code})\n`);
  if (Object.keys(cluster.workers ?? {}).length === 0 && stopping) process.exit(0);
});
for (let i = 0; i < workers; i += 1) cluster.fork();

let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  const running = Object.values(cluster.workers ?? {});
  if (running.length === 0) process.exit(0);
  for (const worker of running) worker?.process.kill('SIGTERM');
  setTimeout(() => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGKILL');
    process.exit(0);
  }, STOP_GRACE_MS).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
