import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfigOrExit } from '../shared/config.js';
import { Primary } from './primary.js';

/**
 * Workers are forked through the path the primary was started with, not its realpath
 * (Node resolves symlinks for the main module): after a deploy that swaps a
 * `current -> releases/N` symlink, the next reload forks workers from the new release.
 */
function workerEntry(): string {
  const self = fileURLToPath(import.meta.url);
  const startedAs = process.argv[1] ? path.resolve(process.argv[1]) : undefined;
  let base = self;
  try {
    if (startedAs && fs.realpathSync(startedAs) === self) base = startedAs;
  } catch {
    // started some other way (a process manager's wrapper): use our own location
  }
  return path.resolve(path.dirname(base), '../../workers/http-worker.js');
}

await new Primary(loadConfigOrExit(), workerEntry()).run();
