import type { FixedWindowReply } from '../cache/fixed-window-ratelimiter.js';
import type { RateLimitHit } from '../shared/ipc-protocol.js';
import type { Clock } from './clock.js';

/** Clients with a live window the primary keeps at most (about 150 bytes each). */
export const MAX_RATE_LIMIT_CLIENTS = 100_000;

interface Window {
  count: number;
  /** On the monotonic clock. */
  endsAt: number;
}

export interface RateLimitWindowsOptions {
  /** Times the windows: a wall-clock step neither shortens nor stretches one. */
  monotonic: Clock;
  /** Only for the announced reset (epoch ms), as Redis' TIME is. */
  wall: Clock;
  maxClients?: number;
  /** Called when a client's window is dropped early to stay within maxClients. */
  onEvict?: () => void;
}

/**
 * The single-host store (no REDIS_URL): the primary holds every client's fixed-window
 * counter, and every worker of the host asks it (one IPC message per request), so the limit
 * is exact across the host's workers. Same contract as FIXED_WINDOW_RATELIMITER on Redis:
 * the first hit opens a window of `windowMs`, every hit counts (blocked ones too), the
 * reply is {requests left before this one (0 = blocked), window end (epoch s, rounded up),
 * max, time left in the window (ms)}, and a window longer than the one asked for (the window
 * was shortened by a reload) is cut to it.
 *
 * Bounded and O(1) per hit: a Map keeps windows in the order they opened, which (one window
 * length) is the order they end, so expired ones are dropped from its front as hits arrive;
 * past `maxClients` the oldest window is dropped (that client starts a fresh one: counted by
 * `onEvict`, so an operator sees when the cap is too low).
 */
export class RateLimitWindows {
  private readonly windows = new Map<string, Window>();
  private readonly maxClients: number;

  constructor(private readonly options: RateLimitWindowsOptions) {
    this.maxClients = options.maxClients ?? MAX_RATE_LIMIT_CLIENTS;
  }

  /** Clients with a window held right now (expired ones may linger until the next hit). */
  get size(): number {
    return this.windows.size;
  }

  /** The count of the client's live window, if it has one. */
  countOf(key: string): number | undefined {
    const window = this.liveWindow(key, this.options.monotonic.now());
    return window?.count;
  }

  hit({ key, windowMs, max, peek }: RateLimitHit): FixedWindowReply {
    const now = this.options.monotonic.now();
    this.dropExpired(now);
    let window = this.liveWindow(key, now);
    if (window && window.endsAt - now > windowMs) window.endsAt = now + windowMs;
    let count: number;
    if (peek) {
      count = (window?.count ?? 0) + 1;
    } else {
      window ??= this.open(key, now + windowMs);
      window.count += 1;
      count = window.count;
    }
    const leftMs = window ? Math.ceil(window.endsAt - now) : windowMs;
    return [Math.max(0, max - count + 1), Math.ceil((this.options.wall.now() + leftMs) / 1000), max, leftMs];
  }

  private liveWindow(key: string, now: number): Window | undefined {
    const window = this.windows.get(key);
    if (window && window.endsAt <= now) {
      this.windows.delete(key);
      return undefined;
    }
    return window;
  }

  private open(key: string, endsAt: number): Window {
    if (this.windows.size >= this.maxClients) {
      const oldest = this.windows.keys().next().value as string;
      this.windows.delete(oldest);
      this.options.onEvict?.();
    }
    const window = { count: 0, endsAt };
    this.windows.set(key, window);
    return window;
  }

  private dropExpired(now: number): void {
    for (const [key, window] of this.windows) {
      if (window.endsAt > now) return;
      this.windows.delete(key);
    }
  }
}
