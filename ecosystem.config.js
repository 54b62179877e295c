/**
 * pm2 process file for Pulse (see docs/OPERATIONS.md, "Running under pm2").
 *
 * Pulse does its own clustering, draining and rolling restarts, so pm2 runs ONE primary
 * in fork mode and stays out of the way:
 *   pm2 start ecosystem.config.js        online only once every worker is ready
 *   pm2 sendSignal SIGHUP pulse          zero-downtime rolling restart (not `pm2 reload`,
 *                                        which would restart the whole primary)
 *   pm2 stop pulse                       SIGINT to the primary, which drains its workers
 * Scale with `pulse ctl scale N`, never `pm2 scale` or `instances`: a second primary refuses
 * to start (exit 73) and `pm2 scale pulse 1` deletes the first instance, the healthy one.
 *
 * This package is "type": "module", so this file is an ES module; pm2 loads it with
 * require(), which Node >= 20.19 supports for ES modules: the named export `apps` is what
 * pm2 reads.
 */

/**
 * pm2 reads this file in the environment `pm2 start` runs in, the one Pulse gets: the stop
 * budget follows SHUTDOWN_TIMEOUT_MS (the drain) plus the 3 s a worker has after it to close
 * its pools and exit (src/shared/shutdown-budget.ts), the primary's own exit and headroom. An unusable value keeps the default here; Pulse itself
 * refuses to start with it (exit 78, which pm2 does not restart).
 */
const DEFAULT_SHUTDOWN_TIMEOUT_MS = 5000;
const configuredDrainMs = Number(process.env.SHUTDOWN_TIMEOUT_MS);
const drainMs = Number.isSafeInteger(configuredDrainMs) && configuredDrainMs > 0 ? configuredDrainMs : DEFAULT_SHUTDOWN_TIMEOUT_MS;
// SHUTDOWN_DELAY_MS (deregistration delay) comes first: the host still serves meanwhile.
const configuredDelayMs = Number(process.env.SHUTDOWN_DELAY_MS);
const delayMs = Number.isSafeInteger(configuredDelayMs) && configuredDelayMs > 0 ? configuredDelayMs : 0;
const STOP_BUDGET_MS = delayMs + drainMs + 3000 + 2000 + 5000;

export const apps = [
  {
    name: 'pulse',
    cwd: import.meta.dirname,
    script: 'dist/src/primary/main.js',
    exec_mode: 'fork',
    instances: 1,
    // The primary sends process.send('ready') once every worker is ready.
    wait_ready: true,
    listen_timeout: 120_000,
    // pm2 stops with SIGINT and SIGKILLs after kill_timeout (default 1600 ms, which would cut drains).
    kill_timeout: STOP_BUDGET_MS,
    // Signal the primary only (like systemd's KillMode=mixed): it drains its workers itself.
    treekill: false,
    autorestart: true,
    // Restarting cannot help (src/shared/exit-codes.ts): 78 invalid configuration; 73 another
    // primary already runs on this CONTROL_SOCKET (what a `pm2 scale pulse 2` starts).
    stop_exit_codes: [78, 73],
    exp_backoff_restart_delay: 100,
    max_restarts: 10,
    min_uptime: 10_000,
    // Pulse recycles workers itself (MAX_WORKER_MEMORY_MB, through the rolling path);
    // pm2's max_memory_restart would restart the primary and every worker at once.
    // Everything else (DATABASE_URL, JWT_SECRET, CONTROL_SOCKET, ...) comes from the
    // environment `pm2 start` runs in; CONTROL_SOCKET defaults to var/pulse.sock here.
    env: {
      NODE_ENV: 'production',
    },
  },
];

export default { apps };
