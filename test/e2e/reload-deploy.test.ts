import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import pg from 'pg';
import { runCtl } from '../support/ctl.js';
import { type PulseProcess, pulsePerTest } from '../support/pulse-process.js';
import { makeRelease, releaseEntry } from '../support/release.js';

const ping = async (pulse: PulseProcess) => (await fetch(`${pulse.url}/ping`, { headers: { Connection: 'close' } })).text();

/** A migration the deploy brings, compiled as the release would ship it. */
function addMigration(release: string, name: string, up: string): void {
  fs.writeFileSync(path.join(release, 'dist/src/db/migrations', `${name}.js`), `export async function up(knex) { ${up} }\nexport async function down() {}\n`);
}

describe('a reload deploys: the environment file and pending migrations (end to end)', function () {
  this.timeout(90_000);
  const pulses = pulsePerTest();
  let root: string;
  let release: string;
  let envFile: string;
  beforeEach(() => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'pulse-reload-'));
    release = makeRelease(path.join(root, 'app'));
    envFile = path.join(root, 'pulse.env');
  });
  afterEach(() => fs.rmSync(root, { recursive: true, force: true }));

  /** Starts Pulse the way systemd does: the file's variables in its environment, PULSE_ENV_FILE naming it. */
  async function start(fileText: string): Promise<PulseProcess> {
    fs.writeFileSync(envFile, fileText);
    const fromFile = Object.fromEntries(fileText.trim().split('\n').map((line) => line.split('=', 2) as [string, string]));
    return pulses.start({ workers: 2, entry: releaseEntry(release), env: { ...fromFile, PULSE_ENV_FILE: envFile } });
  }

  it('re-reads PULSE_ENV_FILE: new workers run with it; a setting only a restart changes is reported and kept', async () => {
    const pulse = await start('PING_MESSAGE=before\n');
    expect(await ping(pulse)).to.equal('Ping response: before');
    fs.writeFileSync(envFile, `PING_MESSAGE=after\nPORT=${pulse.port + 1}\n`);

    const reload = await runCtl(['reload'], pulse.env);
    expect(reload.code, reload.stderr).to.equal(0);
    expect(reload.stdout).to.include(`reading ${envFile}`);
    expect(reload.stdout).to.include(`PORT changed (${pulse.port} -> ${pulse.port + 1}): it takes a restart of pulse; the new workers keep ${pulse.port}`);
    for (let i = 0; i < 4; i += 1) expect(await ping(pulse)).to.equal('Ping response: after');
  });

  it('refuses an invalid file before replacing anything: exit 78 naming the variable, old workers keep serving', async () => {
    const pulse = await start('PING_MESSAGE=before\n');
    const pids = await pulse.workerPids();
    fs.writeFileSync(envFile, 'PING_MESSAGE=after\nRATE_LIMIT_MAX=lots\n');

    const reload = await runCtl(['reload'], pulse.env);
    expect(reload.code).to.equal(78);
    expect(reload.stderr).to.match(/RATE_LIMIT_MAX .*"lots"/);
    expect(await pulse.workerPids()).to.have.members(pids);
    expect(await ping(pulse)).to.equal('Ping response: before');
  });

  it('runs the pending migrations of the new code before the first new worker; a failing one refuses the reload', async () => {
    const pulse = await start('PING_MESSAGE=before\n');
    const pids = await pulse.workerPids();
    addMigration(release, '20991231000000_broken', "throw new Error('this migration cannot run');");
    const refused = await runCtl(['reload'], pulse.env);
    expect(refused.code).to.equal(1);
    expect(refused.stderr).to.include('database migration failed, no worker replaced');
    expect(refused.stderr).to.include('this migration cannot run');
    expect(await pulse.workerPids()).to.have.members(pids);

    fs.rmSync(path.join(release, 'dist/src/db/migrations/20991231000000_broken.js'));
    addMigration(release, '20991231000001_deploy_marker', "await knex.schema.createTable('deploy_marker', (t) => t.integer('id'));");
    const reload = await runCtl(['reload'], pulse.env);
    expect(reload.code, reload.stderr).to.equal(0);
    expect(reload.stdout).to.include('migrations applied: 20991231000001_deploy_marker.js');
    expect(reload.stdout.indexOf('migrations applied')).to.be.below(reload.stdout.indexOf('replacing worker'));
    const client = new pg.Client({ connectionString: pulse.env.DATABASE_URL });
    await client.connect();
    try {
      expect((await client.query("select to_regclass('deploy_marker') as t")).rows[0].t).to.equal('deploy_marker');
    } finally {
      await client.end();
    }
  });
});
