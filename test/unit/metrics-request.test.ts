import http from 'node:http';
import type { AddressInfo } from 'node:net';
import Router from '@koa/router';
import { expect } from 'chai';
import Koa from 'koa';
import { createAppMetrics, UNMATCHED_ROUTE, type AppMetrics } from '../../src/app/metrics.js';
import { requestMetrics } from '../../src/app/request-metrics.js';
import { closeRedis, createRedis, type RedisClient } from '../../src/cache/redis.js';
import { createDatabase, type Database } from '../../src/db/database.js';
import { createLogger } from '../../src/shared/logger.js';
import { POSTGRES_ADMIN_URL, TEST_REDIS_URL } from '../support/databases.js';
import { labelValues, parseExposition, sampleValue } from '../support/prometheus-text.js';

describe('request metrics (unit): labelled by route pattern, never by raw URL', () => {
  let server: http.Server;
  let metrics: AppMetrics;
  let base: string;
  let db: Database;
  let redis: RedisClient;

  before(async () => {
    db = createDatabase(POSTGRES_ADMIN_URL, { poolMax: 1 });
    redis = createRedis(TEST_REDIS_URL, createLogger('test', 'silent'));
    await redis.connect();
    metrics = createAppMetrics({ db, redis });
    const router = new Router();
    router.get('/things/:id', (ctx) => {
      ctx.body = { id: ctx.params.id };
    });
    router.post('/things', (ctx) => {
      ctx.throw(422, 'bad thing');
    });
    const app = new Koa();
    app.silent = true;
    app.use(requestMetrics(metrics));
    app.use(router.routes());
    app.use(router.allowedMethods());
    server = http.createServer(app.callback());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await db.destroy();
    await closeRedis(redis);
  });

  it('counts and times by method, route pattern and status; unmatched paths share one label', async () => {
    for (const id of ['1', '2', 'abc']) expect((await fetch(`${base}/things/${id}`)).status).to.equal(200);
    expect((await fetch(`${base}/things`, { method: 'POST' })).status).to.equal(422);
    for (let i = 0; i < 5; i += 1) expect((await fetch(`${base}/random-${Math.random()}`)).status).to.equal(404);

    const samples = parseExposition(await metrics.registry.metrics());
    expect(sampleValue(samples, 'http_requests_total', { method: 'GET', route: '/things/:id', status: '200' })).to.equal(3);
    expect(sampleValue(samples, 'http_requests_total', { method: 'POST', route: '/things', status: '422' })).to.equal(1);
    expect(sampleValue(samples, 'http_requests_total', { method: 'GET', route: UNMATCHED_ROUTE, status: '404' })).to.equal(5);
    expect(labelValues(samples, 'http_requests_total', 'route')).to.deep.equal([UNMATCHED_ROUTE, '/things', '/things/:id'].sort());
    expect(sampleValue(samples, 'http_request_duration_seconds_count', { route: '/things/:id', status: '200' })).to.equal(3);
    expect(labelValues(samples, 'http_request_duration_seconds_bucket', 'route')).to.have.length(3);
    // The same registry reads the real clients it was given.
    expect(sampleValue(samples, 'pulse_redis_up', {})).to.equal(1);
    expect(labelValues(samples, 'pulse_db_pool_connections', 'state')).to.deep.equal(['free', 'pending_acquire', 'pending_create', 'used']);
  });
});
