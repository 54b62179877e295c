import fs from 'node:fs';

/**
 * Environment files as systemd's `EnvironmentFile=` reads them (systemd.exec(5)), so that
 * Pulse sees exactly what the unit's processes get:
 * - `NAME=value` per line; blank lines and lines starting with `#` or `;` are ignored;
 * - unquoted values lose leading and trailing whitespace, keep interior whitespace and
 *   quotes, and take backslash escapes (`\x` is `x`; a backslash at the end of a line
 *   continues the value on the next one);
 * - `'...'` is literal and may span lines; `"..."` may span lines and unescapes
 *   `\"`, `\\`, `` \` `` and `\$` (other backslashes stay); quoted and unquoted parts join;
 * - a later assignment of the same name wins. There is no `export`, no `${VAR}` expansion
 *   and no comment after a value (`A=1 # no` sets `1 # no`).
 *
 * What systemd silently ignores or swallows (a line without `=`, an invalid name such as
 * `export FOO`, a quote never closed) is returned as a problem with its line number.
 */

export interface EnvFileProblem {
  line: number;
  message: string;
}

export interface ParsedEnvFile {
  /** The variables systemd would set, by name. */
  variables: Record<string, string>;
  problems: EnvFileProblem[];
}

export class EnvFileError extends Error {
  constructor(
    readonly file: string,
    readonly problem: EnvFileProblem | undefined,
    reason: string,
  ) {
    super(`invalid environment file ${file}: ${reason}`);
    this.name = 'EnvFileError';
  }
}

const VALID_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const isNewline = (c: string) => c === '\n' || c === '\r';
const isBlank = (c: string) => c === ' ' || c === '\t' || isNewline(c);
/** The characters a backslash escapes inside double quotes, as in a POSIX shell. */
const DOUBLE_QUOTE_ESCAPABLE = new Set(['"', '\\', '`', '$']);

type State = 'before-name' | 'name' | 'before-value' | 'value' | 'value-escape' | 'single-quoted' | 'double-quoted' | 'double-quoted-escape' | 'comment';

export function parseEnvFile(text: string): ParsedEnvFile {
  const variables: Record<string, string> = {};
  const problems: EnvFileProblem[] = [];
  let state: State = 'before-name';
  let line = 1;
  let name = '';
  let nameLine = 1;
  let quoteLine = 1;
  let value = '';
  /** Length of `value` without its trailing unquoted, unescaped whitespace. */
  let kept = 0;

  const append = (c: string, keep: boolean) => {
    value += c;
    if (keep) kept = value.length;
  };
  const assign = (trimTrailing: boolean) => {
    const key = name.trimEnd();
    if (VALID_NAME.test(key)) variables[key] = trimTrailing ? value.slice(0, kept) : value;
    else problems.push({ line: nameLine, message: `${JSON.stringify(key)} is not a valid variable name (systemd ignores the assignment${key.startsWith('export ') ? '; `export` is not supported' : ''})` });
    name = '';
    value = '';
    kept = 0;
  };

  for (const c of text) {
    switch (state) {
      case 'before-name':
        if (c === '#' || c === ';') state = 'comment';
        else if (!isBlank(c)) {
          state = 'name';
          name = c;
          nameLine = line;
        }
        break;
      case 'name':
        if (isNewline(c)) {
          problems.push({ line: nameLine, message: `no "=" in ${JSON.stringify(name.trimEnd())} (systemd ignores the line)` });
          name = '';
          state = 'before-name';
        } else if (c === '=') state = 'before-value';
        else name += c;
        break;
      case 'before-value':
        if (isNewline(c)) {
          assign(false);
          state = 'before-name';
        } else if (c === "'") {
          state = 'single-quoted';
          quoteLine = line;
        } else if (c === '"') {
          state = 'double-quoted';
          quoteLine = line;
        } else if (c === '\\') state = 'value-escape';
        else if (!isBlank(c)) {
          state = 'value';
          append(c, true);
        }
        break;
      case 'value':
        if (isNewline(c)) {
          assign(true);
          state = 'before-name';
        } else if (c === '\\') {
          // Whitespace before a backslash is part of the value (also before a continuation).
          kept = value.length;
          state = 'value-escape';
        } else append(c, !isBlank(c));
        break;
      case 'value-escape':
        state = 'value';
        if (!isNewline(c)) append(c, true);
        break;
      case 'single-quoted':
        if (c === "'") state = 'before-value';
        else append(c, true);
        break;
      case 'double-quoted':
        if (c === '"') state = 'before-value';
        else if (c === '\\') state = 'double-quoted-escape';
        else append(c, true);
        break;
      case 'double-quoted-escape':
        state = 'double-quoted';
        if (DOUBLE_QUOTE_ESCAPABLE.has(c)) append(c, true);
        else if (c !== '\n') append(`\\${c}`, true);
        break;
      case 'comment':
        if (isNewline(c)) state = 'before-name';
        break;
    }
    if (c === '\n') line += 1;
  }

  switch (state) {
    case 'name':
      problems.push({ line: nameLine, message: `no "=" in ${JSON.stringify(name.trimEnd())} (systemd ignores the line)` });
      break;
    case 'single-quoted':
    case 'double-quoted':
    case 'double-quoted-escape':
      problems.push({ line: quoteLine, message: `quote opened here is never closed (systemd would take the rest of the file as the value of ${name.trimEnd()})` });
      assign(false);
      break;
    case 'before-value':
    case 'value-escape':
      assign(false);
      break;
    case 'value':
      assign(true);
      break;
  }
  return { variables, problems };
}

/** The first line of `bytes` that is not valid UTF-8, if any (systemd ignores such assignments). */
function firstInvalidUtf8Line(bytes: Buffer): number | undefined {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let start = 0;
  for (let line = 1; start <= bytes.length; line += 1) {
    const end = bytes.indexOf(0x0a, start);
    const stop = end === -1 ? bytes.length : end;
    try {
      decoder.decode(bytes.subarray(start, stop));
    } catch {
      return line;
    }
    start = stop + 1;
  }
  return undefined;
}

/** Reads and parses an environment file; throws EnvFileError if it cannot be read. */
export function readEnvFile(file: string): ParsedEnvFile {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (error) {
    throw new EnvFileError(file, undefined, `cannot read it (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  const parsed = parseEnvFile(bytes.toString('utf8'));
  const invalidLine = firstInvalidUtf8Line(bytes);
  if (invalidLine !== undefined) parsed.problems.unshift({ line: invalidLine, message: 'not valid UTF-8' });
  return parsed;
}

/**
 * The variables of an environment file, for a process that applies it (`pulse
 * check-config`, and the primary when it re-reads the file). Throws EnvFileError naming
 * the first problem's line: a file systemd would read differently from what its author meant
 * is refused rather than half applied.
 */
export function loadEnvFile(file: string): Record<string, string> {
  const { variables, problems } = readEnvFile(file);
  const first = problems.sort((a, b) => a.line - b.line)[0];
  if (first) throw new EnvFileError(file, first, `line ${first.line}: ${first.message}`);
  return variables;
}
