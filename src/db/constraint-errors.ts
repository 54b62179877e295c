/**
 * The constraint violations the repositories turn into domain errors, as each database
 * names them: Postgres by SQLSTATE, SQLite (better-sqlite3) by extended result code.
 */
const VIOLATIONS = {
  unique: ['23505', 'SQLITE_CONSTRAINT_UNIQUE', 'SQLITE_CONSTRAINT_PRIMARYKEY'],
  foreignKey: ['23503', 'SQLITE_CONSTRAINT_FOREIGNKEY'],
} as const;

export type ConstraintViolation = keyof typeof VIOLATIONS;

export function violates(error: unknown, violation: ConstraintViolation): boolean {
  const code = (error as { code?: unknown } | undefined)?.code;
  return (VIOLATIONS[violation] as readonly unknown[]).includes(code);
}
