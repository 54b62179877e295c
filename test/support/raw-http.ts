import net from 'node:net';

export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * An HTTP/1.1 request written by hand, so a test controls exactly when each byte of
 * the body leaves (a slow client) and sees the raw response or the cut connection.
 */
export class SlowRequest {
  readonly socket: net.Socket;
  private received = '';
  readonly done: Promise<RawResponse | { cut: true }>;

  constructor(port: number, method: string, path: string, private readonly body: string) {
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.on('data', (chunk) => (this.received += chunk.toString()));
    this.done = new Promise((resolve) => {
      this.socket.on('error', () => undefined);
      this.socket.once('close', () => resolve(parseResponse(this.received) ?? { cut: true }));
    });
    this.socket.write(
      `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: keep-alive\r\n\r\n`,
    );
  }

  connected(): Promise<void> {
    return new Promise((resolve, reject) => {
      if (!this.socket.connecting) return resolve();
      this.socket.once('connect', () => resolve());
      this.socket.once('error', reject);
    });
  }

  sendPart(bytes: number): void {
    this.socket.write(this.body.slice(0, bytes));
  }

  sendRest(from: number): void {
    this.socket.write(this.body.slice(from));
  }

  /** Resolves with the response as soon as it is complete (the socket may stay open). */
  async response(timeoutMs = 10_000): Promise<RawResponse | { cut: true }> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const parsed = parseResponse(this.received);
      if (parsed && parsed.body.length >= Number(parsed.headers['content-length'] ?? 0)) return parsed;
      if (this.socket.destroyed) return (await this.done);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    throw new Error(`no response within ${timeoutMs} ms (received ${JSON.stringify(this.received)})`);
  }
}

export function parseResponse(raw: string): RawResponse | undefined {
  const headerEnd = raw.indexOf('\r\n\r\n');
  if (headerEnd < 0) return undefined;
  const [statusLine, ...headerLines] = raw.slice(0, headerEnd).split('\r\n');
  const status = Number(statusLine!.split(' ')[1]);
  const headers: Record<string, string> = {};
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status, headers, body: raw.slice(headerEnd + 4) };
}

/** Resolves with the error code of a plain TCP connect (or 'connected'). */
export function tryConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}
