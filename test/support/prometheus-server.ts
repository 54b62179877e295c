import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './ports.js';
import { waitFor } from './wait.js';

export const PROMETHEUS_BINARY = '/usr/bin/prometheus';

export interface PromResult {
  metric: Record<string, string>;
  value: [number, string];
}

export interface PrometheusOptions {
  /** host:port targets of the `pulse` job. */
  targets: string[];
  scrapeIntervalS?: number;
  /** Rule files loaded (absolute paths), evaluated at the scrape interval. */
  ruleFiles?: string[];
}

/**
 * A private Prometheus server (Debian's package) on a free port, with its own data
 * directory, scraping the given targets as job `pulse`. Prometheus reads YAML, and JSON
 * is YAML: the configuration is written as JSON.
 */
export class PrometheusServer {
  private constructor(
    private readonly child: ChildProcess,
    private readonly dir: string,
    readonly url: string,
  ) {}

  static async start(options: PrometheusOptions): Promise<PrometheusServer> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pulse-prometheus-'));
    const interval = `${options.scrapeIntervalS ?? 1}s`;
    const config = {
      global: { scrape_interval: interval, evaluation_interval: interval, scrape_timeout: interval },
      rule_files: options.ruleFiles ?? [],
      scrape_configs: [{ job_name: 'pulse', static_configs: [{ targets: options.targets }] }],
    };
    fs.writeFileSync(path.join(dir, 'prometheus.yml'), JSON.stringify(config));
    const port = await freePort();
    const child = spawn(
      PROMETHEUS_BINARY,
      [`--config.file=${path.join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const output: string[] = [];
    for (const stream of [child.stdout!, child.stderr!]) stream.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    const server = new PrometheusServer(child, dir, `http://127.0.0.1:${port}`);
    await waitFor(
      async () => {
        if (child.exitCode !== null) throw new Error(`prometheus exited ${child.exitCode}: ${output.join('')}`);
        return (await fetch(`${server.url}/-/ready`)).status === 200;
      },
      'prometheus to be ready',
      15_000,
      100,
    );
    return server;
  }

  /** An instant query; throws with Prometheus' own error when the query is invalid. */
  async query(expr: string): Promise<PromResult[]> {
    const res = await fetch(`${this.url}/api/v1/query?${new URLSearchParams({ query: expr })}`);
    const body = (await res.json()) as { status: string; error?: string; data?: { resultType: string; result: PromResult[] } };
    if (body.status !== 'success') throw new Error(`query failed (${res.status}): ${body.error}\n  ${expr}`);
    return body.data!.result;
  }

  async api<T>(endpoint: string): Promise<T> {
    const body = (await (await fetch(`${this.url}/api/v1/${endpoint}`)).json()) as { status: string; data: T };
    if (body.status !== 'success') throw new Error(`${endpoint} failed`);
    return body.data;
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((resolve) => this.child.once('exit', resolve));
      this.child.kill('SIGTERM');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5000))]);
      if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
