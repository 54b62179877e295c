import { loadConfig, type Config } from '../shared/config.js';

/**
 * Settings only a restart of the primary can change: what it listens on, how many workers it
 * starts with (`pulse ctl scale` changes that at run time), and what the supervisor itself
 * reads (its timeouts and budgets). A reload reports a change to one of them and keeps the
 * old value for the new workers too, so that every worker agrees with the primary.
 */
export const RESTART_ONLY_VARIABLES = [
  'PORT',
  'HOST',
  'ADMIN_PORT',
  'ADMIN_HOST',
  'WORKERS',
  'CONTROL_SOCKET',
  'PULSE_ENV_FILE',
  'SHUTDOWN_TIMEOUT_MS',
  'SHUTDOWN_DELAY_MS',
  'HEALTH_REPORT_INTERVAL_MS',
  'WORKER_HEARTBEAT_TIMEOUT_MS',
  'WORKER_READY_TIMEOUT_MS',
  'WORKER_RESPAWN_BACKOFF_MAX_MS',
  'MAX_WORKER_MEMORY_MB',
  'MAX_REQUESTS_PER_WORKER',
  'DATABASE_POOL_MAX',
] as const;

export interface NeedsRestart {
  variable: string;
  running: string;
  file: string;
}

export interface ReloadPlan {
  /** The configuration the new workers run with (validated). */
  config: Config;
  /** What to set in the new workers' environment over the primary's own (empty: unset). */
  workerEnv: Record<string, string>;
  needsRestart: NeedsRestart[];
}

/**
 * The environment a reload gives the new workers: the primary's environment as it started,
 * with the variables that came from the environment file at start replaced by what the file
 * says now (a variable removed from the file is unset, as systemd would on a restart).
 * Throws ConfigError, naming the variable, when the result is not a valid configuration.
 */
export function planReload(startEnv: NodeJS.ProcessEnv, startFileVariables: ReadonlySet<string>, fileNow: Record<string, string>): ReloadPlan {
  const next: Record<string, string> = {};
  for (const [name, value] of Object.entries(startEnv)) {
    if (value !== undefined && !startFileVariables.has(name)) next[name] = value;
  }
  Object.assign(next, fileNow);
  loadConfig(next);
  const needsRestart: NeedsRestart[] = [];
  for (const variable of RESTART_ONLY_VARIABLES) {
    const running = startEnv[variable] ?? '';
    const wanted = next[variable] ?? '';
    if (wanted === running) continue;
    needsRestart.push({ variable, running, file: wanted });
    if (running === '') delete next[variable];
    else next[variable] = running;
  }
  const workerEnv: Record<string, string> = {};
  for (const name of new Set([...startFileVariables, ...Object.keys(fileNow)])) workerEnv[name] = next[name] ?? '';
  return { config: loadConfig(next), workerEnv, needsRestart };
}
