import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { ExitCode } from '../../src/shared/exit-codes.js';
import { runPulseCommand } from '../support/ctl.js';
import { freePort } from '../support/ports.js';
import { PROJECT_ROOT } from '../support/pulse-process.js';

const ENV_EXAMPLE = path.join(PROJECT_ROOT, 'deploy/systemd/pulse.env.example');
const SECRET = 'a-jwt-secret-nobody-may-see-4f9c2b7e1d8a';

describe('the pulse command: --version, check-config, config', function () {
  this.timeout(30_000);
  let dir: string;
  before(() => (dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pulse-command-'))));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const envFile = (name: string, content: string) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, content);
    return file;
  };
  const pulse = (argv: string[], env: Record<string, string> = {}) => runPulseCommand(argv, { PATH: process.env.PATH ?? '', ...env });

  it('`--version` prints the package version', async () => {
    const { version } = JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, 'package.json'), 'utf8')) as { version: string };
    const result = await pulse(['--version']);
    expect(result.code).to.equal(0);
    expect(result.stdout).to.equal(`pulse ${version}\n`);
  });

  it('`check-config` accepts a valid environment without starting or connecting to anything', async () => {
    const [port, deadPort] = await Promise.all([freePort(), freePort()]);
    const result = await pulse(['check-config'], {
      PORT: String(port),
      WORKERS: '3',
      JWT_SECRET: SECRET,
      // Nothing listens here: check-config must not try.
      DATABASE_URL: `postgres://pulse:pw@127.0.0.1:${deadPort}/pulse`,
      REDIS_URL: `redis://127.0.0.1:${deadPort}`,
    });
    expect(result.code, result.stderr).to.equal(ExitCode.ok);
    expect(result.stdout).to.equal(`pulse: configuration OK (from the environment): 3 workers on 0.0.0.0:${port}, admin on 127.0.0.1:9464\n`);
    expect(result.stderr).to.equal('');
    // The port is still free: nothing was started.
    await new Promise<void>((resolve, reject) => {
      const server = net.createServer().once('error', reject).listen(port, '127.0.0.1', () => server.close(() => resolve()));
    });
  });

  it('`check-config` exits 78 with the one line the primary would print', async () => {
    const result = await pulse(['check-config'], { WORKERS: 'many' });
    expect(result.code).to.equal(ExitCode.config);
    expect(result.stdout).to.equal('');
    expect(result.stderr).to.match(/^pulse: invalid configuration: WORKERS .*"many"\)\n$/);
  });

  it('`check-config` validates the PULSE_ENV_FILE on top of the environment, as systemd applies it', async () => {
    const good = envFile('good.env', `# production\nJWT_SECRET="${SECRET}"\nDATABASE_URL=sqlite:/var/lib/pulse/pulse.sqlite\nWORKERS=2\nNODE_OPTIONS=--max-old-space-size=512\n`);
    const ok = await pulse(['check-config'], { PULSE_ENV_FILE: good, WORKERS: 'many', NODE_ENV: 'production', REDIS_URL: 'none' });
    expect(ok.code, ok.stderr).to.equal(ExitCode.ok);
    expect(ok.stdout).to.include(`(from the environment and ${good}): 2 workers`);
    expect(ok.stderr).to.equal(`pulse: warning: ${good} sets NODE_OPTIONS, which is not a Pulse setting\n`);

    const badValue = envFile('bad-value.env', 'RATE_LIMIT_MAX=lots\n');
    const invalid = await pulse(['check-config'], { PULSE_ENV_FILE: badValue });
    expect(invalid.code).to.equal(ExitCode.config);
    expect(invalid.stderr).to.match(/^pulse: invalid configuration: RATE_LIMIT_MAX .*"lots"\)\n$/);

    const badSyntax = envFile('bad-syntax.env', `JWT_SECRET="${SECRET}\nWORKERS=2\n`);
    const unterminated = await pulse(['check-config'], { PULSE_ENV_FILE: badSyntax });
    expect(unterminated.code).to.equal(ExitCode.config);
    expect(unterminated.stderr).to.equal(`pulse: invalid environment file ${badSyntax}: line 1: quote opened here is never closed (systemd would take the rest of the file as the value of JWT_SECRET)\n`);
    expect(unterminated.stderr).to.not.include(SECRET);

    const missing = await pulse(['check-config'], { PULSE_ENV_FILE: path.join(dir, 'nope.env') });
    expect(missing.code).to.equal(ExitCode.config);
    expect(missing.stderr).to.include('cannot read it (ENOENT)');
  });

  it('`check-config` on the shipped example under the unit\'s environment: refused until JWT_SECRET is set', async () => {
    const unitEnv = { NODE_ENV: 'production', CONTROL_SOCKET: '/run/pulse/pulse.sock', PULSE_ENV_FILE: ENV_EXAMPLE };
    const refused = await pulse(['check-config'], unitEnv);
    expect(refused.code).to.equal(ExitCode.config);
    expect(refused.stderr).to.equal('pulse: invalid configuration: JWT_SECRET is required when NODE_ENV=production\n');

    const edited = envFile('pulse.env', fs.readFileSync(ENV_EXAMPLE, 'utf8').replace(/^JWT_SECRET=$/m, `JWT_SECRET=${SECRET}`));
    const accepted = await pulse(['check-config'], { ...unitEnv, PULSE_ENV_FILE: edited });
    expect(accepted.code, accepted.stderr).to.equal(ExitCode.ok);
  });

  it('`config` prints the effective configuration as JSON, file included, with every secret redacted', async () => {
    const file = envFile('config.env', `JWT_SECRET=${SECRET}\nDATABASE_URL=postgres://pulse:hunter2@db.internal:5432/pulse\nREDIS_URL=redis://:redispass@cache.internal:6379\nWORKERS=5\n`);
    const result = await pulse(['config'], { PULSE_ENV_FILE: file, ACCESS_LOG: 'false' });
    expect(result.code, result.stderr).to.equal(ExitCode.ok);
    for (const secret of [SECRET, 'hunter2', 'redispass']) expect(result.stdout).to.not.include(secret);
    const config = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(config).to.include({
      workers: 5,
      accessLog: false,
      jwtSecret: '[redacted]',
      databaseUrl: 'postgres://pulse:***@db.internal:5432/pulse',
      redisUrl: 'redis://:***@cache.internal:6379',
      envFile: file,
    });

    const development = JSON.parse((await pulse(['config'])).stdout) as Record<string, unknown>;
    expect(development.jwtSecret).to.equal('[development secret]');
    const invalid = await pulse(['config'], { PORT: 'eighty' });
    expect(invalid.code).to.equal(ExitCode.config);
    expect(invalid.stdout).to.equal('');
  });

  it('rejects unknown commands and stray arguments with its usage (exit 64)', async () => {
    for (const argv of [[], ['start'], ['check-config', 'now'], ['config', '--all']]) {
      const result = await pulse(argv);
      expect(result.code, argv.join(' ')).to.equal(ExitCode.usage);
      expect(result.stderr).to.include('usage: pulse <command>');
    }
  });
});
