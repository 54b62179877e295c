import type { Context } from 'koa';
import getRawBody from 'raw-body';
import createError from 'http-errors';
import { INVALID_BODY } from './validation.js';

export const MAX_BODY_BYTES = 64 * 1024;
export const BODY_TOO_LARGE = 'Request body too large';

// The rest of an oversized body is never read: close the connection after answering.
const tooLarge = () => createError(413, BODY_TOO_LARGE, { headers: { Connection: 'close' } });
const invalidBody = () => createError(400, INVALID_BODY);
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/**
 * Reads the request body as JSON, at most `limitBytes`. The Content-Type is not
 * required (clients of the original service sent JSON with curl's form default);
 * compressed bodies are refused rather than inflated.
 */
export async function readJsonBody(ctx: Context, limitBytes = MAX_BODY_BYTES): Promise<unknown> {
  const encoding = ctx.get('Content-Encoding').trim().toLowerCase();
  if (encoding && encoding !== 'identity') throw invalidBody();
  let raw: Buffer;
  try {
    // A declared Content-Length over the limit is refused before anything is read.
    raw = await getRawBody(ctx.req, { limit: limitBytes, length: ctx.request.length });
  } catch (error) {
    if ((error as { type?: string }).type !== 'entity.too.large') throw invalidBody();
    // Read the rest away (not destroyed) so the 413 can still be written.
    ctx.req.resume();
    throw tooLarge();
  }
  try {
    return JSON.parse(utf8.decode(raw));
  } catch {
    throw invalidBody();
  }
}
