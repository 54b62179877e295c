import { spawnSync } from 'node:child_process';

/**
 * prom-client's default metrics name three gauges `*_total` (Node's active handles,
 * requests and resources). promtool's linter flags that suffix on non-counters; the
 * names are prom-client's own (dashboards rely on them), so these lint notes, and only
 * these, are accepted.
 */
const PROM_CLIENT_TOTAL_GAUGES = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];
const ACCEPTED_LINT = new Set(
  ['', 'pulse_primary_'].flatMap((prefix) =>
    PROM_CLIENT_TOTAL_GAUGES.map((name) => `${prefix}${name} non-counter metrics should not have "_total" suffix`),
  ),
);

export interface PromtoolVerdict {
  /** promtool's exit code: 0 clean, 3 parsed with lint notes, anything else invalid. */
  status: number | null;
  /** Lint notes or errors other than the accepted ones. */
  unexpected: string[];
  /** Set when promtool could not be run (not installed: Debian package `prometheus`). */
  error?: Error;
}

/** Pipes an exposition into `promtool check metrics`. */
export function promtoolCheckMetrics(exposition: string): PromtoolVerdict {
  const result = spawnSync('promtool', ['check', 'metrics'], { input: exposition, encoding: 'utf8' });
  const lines = `${result.stdout ?? ''}${result.stderr ?? ''}`.split('\n').map((line) => line.trim()).filter(Boolean);
  return { status: result.status, unexpected: lines.filter((line) => !ACCEPTED_LINT.has(line)), error: result.error };
}
