import { format } from 'node:util';

/**
 * What the code under test prints to the console (knex's warnings on an outage, a log tail
 * a harness dumps on failure, a measurement a test reports) is kept per test and shown
 * only with the test that failed, or was skipped (its reason): an expected "Connection
 * Error" from an outage test must not read like a failure. Mocha's reporter keeps its own
 * reference to console.log, so its output is untouched.
 */
const MAX_LINES = 2000;
const CONSOLE_METHODS = ['log', 'info', 'warn', 'error', 'debug'] as const;
const originalLog = console.log.bind(console);
let captured: string[] = [];

/** Prints at once, past the capture: for what every run should show (why a suite is skipped). */
export const printUncaptured = originalLog;

function record(text: string): void {
  captured.push(...text.split('\n'));
  if (captured.length > MAX_LINES) captured.splice(0, captured.length - MAX_LINES);
}

export function captureConsole(): void {
  for (const method of CONSOLE_METHODS) console[method] = (...args: unknown[]) => record(format(...args));
}

/** After each test: what was printed since the previous test ended, shown if this one failed or was skipped. */
export function releaseCapturedOutput(test: Mocha.Runnable | undefined): void {
  const lines = captured;
  captured = [];
  if (!test || lines.length === 0) return;
  if (test.state === 'failed') {
    originalLog(`      output captured during "${test.title}":\n${lines.join('\n')}\n      (end of captured output)`);
  } else if (test.isPending()) {
    originalLog(lines.join('\n'));
  }
}
