import type { HealthBody } from '../../src/shared/health-types.js';
import type { PulseProcess } from './pulse-process.js';
import { parseExposition, type Sample } from './prometheus-text.js';
import { waitFor } from './wait.js';

const REQUEST_TIMEOUT_MS = 5000;

/** A GET on a new connection (Connection: close), so the cluster hands each one to the next worker. */
export async function getFresh(url: string): Promise<{ status: number; text: string; elapsedMs: number }> {
  const started = Date.now();
  const res = await fetch(url, { headers: { Connection: 'close' }, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  return { status: res.status, text: await res.text(), elapsedMs: Date.now() - started };
}

/** Sends `count` GETs one after the other; resolves with how many got each status. */
export async function sendMany(url: string, count: number): Promise<Map<number, number>> {
  const statuses = new Map<number, number>();
  for (let i = 0; i < count; i += 1) {
    const { status } = await getFresh(url);
    statuses.set(status, (statuses.get(status) ?? 0) + 1);
  }
  return statuses;
}

export interface HealthReading {
  httpStatus: number;
  body: HealthBody;
}

/** `/health` from the admin port (default) or from the API port, answered by a worker. */
export async function readHealth(pulse: PulseProcess, via: 'admin' | 'api' = 'admin'): Promise<HealthReading> {
  const base = via === 'admin' ? pulse.adminUrl : pulse.url;
  const { status, text } = await getFresh(`${base}/health`);
  return { httpStatus: status, body: JSON.parse(text) as HealthBody };
}

/** Polls the admin /health until the predicate holds; fails after `withinMs`. */
export async function healthUntil(
  pulse: PulseProcess,
  predicate: (reading: HealthReading) => boolean,
  what: string,
  withinMs: number,
): Promise<HealthReading> {
  let found: HealthReading | undefined;
  await waitFor(async () => {
    const reading = await readHealth(pulse);
    if (predicate(reading)) found = reading;
    return found !== undefined;
  }, what, withinMs, 50);
  return found!;
}

export interface Scrape {
  status: number;
  text: string;
  samples: Sample[];
  elapsedMs: number;
}

export async function scrapeMetrics(pulse: PulseProcess): Promise<Scrape> {
  const { status, text, elapsedMs } = await getFresh(`${pulse.adminUrl}/metrics`);
  return { status, text, samples: status === 200 ? parseExposition(text) : [], elapsedMs };
}
