/** Bad command line: the command prints its usage and exits 64. */
export class UsageError extends Error {}

export const print = (line: string) => process.stdout.write(`${line}\n`);
