import { z } from 'zod';
import type { KeysetPosition } from '../db/entries-repository.js';
import createError from 'http-errors';

export const INVALID_CURSOR = 'Invalid cursor';

/** The cursor's JSON inside the base64url wrapper: created_at (ISO, ms) and id of the last row. */
const cursorPayload = z.object({
  t: z.iso.datetime({ precision: 3 }),
  i: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
});

/** Opaque to clients; stable as long as the (created_at, id) order is. */
export function encodeCursor(position: KeysetPosition): string {
  return Buffer.from(JSON.stringify({ t: position.createdAt.toISOString(), i: position.id })).toString('base64url');
}

export function decodeCursor(cursor: string): KeysetPosition {
  if (!/^[A-Za-z0-9_-]{1,200}$/.test(cursor)) throw createError(400, INVALID_CURSOR);
  let payload: unknown;
  try {
    payload = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw createError(400, INVALID_CURSOR);
  }
  const parsed = cursorPayload.safeParse(payload);
  const createdAt = parsed.success ? new Date(parsed.data.t) : undefined;
  if (!parsed.success || !createdAt || Number.isNaN(createdAt.getTime())) throw createError(400, INVALID_CURSOR);
  return { createdAt, id: parsed.data.i };
}
