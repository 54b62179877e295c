import crypto from 'node:crypto';
import type { PulseProcess } from './pulse-process.js';

export interface JsonAnswer {
  status: number;
  headers: Headers;
  body: any;
}

/** One JSON request on a new connection (`Connection: close`), so the cluster hands each to the next worker. */
export async function sendJson(
  pulse: PulseProcess,
  method: string,
  path: string,
  options: { body?: unknown; token?: string; headers?: Record<string, string> } = {},
): Promise<JsonAnswer> {
  const headers: Record<string, string> = { Connection: 'close', ...options.headers };
  if (options.token) headers.Authorization = `Bearer ${options.token}`;
  if (options.body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(`${pulse.url}${path}`, {
    method,
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
    signal: AbortSignal.timeout(20_000),
  });
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: res.status, headers: res.headers, body };
}

/** Registers and logs in a fresh user through the API. */
export async function signUpThrough(pulse: PulseProcess): Promise<{ token: string; userId: number }> {
  const credentials = { email: `user-${crypto.randomUUID()}@example.com`, password: 'secret-password' };
  const registered = await sendJson(pulse, 'POST', '/register', { body: credentials });
  if (registered.status !== 201) throw new Error(`register answered ${registered.status}: ${JSON.stringify(registered.body)}`);
  const login = await sendJson(pulse, 'POST', '/login', { body: credentials });
  if (login.status !== 200) throw new Error(`login answered ${login.status}: ${JSON.stringify(login.body)}`);
  return { token: login.body.token as string, userId: registered.body.user_id as number };
}
