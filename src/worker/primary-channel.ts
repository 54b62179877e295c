import {
  isPrimaryMessage,
  workerMessage,
  type HealthAnswer,
  type PrimaryMessage,
  type WorkerMessageBody,
} from '../shared/ipc-protocol.js';

type Handler = (message: PrimaryMessage) => void;

/** The worker's side of the IPC protocol: typed send, typed receive, health round trips. */
export class PrimaryChannel {
  private nextRequestId = 1;
  private readonly pendingHealth = new Map<number, (answer: HealthAnswer | undefined) => void>();
  private readonly handlers: Handler[] = [];

  constructor() {
    process.on('message', (raw: unknown) => {
      if (!isPrimaryMessage(raw)) return;
      if (raw.type === 'health-response') {
        this.pendingHealth.get(raw.requestId)?.(raw.answer);
        this.pendingHealth.delete(raw.requestId);
        return;
      }
      for (const handler of this.handlers) handler(raw);
    });
  }

  get connected(): boolean {
    return Boolean(process.connected && process.send);
  }

  onMessage(handler: Handler): void {
    this.handlers.push(handler);
  }

  /** Sends a message; resolves once it has been handed to the channel (or it is gone). */
  send(body: WorkerMessageBody): Promise<boolean> {
    return new Promise((resolve) => {
      if (!this.connected) return resolve(false);
      try {
        process.send!(workerMessage(body), undefined, {}, (error) => resolve(!error));
      } catch {
        resolve(false);
      }
    });
  }

  /** Asks the primary for the combined health; undefined when it does not answer in time. */
  async requestHealth(timeoutMs: number): Promise<HealthAnswer | undefined> {
    const requestId = this.nextRequestId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pendingHealth.delete(requestId);
        resolve(undefined);
      }, timeoutMs);
      this.pendingHealth.set(requestId, (answer) => {
        clearTimeout(timer);
        resolve(answer);
      });
      void this.send({ type: 'health-request', requestId }).then((sent) => {
        if (!sent) this.pendingHealth.get(requestId)?.(undefined);
      });
    });
  }
}
