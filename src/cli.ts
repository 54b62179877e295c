#!/usr/bin/env node
/**
 * `pulse`, the operator's command (package.json "bin"; `npx pulse ...` in the install
 * directory, or `node dist/src/cli.js ...`).
 *   pulse ctl <command> [--socket PATH]   operate the running primary (reload, status, scale, wait-ready)
 *   pulse check-config                    validate the configuration; exit 0 or 78, starts nothing
 *   pulse config                          print the effective configuration, secrets redacted
 *   pulse --version
 * A ctl command without `ctl` in front (`cli.js reload`) still works: systemd units and
 * scripts written for earlier releases run it that way.
 */
import fs from 'node:fs';
import { checkConfig, printConfig } from './cli/config-commands.js';
import { CTL_COMMANDS, runCtl } from './cli/ctl.js';
import { print } from './cli/output.js';
import { ExitCode } from './shared/exit-codes.js';

const USAGE = `usage: pulse <command>

commands:
  ctl <command> [--socket PATH]  operate the running primary: reload, status, scale, wait-ready
                                 (pulse ctl --help for details)
  check-config                   validate the environment (and the file PULSE_ENV_FILE names):
                                 exit 0, or 78 with the reason; starts nothing
  config                         print the effective configuration as JSON, secrets redacted
  --version                      print the version`;

function version(): string {
  const manifest = JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return manifest.version;
}

function usageError(message: string): number {
  process.stderr.write(`pulse: ${message}\n\n${USAGE}\n`);
  return ExitCode.usage;
}

/** For commands that take no arguments at all. */
function withoutArguments(command: string, rest: string[], run: () => number): number {
  return rest.length === 0 ? run() : usageError(`${command} takes no arguments (got ${rest.join(' ')})`);
}

async function main([command, ...rest]: string[]): Promise<number> {
  switch (command) {
    case 'ctl':
      return runCtl(rest);
    case 'check-config':
      return withoutArguments(command, rest, () => checkConfig());
    case 'config':
      return withoutArguments(command, rest, () => printConfig());
    case '--version':
    case '-v':
    case 'version':
      return withoutArguments(command, rest, () => (print(`pulse ${version()}`), ExitCode.ok));
    case '--help':
    case '-h':
    case 'help':
      print(USAGE);
      return ExitCode.ok;
    case undefined:
      return usageError('missing command');
    default:
      if (CTL_COMMANDS.includes(command)) return runCtl([command, ...rest]);
      return usageError(`unknown command ${JSON.stringify(command)}`);
  }
}

process.exitCode = await main(process.argv.slice(2));
