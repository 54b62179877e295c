/** Raised when an operation did not settle within its deadline. */
export class DeadlineError extends Error {
  constructor(what: string, ms: number) {
    super(`${what} did not answer within ${ms} ms`);
    this.name = 'DeadlineError';
  }
}

/**
 * Settles like `operation`, or rejects with a DeadlineError after `ms`. The operation
 * itself is not cancelled: a late answer is simply ignored.
 */
export function withDeadline<T>(operation: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DeadlineError(what, ms)), ms);
  });
  return Promise.race([operation, deadline]).finally(() => clearTimeout(timer));
}
