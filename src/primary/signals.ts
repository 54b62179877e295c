import type { Logger } from '../shared/logger.js';
import type { Supervisor } from './supervisor.js';

const OPERATOR_SIGNALS = ['SIGHUP', 'SIGTTIN', 'SIGTTOU'] as const;
const STOP_SIGNALS = ['SIGTERM', 'SIGINT'] as const;

/**
 * Until the supervisor runs (migrations, sockets), a stop signal simply exits (nothing to
 * drain yet) and SIGHUP/SIGTTIN/SIGTTOU are ignored instead of killing the primary, which
 * is their default. Returns the function that removes these handlers.
 */
export function holdSignalsDuringStartup(log: Logger): () => void {
  const handlers = new Map<NodeJS.Signals, () => void>();
  for (const signal of OPERATOR_SIGNALS) {
    handlers.set(signal, () => log.warn({ signal }, 'signal ignored: the primary is still starting'));
  }
  for (const signal of STOP_SIGNALS) {
    handlers.set(signal, () => {
      log.info({ signal }, 'stopped before any worker was started');
      process.exit(0);
    });
  }
  for (const [signal, handler] of handlers) process.on(signal, handler);
  return () => {
    for (const [signal, handler] of handlers) process.off(signal, handler);
  };
}

export interface SignalDeps {
  log: Logger;
  supervisor: Supervisor;
  onDrainStart: () => void;
  closeAdmin: () => Promise<void>;
}

/**
 * SIGTERM/SIGINT: coordinated shutdown (a second one forces exit). SIGHUP: rolling
 * restart. SIGTTIN/SIGTTOU: one worker more or fewer.
 */
export function installSignalHandlers({ log, supervisor, onDrainStart, closeAdmin }: SignalDeps): void {
  let shutdownStarted = false;

  const shutdown = async (signal: NodeJS.Signals) => {
    if (shutdownStarted) {
      log.warn({ signal }, 'second signal during shutdown: killing workers and exiting now');
      supervisor.killAll();
      process.exit(130);
    }
    shutdownStarted = true;
    onDrainStart();
    log.info({ signal, workers: supervisor.workers.size }, 'shutdown started');
    const result = await supervisor.shutdown();
    await closeAdmin();
    if (result.clean) {
      log.info({ durationMs: result.durationMs }, 'shutdown complete: every worker drained');
      process.exit(0);
    }
    for (const problem of result.problems) log.error({ problem }, 'shutdown was not clean');
    log.error({ durationMs: result.durationMs, problems: result.problems.length }, 'shutdown finished with problems');
    process.exit(1);
  };

  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGHUP', () => {
    if (shutdownStarted) return;
    supervisor
      .rollingRestart((line) => log.info(line))
      .catch((error: Error) => log.warn({ err: { message: error.message } }, 'rolling restart refused'));
  });
  // Signals that arrive while a scaling runs add up (three SIGTTIN: three more workers)
  // and are applied when it ends, instead of being refused.
  let scaleTarget: number | undefined;
  let applyingScale = false;
  const applyScaleTarget = async () => {
    applyingScale = true;
    while (scaleTarget !== undefined && !shutdownStarted) {
      const target = scaleTarget;
      try {
        await supervisor.scale(target);
      } catch (error) {
        log.warn({ err: { message: (error as Error).message }, workers: target }, 'scaling refused');
        scaleTarget = undefined;
      }
      if (scaleTarget === target) scaleTarget = undefined;
    }
    applyingScale = false;
  };
  const scaleBy = (delta: number) => {
    if (shutdownStarted) return;
    scaleTarget = Math.max(1, (scaleTarget ?? supervisor.expected) + delta);
    if (!applyingScale) void applyScaleTarget();
  };
  process.on('SIGTTIN', () => scaleBy(1));
  process.on('SIGTTOU', () => scaleBy(-1));
}
