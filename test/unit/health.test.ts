import { expect } from 'chai';
import { computeHealth, isReady, staleAfterMs, type HealthSource } from '../../src/primary/health.js';
import type { WorkerHealthReport } from '../../src/shared/health-types.js';

const NOW = 1_000_000;
const STALE_AFTER = staleAfterMs(1000);

function report(overrides: Partial<WorkerHealthReport> = {}): WorkerHealthReport {
  return { database: 'connected', redis: 'connected', eventLoopLagMs: 1.5, inflight: 0, rssBytes: 1, uptimeS: 10, requestsServed: 0, ...overrides };
}

function worker(id: number, overrides: Partial<HealthSource> = {}): HealthSource {
  return { id, pid: 1000 + id, generation: 1, state: 'ready', forkedAt: NOW - 10_000, lastReport: report(), lastHeardAt: NOW - 400, ...overrides };
}

const health = (workers: HealthSource[], expected = 2, draining = false, schemaReady = true) =>
  computeHealth({ workers, expected, draining, schemaReady, staleAfterMs: STALE_AFTER, now: NOW });

describe('computeHealth (unit)', () => {
  it('is healthy with the documented shape when every expected worker is ready and connected', () => {
    const answer = health([worker(1), worker(2, { lastReport: report({ inflight: 3, eventLoopLagMs: 7 }) })]);
    expect(answer.httpStatus).to.equal(200);
    expect(answer.body).to.deep.equal({
      status: 'healthy',
      database: 'connected',
      redis: 'connected',
      workers: { expected: 2, ready: 2 },
      details: [
        { id: 1, pid: 1001, generation: 1, status: 'ready', database: 'connected', redis: 'connected', uptime_s: 10, event_loop_lag_ms: 1.5, inflight: 0, last_report_age_ms: 400 },
        { id: 2, pid: 1002, generation: 1, status: 'ready', database: 'connected', redis: 'connected', uptime_s: 10, event_loop_lag_ms: 7, inflight: 3, last_report_age_ms: 400 },
      ],
    });
  });

  it('serves reports at most about two seconds old: a later one marks the worker unresponsive', () => {
    expect(STALE_AFTER).to.be.within(2000, 3000);
    const fresh = health([worker(1, { lastHeardAt: NOW - STALE_AFTER }), worker(2)]);
    expect(fresh.httpStatus).to.equal(200);

    const answer = health([worker(1, { lastHeardAt: NOW - STALE_AFTER - 1 }), worker(2)]);
    expect(answer.httpStatus).to.equal(503);
    expect(answer.body).to.include({ status: 'unhealthy', database: 'connected', redis: 'connected' });
    expect(answer.body.workers).to.deep.equal({ expected: 2, ready: 1 });
    expect(answer.body.details[0]).to.include({ status: 'unresponsive', database: 'unknown', redis: 'unknown', last_report_age_ms: STALE_AFTER + 1 });
  });

  it('turns a dependency disconnected when any ready worker cannot reach it', () => {
    const answer = health([worker(1), worker(2, { lastReport: report({ redis: 'disconnected' }) })]);
    expect(answer.httpStatus).to.equal(503);
    expect(answer.body).to.include({ status: 'unhealthy', database: 'connected', redis: 'disconnected' });
    expect(answer.body.workers.ready).to.equal(2);
  });

  it('stays healthy during a rolling restart while N workers are ready, whatever the others do', () => {
    const starting = worker(3, { state: 'booting', lastReport: undefined, lastHeardAt: undefined });
    expect(health([worker(1), worker(2), starting]).httpStatus).to.equal(200);
    // The replacement is ready, the old worker drains and stops reporting.
    const draining = worker(1, { state: 'draining', lastHeardAt: NOW - 60_000, lastReport: report({ database: 'disconnected' }) });
    const answer = health([draining, worker(2), worker(3)]);
    expect(answer.httpStatus).to.equal(200);
    expect(answer.body.details.map((d) => d.status)).to.deep.equal(['draining', 'ready', 'ready']);
    // Both old and new briefly ready: more than expected is fine.
    expect(health([worker(1), worker(2), worker(3)]).body.workers).to.deep.equal({ expected: 2, ready: 3 });
  });

  it('is unhealthy with fewer ready workers than expected (a crashed worker not yet replaced)', () => {
    const answer = health([worker(1), worker(2, { state: 'booting' })]);
    expect(answer.httpStatus).to.equal(503);
    expect(answer.body).to.include({ status: 'unhealthy', database: 'connected', redis: 'connected' });
  });

  it('says `unknown`, never `disconnected`, for a dependency no serving worker has measured', () => {
    const nobodyServes = health([worker(1, { state: 'booting' }), worker(2, { lastHeardAt: NOW - 60_000 })]);
    expect(nobodyServes.httpStatus).to.equal(503);
    expect(nobodyServes.body).to.include({ status: 'unhealthy', database: 'unknown', redis: 'unknown' });
    expect(health([]).body).to.include({ database: 'unknown', redis: 'unknown' });
  });

  it('says redis `not configured` without REDIS_URL: healthy, not an outage; a worker that uses Redis still counts', () => {
    const noRedis = report({ redis: 'not configured' });
    const answer = health([worker(1, { lastReport: noRedis }), worker(2, { lastReport: noRedis })]);
    expect(answer.httpStatus).to.equal(200);
    expect(answer.body).to.include({ status: 'healthy', database: 'connected', redis: 'not configured' });
    expect(answer.body.details.map((d) => d.redis)).to.deep.equal(['not configured', 'not configured']);
    // The database still counts.
    const databaseDown = health([worker(1, { lastReport: { ...noRedis, database: 'disconnected' } }), worker(2, { lastReport: noRedis })]);
    expect(databaseDown.httpStatus).to.equal(503);
    expect(databaseDown.body).to.include({ database: 'disconnected', redis: 'not configured' });
    // A reload that sets REDIS_URL: the workers that use Redis decide, the others do not hurt.
    expect(health([worker(1, { lastReport: noRedis }), worker(2)]).body).to.include({ status: 'healthy', redis: 'connected' });
    const mixedDown = health([worker(1, { lastReport: noRedis }), worker(2, { lastReport: report({ redis: 'disconnected' }) })]);
    expect(mixedDown.httpStatus).to.equal(503);
    expect(mixedDown.body.redis).to.equal('disconnected');
    // No serving worker: unknown, as for any dependency.
    expect(health([worker(1, { state: 'booting', lastReport: noRedis })]).body.redis).to.equal('unknown');
  });

  it('reports the database disconnected while the migrations could not run yet', () => {
    const answer = health([worker(1), worker(2)], 2, false, false);
    expect(answer.httpStatus).to.equal(503);
    expect(answer.body).to.include({ status: 'unhealthy', database: 'disconnected', redis: 'connected' });
  });

  it('answers 503 draining as soon as a shutdown starts, even when everything is up', () => {
    const answer = health([worker(1), worker(2)], 2, true);
    expect(answer.httpStatus).to.equal(503);
    expect(answer.body.status).to.equal('draining');
  });

  it('isReady: one responsive worker and no shutdown', () => {
    expect(isReady(health([worker(1), worker(2, { lastHeardAt: NOW - 60_000 })]))).to.equal(true);
    expect(isReady(health([worker(1, { lastHeardAt: NOW - 60_000 })], 1))).to.equal(false);
    expect(isReady(health([worker(1, { state: 'booting' })], 1))).to.equal(false);
    expect(isReady(health([worker(1)], 1, true))).to.equal(false);
  });
});
