import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { runCtl } from '../support/ctl.js';
import { type PulseProcess, pulsePerTest } from '../support/pulse-process.js';
import { scrapeMetrics } from '../support/observe.js';
import { sampleValue } from '../support/prometheus-text.js';
import { changeWorkerCode, makeRelease } from '../support/release.js';

async function ping(pulse: PulseProcess): Promise<string> {
  return (await fetch(`${pulse.url}/ping`)).text();
}

describe('a deploy is "replace the files, reload" (end to end)', function () {
  this.timeout(60_000);
  const pulses = pulsePerTest();
  let root: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'pulse-deploy-'));
  });
  afterEach(async () => {
    fs.rmSync(root, { recursive: true, force: true });
  });

  it('files replaced in place: the reload forks workers running the new code', async () => {
    const release = makeRelease(path.join(root, 'app'));
    const pulse = await pulses.start({ workers: 2, entry: path.join(release, 'dist/src/primary/main.js') });
    expect(await ping(pulse)).to.equal('Ping response: pong');

    changeWorkerCode(release, 'in-place deploy');
    const reload = await runCtl(['reload'], pulse.env);

    expect(reload.code, reload.stderr).to.equal(0);
    for (let i = 0; i < 6; i += 1) expect(await ping(pulse)).to.equal('Ping response: in-place deploy');
  });

  it('a `current` symlink swapped to a new release: the reload forks workers from the new release', async () => {
    const first = makeRelease(path.join(root, 'releases/1'));
    const current = path.join(root, 'current');
    fs.symlinkSync(first, current);
    const pulse = await pulses.start({ workers: 2, entry: path.join(current, 'dist/src/primary/main.js') });
    expect(await ping(pulse)).to.equal('Ping response: pong');

    const second = makeRelease(path.join(root, 'releases/2'));
    changeWorkerCode(second, 'release 2');
    fs.writeFileSync(path.join(second, 'dist/build-info.json'), JSON.stringify({ commit: 'release-2-commit' }));
    // Atomic swap, as deploy tools do it: a new link renamed over the old one.
    fs.symlinkSync(second, `${current}.new`);
    fs.renameSync(`${current}.new`, current);
    const reload = await runCtl(['reload'], pulse.env);

    expect(reload.code, reload.stderr).to.equal(0);
    for (let i = 0; i < 6; i += 1) expect(await ping(pulse)).to.equal('Ping response: release 2');
    // Which code runs: the workers are on the new build and generation, the primary still on its own.
    const { samples } = await scrapeMetrics(pulse);
    const primaryBuild = JSON.parse(fs.readFileSync(path.join(first, 'dist/build-info.json'), 'utf8')) as { commit: string };
    expect(sampleValue(samples, 'pulse_worker_build_info', { commit: 'release-2-commit' })).to.equal(2);
    expect(sampleValue(samples, 'pulse_worker_build_info', { commit: primaryBuild.commit }) ?? 0).to.equal(0);
    expect(sampleValue(samples, 'pulse_build_info', { commit: primaryBuild.commit, node_version: process.version })).to.equal(1);
    expect(sampleValue(samples, 'pulse_workers', { generation: '2', state: 'ready' })).to.equal(2);
    expect(sampleValue(samples, 'pulse_workers', { generation: '1' }) ?? 0).to.equal(0);
  });
});
