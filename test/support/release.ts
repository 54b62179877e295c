import fs from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from './pulse-process.js';

/** A self-contained copy of the built service, as a deploy would lay it out. */
export function makeRelease(dir: string): string {
  fs.cpSync(path.join(PROJECT_ROOT, 'dist'), path.join(dir, 'dist'), { recursive: true });
  fs.copyFileSync(path.join(PROJECT_ROOT, 'package.json'), path.join(dir, 'package.json'));
  fs.symlinkSync(path.join(PROJECT_ROOT, 'node_modules'), path.join(dir, 'node_modules'));
  return dir;
}

/** Puts `code` in front of a compiled file of the release (it runs when the module loads). */
export function prependToModule(release: string, file: string, code: string): void {
  const target = path.join(release, 'dist', file);
  fs.writeFileSync(target, `${code}\n${fs.readFileSync(target, 'utf8')}`);
}

/** "New code": the release's worker entry now answers /ping with a marker. */
export function changeWorkerCode(release: string, marker: string): void {
  // Runs before the entry's own code (import declarations are hoisted, statements are not reordered).
  prependToModule(release, 'workers/http-worker.js', `process.env.PING_MESSAGE = ${JSON.stringify(marker)};`);
}

export function releaseEntry(release: string): string {
  return path.join(release, 'dist/src/primary/main.js');
}
