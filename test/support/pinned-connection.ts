import http from 'node:http';
import { expect } from 'chai';
import type { PulseProcess } from './pulse-process.js';
import { serverSocketOwner } from './socket-owner.js';

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Record<string, unknown>;
}

/** A keep-alive connection whose worker is known, so a test can choose who answers. */
export class PinnedConnection {
  private constructor(
    private readonly pulse: PulseProcess,
    private readonly agent: http.Agent,
    readonly workerPid: number | undefined,
  ) {}

  static async open(pulse: PulseProcess, workerPids: number[]): Promise<PinnedConnection> {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const probe = new PinnedConnection(pulse, agent, undefined);
    const clientPort = await probe.requestWithPort('GET', '/ping');
    return new PinnedConnection(pulse, agent, serverSocketOwner(pulse.port, clientPort, workerPids));
  }

  private requestWithPort(method: string, path: string, body?: unknown, token?: string): Promise<number> {
    return new Promise((resolve, reject) => {
      const req = http.request(`${this.pulse.url}${path}`, { method, agent: this.agent, headers: this.headers(token) }, (res) => {
        const clientPort = res.socket.localPort ?? 0;
        res.resume();
        res.on('end', () => resolve(clientPort));
      });
      req.on('error', reject);
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
  }

  private headers(token?: string, extra: Record<string, string> = {}): Record<string, string> {
    return { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}), ...extra };
  }

  send(method: string, path: string, body?: unknown, token?: string, headers?: Record<string, string>): Promise<Reply> {
    return new Promise((resolve, reject) => {
      const req = http.request(`${this.pulse.url}${path}`, { method, agent: this.agent, headers: this.headers(token, headers) }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: JSON.parse(text) as Record<string, unknown> }));
      });
      req.on('error', reject);
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/**
 * One keep-alive connection on each worker (opened until every worker has one; the extra
 * ones are kept in `opened` too, for the caller to close), in the order of `workerPids`.
 */
export async function pinOneConnectionPerWorker(pulse: PulseProcess, workerPids: number[], opened: PinnedConnection[]): Promise<PinnedConnection[]> {
  const byWorker = new Map<number, PinnedConnection>();
  for (let attempt = 0; attempt < 10 * workerPids.length && byWorker.size < workerPids.length; attempt += 1) {
    const connection = await PinnedConnection.open(pulse, workerPids);
    opened.push(connection);
    if (connection.workerPid !== undefined && !byWorker.has(connection.workerPid)) byWorker.set(connection.workerPid, connection);
  }
  expect(byWorker.size, 'a connection on each worker').to.equal(workerPids.length);
  return workerPids.map((pid) => byWorker.get(pid)!);
}
