import crypto from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { ConfigError, loadConfig, usesDevelopmentJwtSecret } from '../../src/shared/config.js';

describe('loadConfig', () => {
  it('has sensible defaults', () => {
    const config = loadConfig({});
    expect(config).to.include({
      port: 8080,
      host: '0.0.0.0',
      adminPort: 9464,
      adminHost: '127.0.0.1',
      shutdownTimeoutMs: 5000,
      databaseUrl: `sqlite:${path.join(process.cwd(), 'var/pulse.sqlite')}`,
      databaseDefaulted: true,
      rateLimitMax: 100,
      rateLimitWindowMs: 60_000,
      workerHeartbeatTimeoutMs: 10_000,
      trustProxy: false,
      logLevel: 'info',
      accessLog: true,
      envFile: undefined,
    });
    expect(config.workers).to.equal(os.availableParallelism());
    expect(config.controlSocket).to.match(/\/var\/pulse\.sock$/);
  });

  it('bounds every wait on Postgres by default, and names a bad value', () => {
    expect(loadConfig({})).to.include({ databaseConnectTimeoutMs: 2000, databaseAcquireTimeoutMs: 2000, databaseStatementTimeoutMs: 3000 });
    expect(loadConfig({ DATABASE_STATEMENT_TIMEOUT_MS: '15000' }).databaseStatementTimeoutMs).to.equal(15_000);
    expect(() => loadConfig({ DATABASE_CONNECT_TIMEOUT_MS: '0' })).to.throw(ConfigError, /^invalid configuration: DATABASE_CONNECT_TIMEOUT_MS /);
    expect(() => loadConfig({ DATABASE_ACQUIRE_TIMEOUT_MS: 'soon' })).to.throw(ConfigError, /DATABASE_ACQUIRE_TIMEOUT_MS/);
  });

  it('migrates through DATABASE_URL unless DATABASE_MIGRATION_URL names another; no pooler unless DATABASE_POOLER says so', () => {
    const pooled = 'postgres://pulse@pgbouncer:6432/pulse';
    expect(loadConfig({ DATABASE_URL: pooled })).to.include({ databaseMigrationUrl: pooled, databasePooler: 'none' });
    const direct = 'postgres://owner@db:5432/pulse';
    expect(loadConfig({ DATABASE_URL: pooled, DATABASE_MIGRATION_URL: direct, DATABASE_POOLER: 'pgbouncer' })).to.include({
      databaseUrl: pooled,
      databaseMigrationUrl: direct,
      databasePooler: 'pgbouncer',
    });
    expect(() => loadConfig({ DATABASE_POOLER: 'pgpool' })).to.throw(ConfigError, /^invalid configuration: DATABASE_POOLER .*"pgpool"/);
    expect(() => loadConfig({ DATABASE_MIGRATION_URL: 'mysql://db/pulse' })).to.throw(ConfigError, /^invalid configuration: DATABASE_MIGRATION_URL must be a URL/);
  });

  describe('REDIS_URL', () => {
    const STRONG_SECRET = crypto.randomBytes(48).toString('base64');

    it('unset, empty or none: no Redis (the primary counts the rate limits); otherwise a redis:// or rediss:// URL', () => {
      for (const env of [{}, { REDIS_URL: '' }, { REDIS_URL: 'none' }]) expect(loadConfig(env).redisUrl, JSON.stringify(env)).to.equal(undefined);
      expect(loadConfig({ REDIS_URL: 'redis://cache:6379/2' }).redisUrl).to.equal('redis://cache:6379/2');
      expect(loadConfig({ REDIS_URL: 'rediss://:pw@cache:6380' }).redisUrl).to.equal('rediss://:pw@cache:6380');
      for (const bad of ['None', 'http://cache:6379', 'cache:6379']) {
        expect(() => loadConfig({ REDIS_URL: bad }), bad).to.throw(
          ConfigError,
          /^invalid configuration: REDIS_URL must be a URL starting with redis:\/\/ or rediss:\/\/, or none \(no Redis: the single-host store\)$/,
        );
      }
    });

    it('in production, is required (one line naming it), unless none says the single-host store is intended', () => {
      let error: unknown;
      try {
        loadConfig({ NODE_ENV: 'production', JWT_SECRET: STRONG_SECRET, DATABASE_URL: 'postgres://db/pulse' });
      } catch (caught) {
        error = caught;
      }
      expect(error).to.be.instanceOf(ConfigError);
      expect((error as ConfigError).variable).to.equal('REDIS_URL');
      expect((error as Error).message).to.equal(
        'invalid configuration: REDIS_URL is required when NODE_ENV=production: a redis:// URL, or none for the single-host store (rate limits per host, no entry cache)',
      );
      expect(() => loadConfig({ NODE_ENV: 'production', JWT_SECRET: STRONG_SECRET, DATABASE_URL: 'postgres://db/pulse', REDIS_URL: '' })).to.throw(ConfigError, /^invalid configuration: REDIS_URL is required/);
      expect(loadConfig({ NODE_ENV: 'production', JWT_SECRET: STRONG_SECRET, DATABASE_URL: 'postgres://db/pulse', REDIS_URL: 'none' }).redisUrl).to.equal(undefined);
      expect(loadConfig({ NODE_ENV: 'production', JWT_SECRET: STRONG_SECRET, DATABASE_URL: 'postgres://db/pulse', REDIS_URL: 'redis://cache:6379' }).redisUrl).to.equal('redis://cache:6379');
    });
  });

  it('treats empty strings as unset', () => {
    expect(loadConfig({ PORT: '', WORKERS: '' }).port).to.equal(8080);
  });

  it('parses numbers and booleans', () => {
    const config = loadConfig({ PORT: '0', WORKERS: '3', TRUST_PROXY: 'true', SHUTDOWN_TIMEOUT_MS: '250' });
    expect(config).to.include({ port: 0, workers: 3, trustProxy: true, shutdownTimeoutMs: 250 });
  });

  it('ACCESS_LOG switches the access log; PULSE_ENV_FILE is kept as an absolute path', () => {
    expect(loadConfig({ ACCESS_LOG: 'false' }).accessLog).to.equal(false);
    expect(loadConfig({ ACCESS_LOG: '1' }).accessLog).to.equal(true);
    expect(() => loadConfig({ ACCESS_LOG: 'off' })).to.throw(ConfigError, /^invalid configuration: ACCESS_LOG /);
    expect(loadConfig({ PULSE_ENV_FILE: '/etc/pulse/pulse.env' }).envFile).to.equal('/etc/pulse/pulse.env');
    expect(loadConfig({ PULSE_ENV_FILE: 'pulse.env' }).envFile).to.equal(`${process.cwd()}/pulse.env`);
  });

  it('names the variable in its error', () => {
    expect(() => loadConfig({ WORKERS: 'many' })).to.throw(ConfigError, /^invalid configuration: WORKERS /);
    expect(() => loadConfig({ RATE_LIMIT_MAX: '1.5' })).to.throw(ConfigError, /RATE_LIMIT_MAX/);
  });

  it('refuses a heartbeat timeout that healthy workers could miss', () => {
    expect(() => loadConfig({ HEALTH_REPORT_INTERVAL_MS: '6000' })).to.throw(ConfigError, /^invalid configuration: WORKER_HEARTBEAT_TIMEOUT_MS must be at least twice/);
    expect(loadConfig({ HEALTH_REPORT_INTERVAL_MS: '5000' }).workerHeartbeatTimeoutMs).to.equal(10_000);
  });

  describe('DATABASE_URL', () => {
    const SECRET = 'a-production-secret-of-32-characters-or-more';

    it('unset: the embedded SQLite file ./var/pulse.sqlite, resolved against the working directory like CONTROL_SOCKET', () => {
      const config = loadConfig({});
      expect(config.databaseUrl).to.equal(`sqlite:${path.resolve('var/pulse.sqlite')}`);
      expect(config).to.include({ databaseDefaulted: true, databaseMigrationUrl: config.databaseUrl });
      expect(loadConfig({ DATABASE_URL: '' }).databaseDefaulted, 'empty means unset').to.equal(true);
    });

    it('accepts sqlite:<relative path>, sqlite:/absolute/path and sqlite:///absolute/path, each as an absolute path', () => {
      const cases: Array<[string, string]> = [
        ['sqlite:data/pulse.db', path.resolve('data/pulse.db')],
        ['sqlite:/var/lib/pulse/pulse.sqlite', '/var/lib/pulse/pulse.sqlite'],
        ['sqlite:///var/lib/pulse/pulse.sqlite', '/var/lib/pulse/pulse.sqlite'],
        ['SQLite:/srv/my data/pulse.sqlite', '/srv/my data/pulse.sqlite'],
      ];
      for (const [value, file] of cases) {
        const config = loadConfig({ DATABASE_URL: value });
        expect(config, value).to.include({ databaseUrl: `sqlite:${file}`, databaseMigrationUrl: `sqlite:${file}`, databaseDefaulted: false });
      }
      expect(loadConfig({ DATABASE_URL: 'postgresql://db/pulse' })).to.include({ databaseUrl: 'postgresql://db/pulse', databaseDefaulted: false });
    });

    it('refuses what is neither, a host after sqlite://, an in-memory or empty path, naming the variable and never the value', () => {
      const refused: Array<[string, RegExp]> = [
        ['mysql://admin:hunter2@db/pulse', /^invalid configuration: DATABASE_URL must be a URL starting with postgres:\/\/ or postgresql:\/\/, or sqlite:<file path>$/],
        ['sqlite://db.internal/pulse.sqlite', /^invalid configuration: DATABASE_URL sqlite: takes a file path .*not a host$/],
        ['sqlite::memory:', /^invalid configuration: DATABASE_URL sqlite: needs a file path that every worker can open/],
        ['sqlite:', /^invalid configuration: DATABASE_URL sqlite: needs a file path/],
      ];
      for (const [value, expected] of refused) {
        expect(() => loadConfig({ DATABASE_URL: value }), value).to.throw(ConfigError, expected);
      }
      expect(() => loadConfig({ DATABASE_URL: 'mysql://admin:hunter2@db/pulse' })).to.throw(ConfigError).with.property('message').that.does.not.include('hunter2');
    });

    it('DATABASE_MIGRATION_URL and DATABASE_POOLER must fit the kind of database', () => {
      expect(() => loadConfig({ DATABASE_URL: 'sqlite:/a/pulse.sqlite', DATABASE_MIGRATION_URL: 'postgres://db/pulse' })).to.throw(
        ConfigError,
        /^invalid configuration: DATABASE_MIGRATION_URL must name the same kind of database as DATABASE_URL \(SQLite\)$/,
      );
      expect(() => loadConfig({ DATABASE_MIGRATION_URL: 'sqlite:/a/pulse.sqlite', DATABASE_URL: 'postgres://db/pulse' })).to.throw(ConfigError, /DATABASE_MIGRATION_URL .*\(PostgreSQL\)/);
      expect(() => loadConfig({ DATABASE_URL: 'sqlite:/a/pulse.sqlite', DATABASE_MIGRATION_URL: 'sqlite:/b/pulse.sqlite' })).to.throw(
        ConfigError,
        /^invalid configuration: DATABASE_MIGRATION_URL must be DATABASE_URL's SQLite file/,
      );
      expect(loadConfig({ DATABASE_URL: 'sqlite:/a/pulse.sqlite', DATABASE_MIGRATION_URL: 'sqlite:///a/pulse.sqlite' }).databaseMigrationUrl).to.equal('sqlite:/a/pulse.sqlite');
      expect(() => loadConfig({ DATABASE_POOLER: 'pgbouncer' })).to.throw(ConfigError, /^invalid configuration: DATABASE_POOLER pgbouncer applies to a PostgreSQL DATABASE_URL only/);
    });

    it('in production, is required (one line naming it and how to opt in to SQLite), and an explicit sqlite: path is accepted', () => {
      expect(() => loadConfig({ NODE_ENV: 'production', JWT_SECRET: SECRET, REDIS_URL: 'none' })).to.throw(
        ConfigError,
        /^invalid configuration: DATABASE_URL is required when NODE_ENV=production: postgres:\/\/… for PostgreSQL, or sqlite:\/var\/lib\/pulse\/pulse\.sqlite to run on the embedded single-host database on purpose$/,
      );
      const embedded = loadConfig({ NODE_ENV: 'production', JWT_SECRET: SECRET, REDIS_URL: 'none', DATABASE_URL: 'sqlite:/var/lib/pulse/pulse.sqlite' });
      expect(embedded).to.include({ databaseUrl: 'sqlite:/var/lib/pulse/pulse.sqlite', databaseDefaulted: false });
      expect(loadConfig({ NODE_ENV: 'production', JWT_SECRET: SECRET, REDIS_URL: 'none', DATABASE_URL: 'postgres://db/pulse' }).databaseUrl).to.equal('postgres://db/pulse');
    });
  });

  describe('JWT_SECRET', () => {
    const DEVELOPMENT_SECRET = 'pulse-development-secret-change-me';
    const production = (secret: string) => () => loadConfig({ NODE_ENV: 'production', JWT_SECRET: secret, DATABASE_URL: 'postgres://db/pulse', REDIS_URL: 'none' });

    it('in production, refuses the published development secret, whitespace, short and low-variety secrets, naming the variable, never the value', () => {
      const refused: Array<[string, RegExp]> = [
        [DEVELOPMENT_SECRET, /^invalid configuration: JWT_SECRET is the published development secret: refused when NODE_ENV=production/],
        [' '.repeat(16), /^invalid configuration: JWT_SECRET is only whitespace: refused/],
        [' '.repeat(40), /^invalid configuration: JWT_SECRET is only whitespace: refused/],
        ['\t \n'.repeat(12), /^invalid configuration: JWT_SECRET is only whitespace: refused/],
        ['abcdefghijklmnopqrstuvwxyz01234', /^invalid configuration: JWT_SECRET must be at least 32 characters: refused/],
        ['x'.repeat(64), /^invalid configuration: JWT_SECRET must have at least 10 different characters \(it has 1\): refused/],
        ['passwordpasswordpasswordpassword', /^invalid configuration: JWT_SECRET must have at least 10 different characters \(it has 7\)/],
      ];
      for (const [secret, expected] of refused) {
        let error: unknown;
        try {
          production(secret)();
        } catch (caught) {
          error = caught;
        }
        expect(error, JSON.stringify(secret)).to.be.instanceOf(ConfigError);
        expect((error as ConfigError).variable).to.equal('JWT_SECRET');
        expect((error as Error).message, JSON.stringify(secret)).to.match(expected);
        expect((error as Error).message).to.not.include(secret);
      }
    });

    it('in production, accepts a random secret (openssl rand -base64 48, -hex 32)', () => {
      for (const secret of [crypto.randomBytes(48).toString('base64'), crypto.randomBytes(32).toString('hex')]) {
        expect(production(secret)().jwtSecret).to.equal(secret);
      }
      expect(production('0123456789abcdefghijklmnopqrstuv')().jwtSecret).to.have.length(32);
    });

    it('in production, requires it', () => {
      expect(() => loadConfig({ NODE_ENV: 'production' })).to.throw(ConfigError, /^invalid configuration: JWT_SECRET is required when NODE_ENV=production$/);
    });

    it('in development, falls back to the development secret and says so; accepts any 16 characters', () => {
      const unset = loadConfig({});
      expect(unset.jwtSecret).to.equal(DEVELOPMENT_SECRET);
      expect(usesDevelopmentJwtSecret(unset)).to.equal(true);
      expect(usesDevelopmentJwtSecret(loadConfig({ JWT_SECRET: DEVELOPMENT_SECRET }))).to.equal(true);
      const short = loadConfig({ JWT_SECRET: 'sixteen-chars-ok' });
      expect(short.jwtSecret).to.equal('sixteen-chars-ok');
      expect(usesDevelopmentJwtSecret(short)).to.equal(false);
      expect(() => loadConfig({ JWT_SECRET: 'short' })).to.throw(ConfigError, /JWT_SECRET must be at least 16 characters$/);
    });
  });
});
