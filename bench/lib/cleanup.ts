/**
 * Everything the benchmark starts registers how to stop it here; run.ts runs the list
 * (newest first) when it ends, fails or is interrupted, so no process or database outlives it.
 */
type CleanupTask = { name: string; run: () => Promise<void> };

const tasks: CleanupTask[] = [];
const TASK_TIMEOUT_MS = 20_000;

/** Registers a cleanup; the returned function runs it now (once) and unregisters it. */
export function onCleanup(name: string, run: () => Promise<void>): () => Promise<void> {
  const task = { name, run };
  tasks.push(task);
  return async () => {
    const index = tasks.indexOf(task);
    if (index < 0) return;
    tasks.splice(index, 1);
    await run();
  };
}

export async function cleanupAll(report: (line: string) => void): Promise<void> {
  while (tasks.length > 0) {
    const task = tasks.pop()!;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        task.run(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`timed out after ${TASK_TIMEOUT_MS} ms`)), TASK_TIMEOUT_MS);
        }),
      ]);
    } catch (error) {
      report(`cleanup "${task.name}" failed: ${(error as Error).message}`);
    } finally {
      clearTimeout(timer);
    }
  }
}
