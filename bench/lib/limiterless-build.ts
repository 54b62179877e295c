import fs from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../../test/support/pulse-process.js';
import { onCleanup } from './cleanup.js';

/** The line of the compiled app (dist/src/app/app.js) that mounts the rate limiter. */
const LIMITER_MOUNT = 'app.use(rateLimit(deps));';

/**
 * An ablation build, for measurement only: a copy of dist/ whose app does not mount the
 * shared rate limiter, so the benchmark can show what page 1 would reach without its Redis
 * round trip. Pulse itself has no switch for that (the limiter is part of the contract).
 * The copy lives under the project (.bench-tmp/, git-ignored) so that it resolves the
 * project's node_modules; it is removed when the benchmark ends. Returns the copy's primary.
 */
export function limiterlessBuild(): string {
  const parent = path.join(PROJECT_ROOT, '.bench-tmp');
  const root = path.join(parent, `limiterless-${process.pid}`);
  fs.rmSync(root, { recursive: true, force: true });
  fs.cpSync(path.join(PROJECT_ROOT, 'dist'), root, { recursive: true });
  onCleanup('remove the limiterless build', async () => {
    fs.rmSync(root, { recursive: true, force: true });
    if (fs.readdirSync(parent).length === 0) fs.rmdirSync(parent);
  });

  const appFile = path.join(root, 'src/app/app.js');
  const source = fs.readFileSync(appFile, 'utf8');
  const mounts = source.split(LIMITER_MOUNT).length - 1;
  if (mounts !== 1) throw new Error(`expected "${LIMITER_MOUNT}" once in the compiled app, found it ${mounts} times`);
  fs.writeFileSync(appFile, source.replace(LIMITER_MOUNT, '/* rate limiter removed for the ablation benchmark */'));
  return path.join(root, 'src/primary/main.js');
}
