import type { Logger } from './logger.js';

/** How often a repeating event is summarized. */
export const LOG_SUMMARY_INTERVAL_MS = 5000;
/** Distinct events tracked at once; beyond this they share one entry. */
const MAX_TRACKED_EVENTS = 100;
const OVERFLOW_KEY = '(other events)';

interface Repeats {
  count: number;
  since: number;
  last: object;
  timer: NodeJS.Timeout;
}

/**
 * Logs an event the first time in full, then counts its repeats and writes one summary
 * line per interval while they go on (`<message> (repeated)`, with `repeated`, `overMs`
 * and the last occurrence's fields); after an interval without repeats, the next
 * occurrence is logged in full again. An outage that fails every request writes a few
 * lines, not one per request. Events are grouped by a key chosen by the caller.
 */
export class ThrottledLog {
  private readonly events = new Map<string, Repeats>();

  constructor(
    private readonly log: Logger,
    private readonly level: 'warn' | 'error',
    private readonly intervalMs = LOG_SUMMARY_INTERVAL_MS,
  ) {}

  /**
   * `fields` are logged with `message` the first time (through `via`, e.g. a request's own
   * logger); later occurrences keep only the latest `summary` (default: `fields`) for the
   * interval's summary line.
   */
  record(key: string, message: string, fields: object, summary: object = fields, via: Logger = this.log): void {
    const tracked = this.events.size < MAX_TRACKED_EVENTS || this.events.has(key) ? key : OVERFLOW_KEY;
    const repeats = this.events.get(tracked);
    if (repeats) {
      repeats.count += 1;
      repeats.last = summary;
      return;
    }
    via[this.level](fields, message);
    this.startInterval(tracked, message);
  }

  private startInterval(key: string, message: string): void {
    const repeats: Repeats = { count: 0, since: performance.now(), last: {}, timer: undefined as never };
    repeats.timer = setTimeout(() => {
      this.events.delete(key);
      if (repeats.count === 0) return;
      const overMs = Math.round(performance.now() - repeats.since);
      this.log[this.level]({ ...repeats.last, repeated: repeats.count, overMs }, `${message} (repeated)`);
      this.startInterval(key, message);
    }, this.intervalMs).unref();
    this.events.set(key, repeats);
  }
}
