import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { freePort } from '../support/ports.js';
import { PROJECT_ROOT } from '../support/pulse-process.js';
import { RecordedHttpLoad } from '../support/recorded-http-load.js';
import { waitFor } from '../support/wait.js';

const FIXTURE = path.join(PROJECT_ROOT, 'dist/test/fixtures/crash-cluster.js');
const CRASHES = 100;

const openDescriptors = (pid: number) => fs.readdirSync(`/proc/${pid}/fd`).length;

describe('connections handed to workers that die (round-robin hand-off guard)', function () {
  this.timeout(120_000);
  let primary: ChildProcess | undefined;
  after(() => primary?.kill('SIGKILL'));

  it(`${CRASHES} kill -9s under connection-per-request load: every client answered or closed, no descriptor left in the primary`, async () => {
    const port = await freePort();
    primary = spawn(process.execPath, [FIXTURE], { env: { ...process.env, TINY_PORT: String(port) }, stdio: ['ignore', 'pipe', 'inherit'] });
    const ready: { ready: number; pid: number }[] = [];
    const stranded: string[] = [];
    let buffer = '';
    primary.stdout!.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      for (let newline = buffer.indexOf('\n'); newline >= 0; newline = buffer.indexOf('\n')) {
        const line = JSON.parse(buffer.slice(0, newline)) as { ready?: number; pid?: number; stranded?: string };
        buffer = buffer.slice(newline + 1);
        if (line.stranded) stranded.push(line.stranded);
        else ready.push(line as { ready: number; pid: number });
      }
    });
    await waitFor(() => ready.length >= 3, 'three workers ready');
    const load = new RecordedHttpLoad({ port, path: '/', concurrency: 8, headers: { Connection: 'close' }, timeoutMs: 5000 });
    await waitFor(() => load.records.some((r) => r.status === 200), 'the first answers');
    const descriptorsBefore = openDescriptors(primary.pid!);

    for (let crash = 0; crash < CRASHES; crash += 1) {
      const victim = ready.shift()!;
      const readyBefore = ready.length;
      process.kill(victim.pid, 'SIGKILL');
      await waitFor(() => ready.length > readyBefore, 'its replacement ready', 10_000, 5);
    }
    await load.stop();

    expect(load.records.filter((r) => r.error === 'TIMEOUT'), 'clients left waiting').to.deep.equal([]);
    expect(load.records.filter((r) => r.status === 200).length).to.be.above(CRASHES);
    expect(stranded.filter((outcome) => outcome === 'rescued').length, 'connections handed to another worker').to.be.above(0);
    await waitFor(() => openDescriptors(primary!.pid!) <= descriptorsBefore, `the primary's descriptors back to ${descriptorsBefore}`, 5000);
  });
});
