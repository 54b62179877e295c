import crypto from 'node:crypto';
import { expect } from 'chai';
import { type LogLine, type PulseProcess, pulsePerTest } from '../support/pulse-process.js';
import { cuttableDatabase, type TcpProxy } from '../support/tcp-proxy.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

interface Answer {
  status: number;
  requestId: string | null;
  contentLength: string | null;
  json: any;
}

const parsedJson = (res: Response, text: string) => (res.headers.get('content-type')?.startsWith('application/json') ? JSON.parse(text) : undefined);

async function send(pulse: PulseProcess, method: string, path: string, options: { token?: string; body?: unknown; requestId?: string } = {}): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (options.token) headers.Authorization = `Bearer ${options.token}`;
  if (options.requestId !== undefined) headers['X-Request-Id'] = options.requestId;
  const res = await fetch(`${pulse.url}${path}`, { method, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) });
  const text = await res.text();
  return { status: res.status, requestId: res.headers.get('x-request-id'), contentLength: res.headers.get('content-length'), json: parsedJson(res, text) };
}

/** The access line of a request, waited for: it is written when the response is done. */
function accessLine(pulse: PulseProcess, requestId: string | null): Promise<LogLine> {
  expect(requestId, 'X-Request-Id on the response').to.be.a('string');
  return pulse.waitForLog((line) => line.msg === 'request' && line.requestId === requestId);
}

describe('access log and request ids (end to end)', function () {
  this.timeout(60_000);
  const pulses = pulsePerTest();
  let proxy: TcpProxy | undefined;
  afterEach(async () => {
    await proxy?.cut();
    proxy = undefined;
  });

  it('one JSON line per request with route pattern, status, duration, bytes, ip, user and request id; the id of a failed request is on its error line too', async () => {
    const { proxy: cuttable, databaseUrl } = await cuttableDatabase('accesslog');
    proxy = cuttable;
    const pulse = await pulses.start({ workers: 2, env: { DATABASE_URL: databaseUrl, RATE_LIMIT_MAX: '100000' } });

    const credentials = { email: `access-${crypto.randomUUID()}@example.com`, password: 'secret123' };
    const registered = await send(pulse, 'POST', '/register', { body: credentials });
    expect(registered.status).to.equal(201);
    const registerLine = await accessLine(pulse, registered.requestId);
    expect(registered.requestId).to.match(UUID);
    expect(registerLine).to.include({ level: 30, method: 'POST', route: '/register', status: 201, ip: '127.0.0.1', bytes: Number(registered.contentLength) });
    expect(registerLine.durationMs).to.be.a('number').and.to.be.above(0);
    expect(registerLine).to.not.have.property('userId');
    expect(JSON.stringify(registerLine)).to.not.include(credentials.password);
    const { token } = (await send(pulse, 'POST', '/login', { body: credentials })).json as { token: string };
    const userId = registered.json.user_id as number;

    // A well-formed incoming id is kept, returned and logged; the user is named once authenticated.
    const created = await send(pulse, 'POST', '/entries', { token, body: { text: 'ran', mood: 7, category: 'sport' }, requestId: 'lb-7f3a.42:retry=1' });
    expect(created.status).to.equal(201);
    expect(created.requestId).to.equal('lb-7f3a.42:retry=1');
    expect(await accessLine(pulse, created.requestId)).to.include({ method: 'POST', route: '/entries', status: 201, userId });

    const missing = await send(pulse, 'GET', '/entries/987654321', { token });
    expect(missing.status).to.equal(404);
    expect(await accessLine(pulse, missing.requestId)).to.include({ method: 'GET', route: '/entries/:id', status: 404, userId, bytes: Number(missing.contentLength) });

    const denied = await send(pulse, 'GET', '/entries', { token: 'not-a-token' });
    expect(denied.status).to.equal(401);
    expect(await accessLine(pulse, denied.requestId)).to.include({ route: '/entries', status: 401 }).and.not.have.property('userId');

    const unknownPath = `/nowhere-${crypto.randomUUID()}`;
    const unknown = await send(pulse, 'GET', unknownPath);
    expect(unknown.status).to.equal(404);
    expect(await accessLine(pulse, unknown.requestId)).to.include({ route: '<unmatched>', status: 404 });

    // Malformed ids (too long, characters that could break a log line or a header) are replaced.
    for (const sent of ['x'.repeat(129), 'two words', '<script>', 'ünïcode']) {
      const answer = await send(pulse, 'GET', '/ping', { requestId: sent });
      expect(answer.status).to.equal(200);
      expect(answer.requestId, sent).to.match(UUID);
      await accessLine(pulse, answer.requestId);
    }
    expect(pulse.logs.some((line) => JSON.stringify(line).includes(unknownPath))).to.equal(false);

    // The database goes away: the 503 carries its id, and so does the error line that says why.
    await cuttable.cut();
    const unavailable = await send(pulse, 'GET', '/entries', { token, requestId: 'outage-1' });
    expect(unavailable.status).to.equal(503);
    expect(unavailable.requestId).to.equal('outage-1');
    expect(await accessLine(pulse, 'outage-1')).to.include({ route: '/entries', status: 503, userId });
    const failed = await pulse.waitForLog((line) => line.msg === 'request failed' && line.requestId === 'outage-1');
    expect(failed.level).to.equal(50);
    expect(failed).to.include({ role: 'worker' });
    expect(failed.worker).to.be.a('number');
    expect((failed.err as { message?: string }).message).to.be.a('string').and.not.equal('');

    // Exactly one access line per request.
    const ids = pulse.logs.filter((line) => line.msg === 'request').map((line) => line.requestId);
    expect(new Set(ids).size).to.equal(ids.length);
  });

  it('ACCESS_LOG=false: no access lines, but every answer still carries a request id', async () => {
    const pulse = await pulses.start({ workers: 1, env: { ACCESS_LOG: 'false', RATE_LIMIT_MAX: '100000' } });
    const answers = [await send(pulse, 'GET', '/ping'), await send(pulse, 'GET', '/nowhere'), await send(pulse, 'GET', '/ping', { requestId: 'kept-1' })];
    expect(answers.map((a) => a.status)).to.deep.equal([200, 404, 200]);
    expect(answers[0]!.requestId).to.match(UUID);
    expect(answers[1]!.requestId).to.match(UUID);
    expect(answers[2]!.requestId).to.equal('kept-1');
    // The worker's own lines after the requests are written after any access line would have been.
    await pulse.stop();
    expect(pulse.logs.some((line) => line.msg === 'drain finished')).to.equal(true);
    expect(pulse.logs.filter((line) => line.msg === 'request')).to.deep.equal([]);
  });
});
