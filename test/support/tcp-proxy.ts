import net from 'node:net';
import { uniqueDatabaseUrl } from './databases.js';

/**
 * What a relayed connection does with the bytes it reads: pass them on, drop them (the
 * path forgot the connection: NAT or firewall timeout, failover), or leave them unread
 * (a partition: delivered late, when it heals).
 */
type Flow = 'forward' | 'drop' | 'held';

interface Relay {
  client: net.Socket;
  upstream: net.Socket | undefined;
  toUpstream: Flow;
  toClient: Flow;
}

/**
 * A TCP proxy in front of a dependency (Redis, Postgres) that a test can stop accepting
 * new connections on (connections already open keep working), cut entirely, or reopen;
 * and, without closing anything, partition (`blackhole`), silently kill the established
 * connections (`silenceExisting`), or hold the answer to one request (`holdReplyAfter`).
 */
export class TcpProxy {
  private server: net.Server | undefined;
  private readonly open = new Set<net.Socket>();
  private readonly relays = new Set<Relay>();
  private partitioned = false;
  private armedHold: { marker: Buffer; triggered: () => void } | undefined;
  port = 0;

  constructor(
    private readonly targetHost: string,
    private readonly targetPort: number,
  ) {}

  async start(port = 0): Promise<number> {
    const server = net.createServer((client) => this.accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    this.server = server;
    this.port = (server.address() as net.AddressInfo).port;
    return this.port;
  }

  private accept(client: net.Socket): void {
    const relay: Relay = { client, upstream: undefined, toUpstream: 'forward', toClient: 'forward' };
    this.relays.add(relay);
    this.track(client, relay);
    client.on('data', (chunk: Buffer) => this.fromClient(relay, chunk));
    if (this.partitioned) {
      // Accepted (the handshake is the kernel's) but the connection goes nowhere yet.
      relay.toUpstream = relay.toClient = 'held';
      client.pause();
      return;
    }
    this.connectUpstream(relay);
  }

  private connectUpstream(relay: Relay): void {
    const upstream = net.connect(this.targetPort, this.targetHost);
    relay.upstream = upstream;
    this.track(upstream, relay);
    upstream.on('data', (chunk: Buffer) => {
      if (relay.toClient === 'forward') relay.client.write(chunk);
    });
  }

  private track(socket: net.Socket, relay: Relay): void {
    this.open.add(socket);
    socket.on('error', () => undefined);
    socket.once('close', () => {
      this.open.delete(socket);
      this.relays.delete(relay);
      relay.client.destroy();
      relay.upstream?.destroy();
    });
  }

  private fromClient(relay: Relay, chunk: Buffer): void {
    if (relay.toUpstream !== 'forward') return;
    relay.upstream?.write(chunk);
    const hold = this.armedHold;
    if (hold && chunk.includes(hold.marker)) {
      this.armedHold = undefined;
      relay.toClient = 'held';
      relay.upstream?.pause();
      hold.triggered();
    }
  }

  private hold(relay: Relay): void {
    relay.toUpstream = relay.toClient = 'held';
    relay.client.pause();
    relay.upstream?.pause();
  }

  private release(relay: Relay): void {
    if (relay.toUpstream === 'drop') return;
    relay.toUpstream = relay.toClient = 'forward';
    if (!relay.upstream) this.connectUpstream(relay);
    relay.client.resume();
    relay.upstream!.resume();
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

  /**
   * A network partition: established connections stop carrying bytes in both directions,
   * new ones are accepted but reach nothing. Nothing is closed or reset; `heal()` delivers
   * what waited.
   */
  blackhole(): void {
    this.partitioned = true;
    for (const relay of this.relays) if (relay.toUpstream !== 'drop') this.hold(relay);
  }

  /**
   * The established connections go silent for good (their bytes are dropped both ways, and
   * nothing is closed), while new connections work normally.
   */
  silenceExisting(): void {
    for (const relay of this.relays) {
      relay.toUpstream = relay.toClient = 'drop';
      // Keep reading so that a close by either end is still noticed and passed on.
      relay.client.resume();
      relay.upstream?.resume();
    }
  }

  /**
   * The next connection whose client sends `marker` has it delivered, then the server's
   * replies on that connection are held (until `heal()`). Resolves when that happened.
   */
  holdReplyAfter(marker: string): Promise<void> {
    return new Promise((triggered) => {
      this.armedHold = { marker: Buffer.from(marker), triggered };
    });
  }

  /** Ends a partition and releases held replies; silenced connections stay dead. */
  heal(): void {
    this.partitioned = false;
    this.armedHold = undefined;
    for (const relay of this.relays) this.release(relay);
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
