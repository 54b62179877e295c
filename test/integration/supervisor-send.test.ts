import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { expect } from 'chai';
import { PROJECT_ROOT } from '../support/pulse-process.js';

describe('sends to workers that are exiting', function () {
  this.timeout(20_000);

  it('never crashes the primary (a send on a closing channel fails with EPIPE)', () => {
    const script = path.join(PROJECT_ROOT, 'dist/test/fixtures/send-to-exiting-workers.js');
    const result = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: 15_000 });
    expect(result.stderr).to.not.match(/EPIPE|ERR_IPC/);
    expect(result.stdout.trim()).to.equal('survived');
    expect(result.status).to.equal(0);
  });
});
