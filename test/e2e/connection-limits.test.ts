import http from 'node:http';
import net from 'node:net';
import { expect } from 'chai';
import { scrapeMetrics } from '../support/observe.js';
import { sampleValue } from '../support/prometheus-text.js';
import { pulsePerTest } from '../support/pulse-process.js';
import { sleep, waitFor } from '../support/wait.js';

interface RawOutcome {
  data: string;
  closedAfterMs: number;
}

/** A raw connection that sends `chunks` one by one, `everyMs` apart, and records what comes back until it closes. */
function rawConnection(port: number, chunks: string[] = [], everyMs = 500): { outcome: Promise<RawOutcome>; socket: net.Socket } {
  const socket = net.connect(port, '127.0.0.1');
  const started = Date.now();
  let data = '';
  socket.on('data', (chunk) => (data += chunk.toString()));
  socket.on('error', () => undefined);
  const timer = setInterval(() => {
    const next = chunks.shift();
    if (next !== undefined && !socket.destroyed) socket.write(next);
  }, everyMs);
  const outcome = new Promise<RawOutcome>((resolve) => {
    socket.once('close', () => {
      clearInterval(timer);
      resolve({ data, closedAfterMs: Date.now() - started });
    });
  });
  return { outcome, socket };
}

const HEADERS_TIMEOUT_MS = 2000;

describe('slow and idle connections, and the connection cap (end to end)', function () {
  this.timeout(40_000);
  const pulses = pulsePerTest();
  const opened: net.Socket[] = [];
  afterEach(() => {
    for (const socket of opened.splice(0)) socket.destroy();
  });

  it('a connection that never sends a byte, or sends its headers byte by byte, gets a 408 and is closed at HTTP_HEADERS_TIMEOUT_MS', async () => {
    const pulse = await pulses.start({ workers: 1, env: { HTTP_HEADERS_TIMEOUT_MS: String(HEADERS_TIMEOUT_MS) } });
    const silent = rawConnection(pulse.port);
    const header = 'GET /ping HTTP/1.1\r\nHost: localhost\r\nX-Slow: ' + 'a'.repeat(40);
    const slowloris = rawConnection(pulse.port, [...header], 200);
    opened.push(silent.socket, slowloris.socket);

    for (const { outcome } of [silent, slowloris]) {
      const { data, closedAfterMs } = await outcome;
      expect(data).to.match(/^HTTP\/1\.1 408 /);
      expect(data).to.include('{"success":false,"message":"Request timeout"}');
      expect(closedAfterMs).to.be.within(HEADERS_TIMEOUT_MS - 100, HEADERS_TIMEOUT_MS + 2500);
    }
  });

  it('a request whose body does not arrive within HTTP_REQUEST_TIMEOUT_MS gets a 408 and the connection closes', async () => {
    const requestTimeoutMs = 2500;
    const pulse = await pulses.start({ workers: 1, env: { HTTP_HEADERS_TIMEOUT_MS: String(HEADERS_TIMEOUT_MS), HTTP_REQUEST_TIMEOUT_MS: String(requestTimeoutMs) } });
    const head = 'POST /register HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{"email":';
    const slowBody = rawConnection(pulse.port, [head, ...'"x@example.com"'.split('')], 300);
    opened.push(slowBody.socket);
    const { data, closedAfterMs } = await slowBody.outcome;
    expect(data).to.match(/^HTTP\/1\.1 408 /);
    expect(data).to.include('{"success":false,"message":"Request timeout"}');
    expect(closedAfterMs).to.be.within(requestTimeoutMs - 100, requestTimeoutMs + 2500);
  });

  it('holds at most MAX_CONNECTIONS_PER_WORKER: one more is closed on arrival and counted; the service recovers when the held ones expire', async () => {
    const cap = 20;
    const pulse = await pulses.start({ workers: 1, env: { MAX_CONNECTIONS_PER_WORKER: String(cap), HTTP_HEADERS_TIMEOUT_MS: String(HEADERS_TIMEOUT_MS) } });
    const held = Array.from({ length: cap }, () => rawConnection(pulse.port));
    opened.push(...held.map((h) => h.socket));
    await waitFor(async () => sampleValue((await scrapeMetrics(pulse)).samples, 'pulse_open_connections') === cap, 'the worker to hold all of them');
    const extra = rawConnection(pulse.port);
    opened.push(extra.socket);
    const { data, closedAfterMs } = await extra.outcome;
    expect(data, 'closed without an answer').to.equal('');
    expect(closedAfterMs).to.be.below(1000);

    await Promise.all(held.map((h) => h.outcome));
    // The worker notices the closes a moment after the clients do.
    await waitFor(async () => (await fetch(`${pulse.url}/ping`)).status === 200, 'a request served again', 3000);
    const metrics = await scrapeMetrics(pulse);
    expect(sampleValue(metrics.samples, 'pulse_connections_refused_total')).to.be.at.least(1);
  });

  it('keeps legitimate keep-alive clients within the cap: 400 connections reused for a second round, all answered', async () => {
    const pulse = await pulses.start({ workers: 2, env: { RATE_LIMIT_MAX: '1000000', MAX_CONNECTIONS_PER_WORKER: '1000' } });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 400, maxFreeSockets: 400 });
    const get = () =>
      new Promise<{ status: number; reused: boolean }>((resolve, reject) => {
        const req = http.get({ host: '127.0.0.1', port: pulse.port, path: '/ping', agent }, (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode!, reused: req.reusedSocket }));
        });
        req.on('error', reject);
      });
    const first = await Promise.all(Array.from({ length: 400 }, get));
    // The clients stay idle a while (below HTTP_KEEP_ALIVE_TIMEOUT_MS): nothing to wait for.
    await sleep(1000);
    const second = await Promise.all(Array.from({ length: 400 }, get));
    agent.destroy();
    expect([...first, ...second].every((r) => r.status === 200)).to.equal(true);
    expect(second.filter((r) => r.reused).length, 'idle connections kept between the rounds').to.be.above(300);
    await waitFor(async () => sampleValue((await scrapeMetrics(pulse)).samples, 'pulse_connections_refused_total') === 0, 'no refused connection');
  });
});
