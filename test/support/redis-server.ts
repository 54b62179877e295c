import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createClient } from 'redis';
import { freePort } from './ports.js';

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/**
 * A private `redis-server` child that a test may kill, freeze or restart on the same port
 * (nothing persisted unless `shutdownSaving()` asks for one snapshot, kept in its own dir).
 */
export class RedisServerProcess {
  private child: ChildProcess | undefined;
  private readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pulse-redis-'));

  /** `tls`: TLS only (no plain port), with a self-signed certificate for 127.0.0.1 (see `caFile`). */
  constructor(
    readonly port: number,
    readonly tls = false,
  ) {}

  static async start(options: { tls?: boolean } = {}): Promise<RedisServerProcess> {
    const server = new RedisServerProcess(await freePort(), options.tls);
    await server.restart();
    return server;
  }

  get url(): string {
    return `${this.tls ? 'rediss' : 'redis'}://127.0.0.1:${this.port}`;
  }

  /** The certificate a TLS server presents, to be trusted by clients (e.g. NODE_EXTRA_CA_CERTS). */
  get caFile(): string {
    return path.join(this.dir, 'cert.pem');
  }

  private tlsArgs(): string[] {
    const key = path.join(this.dir, 'key.pem');
    if (!fs.existsSync(this.caFile)) {
      execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', this.caFile], { stdio: 'ignore' });
    }
    return ['--port', '0', '--tls-port', String(this.port), '--tls-cert-file', this.caFile, '--tls-key-file', key, '--tls-ca-cert-file', this.caFile, '--tls-auth-clients', 'no'];
  }

  /** Starts the server (again) on its port, loading the snapshot if one was saved. */
  async restart(): Promise<void> {
    if (this.child) throw new Error('redis-server is already running');
    const args = [...(this.tls ? this.tlsArgs() : ['--port', String(this.port)]), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'];
    args.push('--daemonize', 'no', '--dir', this.dir, '--dbfilename', 'dump.rdb');
    const child = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    running.add(child);
    child.once('exit', () => {
      running.delete(child);
      if (this.child === child) this.child = undefined;
    });
    await new Promise<void>((resolve, reject) => {
      let output = '';
      const timer = setTimeout(() => reject(new Error(`redis-server did not start:\n${output}`)), 10_000);
      child.stdout!.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes('Ready to accept connections')) {
          clearTimeout(timer);
          resolve();
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited with ${code}:\n${output}`));
      });
    });
  }

  /** A crash: SIGKILL, nothing saved. */
  async kill(): Promise<void> {
    await this.stopWith(() => this.child?.kill('SIGKILL'));
  }

  /** A clean stop that saves a snapshot, so that restart() brings the same data back. */
  async shutdownSaving(): Promise<void> {
    await this.stopWith(async () => {
      const client = createClient({ url: this.url });
      client.on('error', () => undefined);
      await client.connect();
      await client.sendCommand(['SHUTDOWN', 'SAVE']).catch(() => undefined);
      client.destroy();
    });
  }

  /** SIGSTOP: the port stays open and connections stay up, but nothing answers. */
  freeze(): void {
    this.child?.kill('SIGSTOP');
  }

  unfreeze(): void {
    this.child?.kill('SIGCONT');
  }

  async close(): Promise<void> {
    this.unfreeze();
    await this.kill();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  private async stopWith(stop: () => unknown): Promise<void> {
    const child = this.child;
    if (!child) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    await stop();
    await exited;
  }
}
