import {
  isPrimaryMessage,
  workerMessage,
  type PrimaryMessage,
  type WorkerMessageBody,
} from '../shared/ipc-protocol.js';
import type { FixedWindowReply } from '../cache/fixed-window-ratelimiter.js';
import type { PrimaryRateLimitStore } from '../cache/ratelimit-primary-adapter.js';
import type { HealthAnswer } from '../shared/health-types.js';
import type { RateLimitHit } from '../shared/ipc-protocol.js';
import { PendingRequests } from '../shared/pending-requests.js';

type Handler = (message: PrimaryMessage) => void;

/**
 * The worker's side of the IPC protocol: typed send, typed receive, health and rate-limit
 * round trips.
 * Made first thing in the worker, before its code is loaded: messages that arrive before
 * a handler is registered are kept for it instead of being lost.
 */
export class PrimaryChannel implements PrimaryRateLimitStore {
  private readonly healthRequests = new PendingRequests<HealthAnswer>();
  private readonly rateLimitRequests = new PendingRequests<FixedWindowReply>();
  private handler: Handler | undefined;
  private readonly early: PrimaryMessage[] = [];

  constructor() {
    process.on('message', (raw: unknown) => {
      if (!isPrimaryMessage(raw)) return;
      if (raw.type === 'health-response') return this.healthRequests.answer(raw.requestId, raw.answer);
      if (raw.type === 'rate-limit-response') return this.rateLimitRequests.answer(raw.requestId, raw.reply);
      if (this.handler) this.handler(raw);
      else this.early.push(raw);
    });
  }

  get connected(): boolean {
    return Boolean(process.connected && process.send);
  }

  onMessage(handler: Handler): void {
    this.handler = handler;
    for (const message of this.early.splice(0)) handler(message);
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
  requestHealth(timeoutMs: number): Promise<HealthAnswer | undefined> {
    return this.healthRequests.request((requestId) => this.send({ type: 'health-request', requestId }), timeoutMs, undefined);
  }

  /** Counts a request in the primary's rate-limit window (no Redis); undefined when it does not answer in time. */
  countRateLimit(hit: RateLimitHit, timeoutMs: number): Promise<FixedWindowReply | undefined> {
    return this.rateLimitRequests.request((requestId) => this.send({ type: 'rate-limit-request', requestId, hit }), timeoutMs, undefined);
  }
}
