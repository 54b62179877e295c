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

  it('treats empty strings as unset', () => {
    expect(loadConfig({ PORT: '', WORKERS: '' }).port).to.equal(8080);
  });

  it('parses numbers and booleans', () => {
    const config = loadConfig({ PORT: '0', WORKERS: '3', TRUST_PROXY: 'true', SHUTDOWN_TIMEOUT_MS: '250' });
    expect(config).to.include({ port: 0, workers: 3, trustProxy: true, shutdownTimeoutMs: 250 });
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
