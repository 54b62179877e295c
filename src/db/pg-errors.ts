/** The Postgres SQLSTATE codes the repositories turn into domain errors. */
export const SqlState = {
  uniqueViolation: '23505',
  foreignKeyViolation: '23503',
} as const;

export function hasSqlState(error: unknown, code: (typeof SqlState)[keyof typeof SqlState]): boolean {
  return (error as { code?: unknown } | undefined)?.code === code;
}
