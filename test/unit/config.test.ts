import os from 'node:os';
import { expect } from 'chai';
import { ConfigError, loadConfig } from '../../src/shared/config.js';

describe('loadConfig', () => {
  it('has sensible defaults', () => {
    const config = loadConfig({});
    expect(config).to.include({
      port: 8080,
      host: '0.0.0.0',
      adminPort: 9464,
      adminHost: '127.0.0.1',
      shutdownTimeoutMs: 5000,
      databaseUrl: 'postgres://postgres@127.0.0.1:5432/pulse',
      redisUrl: 'redis://127.0.0.1:6379',
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
});
