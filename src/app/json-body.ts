import type { IncomingMessage } from 'node:http';
import type { Context } from 'koa';
import { HttpError } from './errors.js';
import { INVALID_BODY } from './validation.js';

export const MAX_BODY_BYTES = 64 * 1024;
export const BODY_TOO_LARGE = 'Request body too large';

// The rest of an oversized body is never read: close the connection after answering.
const tooLarge = () => new HttpError(413, BODY_TOO_LARGE, { Connection: 'close' });
const invalidBody = () => new HttpError(400, INVALID_BODY);
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/**
 * Reads the request body as JSON, at most `limitBytes`. The Content-Type is not
 * required (clients of the original service sent JSON with curl's form default);
 * compressed bodies are refused rather than inflated.
 */
export async function readJsonBody(ctx: Context, limitBytes = MAX_BODY_BYTES): Promise<unknown> {
  const declaredLength = ctx.request.length;
  if (declaredLength !== undefined && declaredLength > limitBytes) throw tooLarge();
  const encoding = ctx.get('Content-Encoding').trim().toLowerCase();
  if (encoding && encoding !== 'identity') throw invalidBody();

  const raw = await readLimited(ctx.req, limitBytes);
  try {
    return JSON.parse(utf8.decode(raw));
  } catch {
    throw invalidBody();
  }
}

function readLimited(req: IncomingMessage, limitBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('aborted', onError);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limitBytes) {
        cleanup();
        // Keep the socket flowing (not destroyed) so the 413 can still be written.
        req.resume();
        reject(tooLarge());
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks, size));
    };
    const onError = () => {
      cleanup();
      reject(invalidBody());
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('aborted', onError);
  });
}
