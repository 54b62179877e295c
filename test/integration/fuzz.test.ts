import http from 'node:http';
import net from 'node:net';
import { expect } from 'chai';
import jwt from 'jsonwebtoken';
import { signUp, startApi, TEST_JWT_SECRET, type ApiHarness } from './api-harness.js';

/** mulberry32: small, fast, deterministic. FUZZ_SEED reproduces a failing run. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SEED = Number(process.env.FUZZ_SEED ?? 20261124);
const REQUESTS = 700;
const CONCURRENCY = 8;

const HOSTILE_STRINGS = [
  '',
  ' ',
  "' OR '1'='1",
  '1; DROP TABLE entries; --',
  '"; SELECT pg_sleep(10); --',
  '\\',
  '%',
  '%ZZ',
  '%00',
  '\u0000',
  '\ud800',
  '💥'.repeat(50),
  'a'.repeat(5000),
  '<script>alert(1)</script>',
  '${jndi:ldap://x}',
  '../../etc/passwd',
  '__proto__',
  'constructor',
  'null',
  'NaN',
  '-0',
  '1e309',
  '0x7fffffff',
  '99999999999999999999',
  '9223372036854775807',
  '9223372036854775808',
  '-9223372036854775809',
  '1.5',
  '2025-02-30',
  '2025-01-01T00:00:00Z',
  'eyJ0IjoiMjAyNS0wMS0wMVQwMDowMDowMC4wMDBaIiwiaSI6MX0',
];

const HOSTILE_NUMBERS = [0, -1, 1, 7, 10, 11, 7.5, -0, 1e308, -1e308, 2 ** 53 + 1, Number.MAX_SAFE_INTEGER, 1e-300];

describe('journal API: fuzz (random and hostile requests at every route)', function () {
  this.timeout(120_000);
  let api: ApiHarness;
  let validToken: string;
  let otherToken: string;
  let agent: http.Agent;

  before(async () => {
    api = await startApi({ label: 'api_fuzz' });
    validToken = (await signUp(api, 'fuzz@example.com')).token;
    otherToken = (await signUp(api)).token;
    for (let i = 0; i < 5; i += 1) {
      await api.request('POST', '/entries', { token: validToken, body: { text: `seed ${i}`, mood: 5, category: 'c' } });
    }
    agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  });
  after(async () => {
    agent?.destroy();
    await api?.close();
  });

  function generator(random: () => number) {
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    const chance = (p: number) => random() < p;
    const randomString = () =>
      chance(0.6)
        ? pick(HOSTILE_STRINGS)
        : String.fromCharCode(...Array.from({ length: Math.floor(random() * 20) }, () => Math.floor(random() * 0xffff)));
    /** Percent-encodes the UTF-8 bytes, lone surrogates included (encodeURIComponent throws on those). */
    const encode = (value: string) => [...Buffer.from(value)].map((byte) => `%${byte.toString(16).padStart(2, '0')}`).join('');

    const jsonValue = (depth: number): unknown => {
      const kind = Math.floor(random() * (depth > 3 ? 4 : 6));
      if (kind === 0) return pick(HOSTILE_NUMBERS);
      if (kind === 1) return randomString();
      if (kind === 2) return pick([true, false, null]);
      if (kind === 3) return Math.floor(random() * 12);
      if (kind === 4) return Array.from({ length: Math.floor(random() * 4) }, () => jsonValue(depth + 1));
      return Object.fromEntries(Array.from({ length: Math.floor(random() * 4) }, () => [pick(['text', 'mood', 'category', 'email', 'password', 'id', '__proto__', 'user_id']), jsonValue(depth + 1)]));
    };

    const plausibleBody = () => ({
      text: chance(0.7) ? 'fuzz text' : jsonValue(2),
      mood: chance(0.6) ? Math.floor(random() * 12) : jsonValue(2),
      category: chance(0.7) ? pick(['work', 'home', ' ', '']) : jsonValue(2),
      email: chance(0.5) ? `f${Math.floor(random() * 1e6)}@example.com` : jsonValue(2),
      password: chance(0.5) ? 'secret123' : jsonValue(2),
    });

    const body = (): string | Buffer | undefined => {
      switch (Math.floor(random() * 12)) {
        case 0: return undefined;
        case 1: return '';
        case 2: return '{"text": "unterminated';
        case 3: return '['.repeat(20_000) + ']'.repeat(20_000);
        case 4: return Buffer.from([0xff, 0xfe, 0x7b, 0x7d, 0xc3, 0x28]);
        case 5: return `{"text":"${'x'.repeat(70 * 1024)}","mood":5,"category":"c"}`;
        case 6: return '\ufeff{"text":"bom","mood":5,"category":"c"}';
        case 7: return '{"mood": 1e999, "text": "t", "category": "c"}';
        case 8: return '{"__proto__": {"admin": true}, "text": "t", "mood": 5, "category": "c"}';
        case 9: return JSON.stringify(jsonValue(0));
        default: return JSON.stringify(plausibleBody());
      }
    };

    const path = (): string => {
      const base = pick([
        '/register', '/login', '/entries', '/stats', '/ping', '/health',
        `/entries/${encode(pick(HOSTILE_STRINGS))}`,
        `/entries/${Math.floor(random() * 20)}`,
        '/entries/%', '/entries/%E0%A4%A', '//entries', '/entries/../stats', '/ENTRIES', '/entries/', '/nope', '/',
      ]);
      const params = Array.from({ length: Math.floor(random() * 5) }, () => {
        const key = pick(['page', 'limit', 'id', 'cursor', 'category', 'from', 'to', 'id[]', 'page[x]', '%', '']);
        const value = chance(0.3) ? String(Math.floor(random() * 1000) - 100) : (chance(0.5) ? encode(randomString()) : encodeURI(pick(HOSTILE_STRINGS.filter((v) => v !== '\ud800'))));
        return chance(0.1) ? key : `${key}=${value}`;
      });
      return params.length ? `${base}?${params.join('&')}` : base;
    };

    const authorization = (): string | undefined =>
      pick([
        undefined,
        `Bearer ${validToken}`,
        `Bearer ${validToken}`,
        `Bearer ${otherToken}`,
        `bearer ${validToken}`,
        'Bearer',
        `Bearer ${randomString()}`.replace(/[^\t\x20-\x7e\x80-\xff]/g, ''),
        `Bearer ${jwt.sign({ user_id: 'x' }, TEST_JWT_SECRET)}`,
        `Bearer ${jwt.sign({ user_id: 2 ** 60 }, TEST_JWT_SECRET)}`,
        `Bearer ${jwt.sign({ user_id: 99999 }, TEST_JWT_SECRET)}`,
        `Bearer ${'a'.repeat(4000)}`,
        'Basic Zm9vOmJhcg==',
      ]);

    return () => {
      const headers: Record<string, string> = {};
      const auth = authorization();
      if (auth !== undefined) headers.Authorization = auth;
      if (chance(0.7)) headers['Content-Type'] = pick(['application/json', 'text/plain', 'multipart/form-data; boundary=x', 'application/json; charset=latin1', '*/*', 'garbage']);
      if (chance(0.1)) headers['Content-Encoding'] = pick(['gzip', 'br', 'identity', 'x']);
      if (chance(0.2)) headers['X-Forwarded-For'] = pick(['1.2.3.4', 'garbage', '::1, 10.0.0.1', "'; --"]);
      if (chance(0.05)) headers['Accept'] = 'text/html';
      return {
        method: pick(['GET', 'GET', 'POST', 'POST', 'PATCH', 'DELETE', 'PUT', 'HEAD', 'OPTIONS', 'PROPFIND', 'TRACE']),
        path: path(),
        headers,
        body: body(),
      };
    };
  }

  function send(request: { method: string; path: string; headers: Record<string, string>; body?: string | Buffer }) {
    // Node's client frames a DELETE/GET body only when told its length.
    const headers = request.body === undefined ? request.headers : { ...request.headers, 'Content-Length': String(Buffer.byteLength(request.body)) };
    return new Promise<{ status: number; contentType: string; text: string }>((resolve, reject) => {
      const req = http.request(
        { host: '127.0.0.1', port: api.port, method: request.method, path: request.path, headers, agent },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (chunk) => (text += chunk));
          res.on('end', () => resolve({ status: res.statusCode!, contentType: String(res.headers['content-type'] ?? ''), text }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(request.body);
    });
  }

  it(`answers ${REQUESTS} random requests (seed ${SEED}) without a 5xx, always in the JSON envelope`, async () => {
    const next = generator(prng(SEED));
    const requests = Array.from({ length: REQUESTS }, next);
    const statuses = new Map<number, number>();
    let cursor = 0;
    const worker = async () => {
      while (cursor < requests.length) {
        const request = requests[cursor++]!;
        const label = `${request.method} ${request.path.slice(0, 120)} (seed ${SEED})`;
        let res;
        try {
          res = await send(request);
        } catch (error) {
          // A refused oversized body may reset the connection while we still write it.
          if (Buffer.byteLength(request.body ?? '') > 64 * 1024 && /ECONNRESET|EPIPE/.test(String(error))) continue;
          throw new Error(`${label}: ${String(error)}`);
        }
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
        // In-process there is no supervisor to ask, so /health truthfully answers 503.
        if (/^\/health(\?|$)/.test(request.path) && ['GET', 'HEAD'].includes(request.method)) continue;
        expect(res.status, `${label}: ${res.text.slice(0, 200)} ${JSON.stringify(request.headers).slice(0, 200)} ${JSON.stringify(String(request.body).slice(0, 200))}`).to.be.below(500);
        // 431 comes from Node's HTTP parser (headers over 16 KiB), before any app code runs.
        if (res.status < 400 && request.method !== 'HEAD') {
          // A success is a real answer: the ping text, or JSON that says so.
          if (/^\/ping(\?|$)/.test(request.path)) expect(res.text, label).to.equal('Ping response: pong');
          else expect(JSON.parse(res.text), label).to.have.property('success', true);
        }
        if (res.status >= 400 && res.status !== 431 && request.method !== 'HEAD') {
          let body;
          try {
            body = JSON.parse(res.text);
          } catch {
            throw new Error(`${label}: ${res.status} without a JSON body: ${JSON.stringify(res.text.slice(0, 100))}`);
          }
          expect(Object.keys(body).sort(), label).to.deep.equal(['message', 'success']);
          expect(body.success).to.equal(false);
          expect(body.message).to.be.a('string').and.not.match(/\n\s+at |Error:|select |insert /i);
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    // The mix must reach the interesting answers, not only 401s.
    for (const status of [200, 400, 401, 404, 405, 413]) expect(statuses.get(status) ?? 0, `status ${status}`).to.be.above(0);
  });

  it('answers malformed HTTP on raw sockets with the right 4xx, never silence', async () => {
    const raw: Array<[payload: string, status: number]> = [
      ['GET /entries HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 400],
      ['POST /register HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n', 400],
      ['POST /register HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"email":', 400],
      ['POST /entries HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', 400],
      ['GET /entries?id=%%% HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \u0001\r\n\r\n', 400],
      ['GARBAGE\r\n\r\n', 400],
      [`GET /${'a'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`, 431],
    ];
    for (const [payload, expected] of raw) {
      const answer = await new Promise<string>((resolve) => {
        const socket = net.connect(api.port, '127.0.0.1');
        let received = '';
        socket.on('data', (chunk) => (received += chunk));
        socket.on('error', () => resolve(received));
        socket.on('close', () => resolve(received));
        socket.write(payload);
        // Requests whose body never completes are ended from our side.
        setTimeout(() => socket.end(), 300);
      });
      const status = /^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1];
      expect(status, `${JSON.stringify(payload.slice(0, 60))} -> ${JSON.stringify(answer.slice(0, 80))}`).to.equal(String(expected));
    }
  });

  it('still answers correctly afterwards', async () => {
    expect((await api.request('GET', '/ping')).status).to.equal(200);
    const created = await api.request('POST', '/entries', { token: validToken, body: { text: 'after', mood: 9, category: 'c' } });
    expect(created.status).to.equal(201);
    const listed = await api.request('GET', '/entries?limit=100', { token: validToken });
    expect(listed.status).to.equal(200);
    expect(listed.json.entries.map((e: { id: number }) => e.id)).to.include(created.json.id);
    expect(await api.db('users').count({ n: '*' })).to.have.deep.nested.property('[0].n').that.is.above(1);
  });
});
