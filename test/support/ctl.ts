import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { PROJECT_ROOT } from './pulse-process.js';

export const CLI_ENTRY = path.join(PROJECT_ROOT, 'dist/src/cli.js');

export interface CtlResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `node dist/src/cli.js <argv>` (the `pulse` command) as a child process, output collected as it arrives. */
export class PulseCommandRun {
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly done: Promise<CtlResult>;

  constructor(argv: string[], env: Record<string, string>, cwd = PROJECT_ROOT) {
    this.child = spawn(process.execPath, [CLI_ENTRY, ...argv], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child.stdout!.on('data', (chunk: Buffer) => (this.stdout += chunk.toString()));
    this.child.stderr!.on('data', (chunk: Buffer) => (this.stderr += chunk.toString()));
    this.done = new Promise((resolve) => {
      this.child.once('close', (code) => resolve({ code, stdout: this.stdout, stderr: this.stderr }));
    });
  }

  /** Resolves once stdout contains the text (rejects if the command ends first). */
  async waitForOutput(text: string, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let ended = false;
    void this.done.then(() => (ended = true));
    while (!this.stdout.includes(text)) {
      if (ended) throw new Error(`pulse ended before printing ${JSON.stringify(text)}: ${this.stdout}${this.stderr}`);
      if (Date.now() > deadline) throw new Error(`pulse did not print ${JSON.stringify(text)} within ${timeoutMs} ms: ${this.stdout}${this.stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

/** `pulse ctl <args>`. */
export class CtlRun extends PulseCommandRun {
  constructor(args: string[], env: Record<string, string>) {
    super(['ctl', ...args], env);
  }
}

/** Runs a ctl command to its end with the given environment (CONTROL_SOCKET among it). */
export function runCtl(args: string[], env: Record<string, string>): Promise<CtlResult> {
  return new CtlRun(args, env).done;
}

/** Runs `pulse <argv>` to its end (any subcommand, or a ctl command in its pre-`ctl` form). */
export function runPulseCommand(argv: string[], env: Record<string, string>, cwd?: string): Promise<CtlResult> {
  return new PulseCommandRun(argv, env, cwd).done;
}
