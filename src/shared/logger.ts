import os from 'node:os';
import { pino, type Logger } from 'pino';
import { levelSplitDestination } from './log-destination.js';

export type { Logger };

/**
 * What `err` holds in a log line. An Error keeps its type, message, code, stack and
 * causes (pino's serializer); an AggregateError (a connection to every address of a host
 * refused) gets its inner messages when its own is empty. A plain object is logged as
 * given, anything else as its string.
 */
export function serializeError(error: unknown): unknown {
  if (error instanceof Error) {
    const serialized = pino.stdSerializers.err(error) as ReturnType<typeof pino.stdSerializers.err> & { code?: unknown };
    if (!serialized.message && error instanceof AggregateError) {
      serialized.message = error.errors.map((inner: unknown) => (inner instanceof Error ? inner.message : String(inner))).join('; ');
    }
    const { code } = error as { code?: unknown };
    if (code !== undefined) serialized.code = code;
    return serialized;
  }
  if (typeof error === 'object' && error !== null) return error;
  return { message: String(error) };
}

/**
 * One JSON line per event, with pid, hostname and role (`primary` or `worker-<id>`):
 * errors and fatals on stderr, the rest on stdout (see levelSplitDestination).
 * Anything that may carry a secret is redacted by path.
 */
export function createLogger(role: string, level: string, destination: pino.DestinationStream = levelSplitDestination()): Logger {
  return pino({
    level,
    base: { pid: process.pid, hostname: os.hostname(), role },
    serializers: { err: serializeError },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: {
      paths: [
        'password',
        '*.password',
        'token',
        '*.token',
        'authorization',
        '*.authorization',
        'req.headers.authorization',
        'req.headers.cookie',
        'jwtSecret',
        '*.jwtSecret',
        'databaseUrl',
        '*.databaseUrl',
        'redisUrl',
        '*.redisUrl',
      ],
      censor: '[redacted]',
    },
  }, destination);
}

/** Strips credentials from a connection URL so it can be logged. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '[unparseable url]';
  }
}
