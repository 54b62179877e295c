import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { workerKillAfterMs } from '../../src/shared/shutdown-budget.js';
import { CONFIG_VARIABLES, ConfigError, loadConfig } from '../../src/shared/config.js';
import { ExitCode } from '../../src/shared/exit-codes.js';
import { parseEnvFile } from '../../src/shared/env-file.js';
import { runPulseCommand } from '../support/ctl.js';
import { PRIMARY_ENTRY, PROJECT_ROOT, startPulse, type PulseProcess } from '../support/pulse-process.js';

const UNIT = path.join(PROJECT_ROOT, 'deploy/systemd/pulse.service');
const ENV_EXAMPLE = path.join(PROJECT_ROOT, 'deploy/systemd/pulse.env.example');
const INSTALLED_ROOT = '/opt/pulse';
const INSTALLED_NODE = '/usr/bin/node';

/**
 * The unit as it would run on this machine: the install prefix and node binary replaced
 * by the checkout and the node running the tests. `systemd-analyze verify` checks that
 * every Exec*= binary exists and is executable, and /opt/pulse is not installed here.
 * (It does not resolve User=/Group=: the `pulse` user is created at install time.)
 */
function localUnitText(): string {
  return fs.readFileSync(UNIT, 'utf8').replaceAll(INSTALLED_ROOT, PROJECT_ROOT).replaceAll(INSTALLED_NODE, process.execPath);
}

const unitDirs: string[] = [];

function writeLocalUnit(text = localUnitText()): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pulse-unit-'));
  unitDirs.push(dir);
  const file = path.join(dir, 'pulse.service');
  fs.writeFileSync(file, text);
  return file;
}

/** The [Service] section as key -> every value given (systemd allows repeats). */
function serviceDirectives(text: string): Map<string, string[]> {
  const directives = new Map<string, string[]>();
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    if (line.startsWith('[')) {
      section = line;
      continue;
    }
    if (section !== '[Service]') continue;
    const eq = line.indexOf('=');
    const key = line.slice(0, eq);
    directives.set(key, [...(directives.get(key) ?? []), line.slice(eq + 1)]);
  }
  return directives;
}

function analyze(args: string[]) {
  return spawnSync('systemd-analyze', args, { encoding: 'utf8' });
}

describe('deploy/systemd/pulse.service', function () {
  this.timeout(60_000);
  after(() => {
    for (const dir of unitDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
  });
  const text = fs.readFileSync(UNIT, 'utf8');
  const service = serviceDirectives(text);
  const one = (key: string) => {
    const values = service.get(key);
    expect(values, key).to.have.length(1);
    return values![0]!;
  };

  it('passes `systemd-analyze verify` without a single warning', () => {
    const result = analyze(['verify', writeLocalUnit()]);
    expect(result.error, 'systemd-analyze must be installed').to.equal(undefined);
    expect(result.stderr).to.equal('');
    expect(result.status).to.equal(0);
  });

  it('(the verify check above does catch mistakes: warnings go to stderr even with exit 0)', () => {
    const broken = analyze(['verify', writeLocalUnit(localUnitText().replace(/^KillMode=mixed$/m, 'KillMode=mixd'))]);
    expect(broken.stderr).to.include('Failed to parse kill mode');
    const typo = analyze(['verify', writeLocalUnit(localUnitText().replace(/^Type=exec$/m, 'Tpye=exec'))]);
    expect(typo.stderr).to.include("Unknown key 'Tpye'");
  });

  it('is hardened: `systemd-analyze security --offline` rates its exposure OK (at most 2.0)', () => {
    const result = analyze(['security', '--offline=true', writeLocalUnit()]);
    expect(result.status, result.stderr).to.equal(0);
    const exposure = /Overall exposure level for pulse\.service: ([\d.]+)/.exec(result.stdout);
    expect(exposure, result.stdout).to.not.equal(null);
    expect(Number(exposure![1])).to.be.at.most(2.0);
  });

  it('sets the directives the operations guide relies on', () => {
    expect(one('Type')).to.equal('exec');
    expect(one('KillMode')).to.equal('mixed');
    expect(one('KillSignal')).to.equal('SIGTERM');
    expect(one('Restart')).to.equal('on-failure');
    expect(one('RestartPreventExitStatus').split(' ').map(Number)).to.have.members([ExitCode.config, ExitCode.controlSocketInUse]);
    // One worker killed by the kernel's OOM killer is the supervisor's to respawn, not the unit's end.
    expect(one('OOMPolicy')).to.equal('continue');
    expect(one('SyslogIdentifier')).to.equal('pulse');
    expect(one('EnvironmentFile')).to.equal('/etc/pulse/pulse.env');
    expect(one('User')).to.equal('pulse');
    expect(one('Group')).to.equal('pulse');
    expect(one('RuntimeDirectory')).to.equal('pulse');
    expect(service.get('Environment')).to.include('CONTROL_SOCKET=/run/pulse/pulse.sock');
    expect(one('ExecStart')).to.equal(`${INSTALLED_NODE} ${INSTALLED_ROOT}/dist/src/primary/main.js`);
    expect(one('ExecStartPost')).to.match(new RegExp(`^${INSTALLED_NODE} ${INSTALLED_ROOT}/dist/src/cli.js ctl wait-ready --timeout \\d+$`));
    expect(one('ExecReload')).to.equal(`${INSTALLED_NODE} ${INSTALLED_ROOT}/dist/src/cli.js ctl reload`);
    for (const key of ['NoNewPrivileges', 'PrivateTmp', 'ProtectHome', 'PrivateDevices']) expect(one(key), key).to.equal('yes');
    expect(one('ProtectSystem')).to.equal('strict');

    // Stop budget above the worst drain with default settings.
    const defaults = loadConfig({ JWT_SECRET: 'x'.repeat(16) });
    expect(Number(one('TimeoutStopSec')) * 1000).to.be.above(workerKillAfterMs(defaults.shutdownTimeoutMs) + 10_000);
    // wait-ready gives up (with a message) before systemd's own start timeout kills it.
    const waitReadyMs = Number(/--timeout (\d+)/.exec(one('ExecStartPost'))![1]);
    expect(waitReadyMs).to.be.below(Number(one('TimeoutStartSec')) * 1000);
  });

  it('ships an environment file example with only known variables, that refuses to start without JWT_SECRET', () => {
    const { variables: example, problems } = parseEnvFile(fs.readFileSync(ENV_EXAMPLE, 'utf8'));
    expect(problems).to.deep.equal([]);
    for (const key of Object.keys(example)) expect(CONFIG_VARIABLES, key).to.include(key);
    const unitEnvironment = Object.fromEntries(service.get('Environment')!.map((pair) => pair.split('=', 2) as [string, string]));
    expect(() => loadConfig({ ...unitEnvironment, ...example })).to.throw(ConfigError, 'JWT_SECRET');
    const config = loadConfig({ ...unitEnvironment, ...example, JWT_SECRET: 'a-production-secret-of-32-characters-or-more' });
    expect(config.controlSocket).to.equal('/run/pulse/pulse.sock');
    expect(workerKillAfterMs(config.shutdownTimeoutMs)).to.be.below(Number(one('TimeoutStopSec')) * 1000);
  });

  describe('its command lines, run the way systemd runs them (no systemd as PID 1 here)', () => {
    let pulse: PulseProcess | undefined;
    after(async () => pulse?.stop());
    const local = serviceDirectives(localUnitText());
    const argv = (key: string) => local.get(key)![0]!.split(' ');

    it('ExecStart starts the primary; ExecStartPost returns once it is healthy; ExecReload rolls; SIGTERM to the main pid drains', async () => {
      const [node, entry] = argv('ExecStart');
      expect(node).to.equal(process.execPath);
      expect(entry).to.equal(PRIMARY_ENTRY);
      pulse = await startPulse({ workers: 2, env: { NODE_ENV: 'production' }, waitHealthy: false });

      const runUnitCommand = (key: string) => {
        const [binary, cli, ...args] = argv(key);
        expect(binary).to.equal(process.execPath);
        expect(cli).to.equal(path.join(PROJECT_ROOT, 'dist/src/cli.js'));
        return runPulseCommand(args, pulse!.env);
      };
      const started = await runUnitCommand('ExecStartPost');
      expect(started.code, started.stderr).to.equal(0);
      expect((await fetch(`${pulse.adminUrl}/health`)).status).to.equal(200);

      const before = await pulse.workerPids();
      const reloaded = await runUnitCommand('ExecReload');
      expect(reloaded.code, reloaded.stderr).to.equal(0);
      expect((await pulse.workerPids()).filter((pid) => before.includes(pid))).to.deep.equal([]);

      // KillMode=mixed: SIGTERM goes to the main process only; it drains its workers.
      const stopBudgetMs = Number(one('TimeoutStopSec')) * 1000;
      pulse.signal('SIGTERM');
      expect((await pulse.waitExit(stopBudgetMs)).code).to.equal(0);
      expect(fs.existsSync(pulse.env.CONTROL_SOCKET!)).to.equal(false);
    });
  });
});
