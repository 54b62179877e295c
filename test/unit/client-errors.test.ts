import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { answerClientErrorsWithJson } from '../../src/worker/client-errors.js';
import { parseResponse } from '../support/raw-http.js';
import net from 'node:net';

function rawExchange(port: number, payload: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let received = '';
    socket.on('data', (chunk) => (received += chunk.toString()));
    socket.on('error', reject);
    socket.on('close', () => resolve(received));
    socket.write(payload);
  });
}

describe('requests the HTTP parser rejects', () => {
  let server: http.Server;
  let port: number;
  before(async () => {
    server = http.createServer((_req, res) => res.end('ok'));
    answerClientErrorsWithJson(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('answers malformed HTTP with the JSON envelope and 400', async () => {
    const response = parseResponse(await rawExchange(port, 'GARBAGE\r\n\r\n'))!;
    expect(response.status).to.equal(400);
    expect(response.headers['content-type']).to.match(/application\/json/);
    expect(JSON.parse(response.body)).to.deep.equal({ success: false, message: 'Bad request' });
    expect(response.headers['x-request-id']).to.match(/^[0-9a-f-]{36}$/);
  });

  it('answers oversized headers with 431 and the JSON envelope', async () => {
    const huge = `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`;
    const response = parseResponse(await rawExchange(port, huge))!;
    expect(response.status).to.equal(431);
    expect(JSON.parse(response.body)).to.deep.equal({ success: false, message: 'Request header fields too large' });
    expect(response.headers['x-request-id']).to.match(/^[0-9a-f-]{36}$/);
  });
});
