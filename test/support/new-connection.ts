import http from 'node:http';
import type { PulseProcess } from './pulse-process.js';
import { serverSocketOwner } from './socket-owner.js';

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** The worker that held the connection. */
  workerPid: number | undefined;
}

export interface NewConnectionRequest {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
}

/** One request on a connection of its own; which worker took it is read while it is still open. */
export function requestOnNewConnection(pulse: PulseProcess, path: string, workerPids: number[], options: NewConnectionRequest = {}): Promise<Answer> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  return new Promise<Answer>((resolve, reject) => {
    const req = http.request(`${pulse.url}${path}`, { agent, method: options.method ?? 'GET', headers: options.headers }, (res) => {
      const clientPort = res.socket.localPort!;
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => {
        const workerPid = serverSocketOwner(pulse.port, clientPort, workerPids);
        resolve({ status: res.statusCode!, headers: res.headers, body, workerPid });
      });
    });
    req.on('error', reject);
    req.end(options.body);
  }).finally(() => agent.destroy());
}
