/** What an operator asks of the primary with a signal. */
export type SignalCommand = 'stop' | 'reload' | 'scale-up' | 'scale-down';

const COMMAND_OF = {
  SIGTERM: 'stop',
  SIGINT: 'stop',
  SIGHUP: 'reload',
  SIGTTIN: 'scale-up',
  SIGTTOU: 'scale-down',
} as const satisfies Partial<Record<NodeJS.Signals, SignalCommand>>;

export type HandledSignal = keyof typeof COMMAND_OF;

export interface QueuedSignal {
  signal: HandledSignal;
  command: SignalCommand;
}

/**
 * gunicorn's SIG_QUEUE: a signal handler only records the signal and wakes the
 * primary's loop, which handles queued signals in order. Installed at the very start, so
 * that no signal ever takes its default action (SIGHUP would kill the primary).
 */
export class SignalQueue {
  private readonly queue: QueuedSignal[] = [];

  install(wake: () => void): void {
    for (const signal of Object.keys(COMMAND_OF) as HandledSignal[]) {
      process.on(signal, () => {
        this.queue.push({ signal, command: COMMAND_OF[signal] });
        wake();
      });
    }
  }

  take(): QueuedSignal[] {
    return this.queue.splice(0);
  }
}
