import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * One JSON line per event on stdout, with pid and role (`primary` or `worker-<id>`).
 * Anything that may carry a secret is redacted by path.
 */
export function createLogger(role: string, level: string): Logger {
  return pino({
    level,
    base: { pid: process.pid, role },
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
  });
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
