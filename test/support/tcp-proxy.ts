import net from 'node:net';
import { uniqueDatabaseUrl } from './databases.js';

/**
 * A TCP proxy in front of a dependency (Redis, Postgres) that a test can stop accepting
 * new connections on (connections already open keep working), cut entirely, or reopen.
 */
export class TcpProxy {
  private server: net.Server | undefined;
  private readonly open = new Set<net.Socket>();
  port = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  async start(port = 0): Promise<number> {
    const server = net.createServer((client) => {
      const upstream = net.connect(this.targetPort, this.targetHost);
      for (const socket of [client, upstream]) {
        this.open.add(socket);
        socket.on('error', () => undefined);
        socket.once('close', () => {
          this.open.delete(socket);
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as net.AddressInfo).port;
    return this.port;
  }

  /** New connections are refused from now on; established ones carry on. */
  async refuseNew(): Promise<void> {
    // close() stops listening at once; its callback would wait for the open connections.
    this.server?.close();
    this.server = undefined;
  }

  /** Accepts again on the same port (retrying while the old listener's port is released). */
  async reopen(): Promise<void> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        await this.start(this.port);
        return;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= 50) throw error;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
  }

  /** Refuses new connections and drops every established one. */
  async cut(): Promise<void> {
    await this.refuseNew();
    for (const socket of this.open) socket.destroy();
  }
}

/**
 * A fresh test database reached through a proxy the test can cut: start Pulse with
 * `DATABASE_URL: databaseUrl` (the primary migrates through the proxy, so it is up then).
 */
export async function cuttableDatabase(label: string): Promise<{ proxy: TcpProxy; databaseUrl: string }> {
  const proxy = new TcpProxy('127.0.0.1', 5432);
  await proxy.start();
  const databaseUrl = new URL(uniqueDatabaseUrl(label));
  databaseUrl.port = String(proxy.port);
  return { proxy, databaseUrl: databaseUrl.toString() };
}
