import fs from 'node:fs';
import type { MachineInfo } from './machine.js';

/** met/MISSED: a performance goal; ok/FAILED: a correctness goal (FAILED fails the run). */
export type RowStatus = 'met' | 'MISSED' | 'ok' | 'FAILED' | '';

export interface SummaryRow {
  measure: string;
  value: string;
  goal?: string;
  status?: RowStatus;
}

export interface SectionResult {
  title: string;
  rows: SummaryRow[];
  /** Markdown with the full measurements of the section. */
  details: string;
  /** Correctness goals missed: any makes the run exit non-zero. */
  failures: string[];
}

const RESULTS_START = '<!-- bench:results:start (written by `npm run bench`; edit outside these markers) -->';
const RESULTS_END = '<!-- bench:results:end -->';

function pad(text: string, width: number): string {
  return text + ' '.repeat(Math.max(0, width - text.length));
}

/** The summary as a plain-text table for the terminal. */
export function consoleTable(sections: SectionResult[]): string {
  const header = ['Benchmark', 'Measure', 'Value', 'Goal', 'Status'];
  const lines = sections.flatMap((s) => s.rows.map((r) => [s.title, r.measure, r.value, r.goal ?? '', r.status ?? '']));
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const render = (cells: string[]) => cells.map((cell, i) => pad(cell, widths[i]!)).join(' | ').trimEnd();
  return [render(header), widths.map((w) => '-'.repeat(w)).join('-+-'), ...lines.map(render)].join('\n');
}

const escapeCell = (text: string) => text.replace(/\|/g, '\\|');

export function markdownTable(header: string[], rows: string[][]): string {
  return [
    `| ${header.join(' | ')} |`,
    `| ${header.map(() => '---').join(' | ')} |`,
    ...rows.map((row) => `| ${row.map(escapeCell).join(' | ')} |`),
  ].join('\n');
}

export interface RunReport {
  command: string;
  machine: MachineInfo;
  durationS: number;
  loadBefore: string;
  loadAfter: string;
  sections: SectionResult[];
  failures: string[];
}

export function resultsMarkdown(report: RunReport): string {
  const m = report.machine;
  const summary = markdownTable(
    ['Benchmark', 'Measure', 'Value', 'Goal', 'Status'],
    report.sections.flatMap((s) => s.rows.map((r) => [s.title, r.measure, r.value, r.goal ?? '', r.status ?? ''])),
  );
  return [
    `## Results of the last run`,
    '',
    `- Command: \`${report.command}\``,
    `- Date: ${m.date}; the whole run took ${report.durationS.toFixed(0)} s`,
    `- Machine: nproc ${m.nproc} (${m.cpu}), ${m.memoryGiB} GiB RAM, ${m.os}`,
    `- Software: Node ${m.node}, ${m.postgres}, ${m.redis}, ${m.packages}`,
    `- 1-minute load average: ${report.loadBefore} when the run started (before it added any load: 2 cores, so above ~1 means other work was running), ${report.loadAfter} at the end`,
    `- Correctness goals: ${report.failures.length === 0 ? 'all met' : `**MISSED**: ${report.failures.join('; ')}`}`,
    '',
    '### Summary',
    '',
    summary,
    '',
    ...report.sections.flatMap((s) => [`### ${s.title}`, '', s.details, '']),
  ].join('\n');
}

/** Replaces the generated block of the document (or appends one), keeping the hand-written text. */
export function writeResults(file: string, markdown: string, skeleton: string): void {
  const current = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : skeleton;
  const block = `${RESULTS_START}\n${markdown.trimEnd()}\n${RESULTS_END}`;
  const start = current.indexOf(RESULTS_START);
  const end = current.indexOf(RESULTS_END);
  const next =
    start >= 0 && end > start
      ? `${current.slice(0, start)}${block}${current.slice(end + RESULTS_END.length)}`
      : `${current.trimEnd()}\n\n${block}\n`;
  fs.writeFileSync(file, next);
}
