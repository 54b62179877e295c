const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH',
  // Postgres: admin shutdown, cannot connect now, connection failures.
  '57P01', '57P03', '08000', '08001', '08003', '08004', '08006',
]);

/** Errors that mean Postgres cannot be reached right now, not that a statement or the configuration is wrong. */
export function isDatabaseUnreachable(error: unknown): boolean {
  const e = error as { code?: unknown; name?: unknown; message?: unknown } | undefined;
  if (typeof e?.code === 'string' && UNREACHABLE_CODES.has(e.code)) return true;
  if (e?.name === 'KnexTimeoutError') return true;
  return /Connection terminated|timeout expired|connect ECONNREFUSED|Timeout acquiring a connection/i.test(String(e?.message ?? ''));
}
