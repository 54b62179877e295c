import { spawn } from 'node:child_process';
import path from 'node:path';
import { expect } from 'chai';
import type { MigrationResult } from '../../src/db/migrations-runner.js';
import { forEachDatabase } from '../support/database-backends.js';
import { PROJECT_ROOT } from '../support/pulse-process.js';

const RUNNER = path.join(PROJECT_ROOT, 'dist/src/db/migrations-runner.js');

/**
 * A primary's migration in a process of its own: it loads the code, says so, and starts
 * migrating when the test says go, so that every process starts at the same moment.
 */
function migratingProcess(databaseUrl: string) {
  const script = `
    const { runMigrations } = await import(${JSON.stringify(RUNNER)});
    process.stdout.write('loaded\\n');
    process.stdin.once('data', async () => process.stdout.write(JSON.stringify(await runMigrations(${JSON.stringify(databaseUrl)})) + '\\n'));`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'inherit'] });
  let output = '';
  const loaded = new Promise<void>((resolve) => child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()).startsWith('loaded\n') && resolve()));
  const result = new Promise<MigrationResult>((resolve, reject) =>
    child.once('exit', (code) => (code === 0 ? resolve(JSON.parse(output.split('\n')[1]!) as MigrationResult) : reject(new Error(`exit ${code}: ${output}`)))),
  );
  return { loaded, go: () => child.stdin.end('go\n'), result };
}

forEachDatabase('migrations run by several primaries at once (a fleet started together, or two primaries on one host)', function (database) {
  this.timeout(60_000);

  it('all succeed on a database none of them found: one creates it, one applies the migrations, the others wait for it', async () => {
    const url = database.uniqueUrl('concurrent');
    const primaries = Array.from({ length: 3 }, () => migratingProcess(url));
    await Promise.all(primaries.map((primary) => primary.loaded));
    for (const primary of primaries) primary.go();
    const results = await Promise.all(primaries.map((primary) => primary.result));
    expect(results.filter((r) => r.createdDatabase)).to.have.length(1);
    const applied = results.map((r) => r.applied.length).sort();
    expect(applied[0]).to.equal(0);
    expect(applied[2]).to.be.above(0);
    expect(applied.filter((n) => n > 0)).to.have.length(1);
  });
});
