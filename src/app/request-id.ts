import { randomUUID } from 'node:crypto';

export const REQUEST_ID_HEADER = 'X-Request-Id';

/**
 * What an incoming X-Request-Id may be to be kept: up to 128 characters from the sets
 * tracing systems use (UUIDs, hex, base64, dotted or colon-separated ids). Anything else
 * could break log lines or headers downstream, or grow without bound.
 */
const ACCEPTED_REQUEST_ID = /^[A-Za-z0-9._:+/=@-]{1,128}$/;

export function newRequestId(): string {
  return randomUUID();
}

/** The caller's request id when it is well formed, otherwise a new one. */
export function requestIdFor(incoming: string | undefined): string {
  return incoming !== undefined && ACCEPTED_REQUEST_ID.test(incoming) ? incoming : newRequestId();
}
