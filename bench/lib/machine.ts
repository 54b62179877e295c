import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { createClient } from 'redis';
import { POSTGRES_ADMIN_URL, TEST_REDIS_URL } from '../../test/support/databases.js';
import { PROJECT_ROOT } from '../../test/support/pulse-process.js';

export interface MachineInfo {
  date: string;
  nproc: number;
  cpu: string;
  memoryGiB: number;
  os: string;
  node: string;
  postgres: string;
  redis: string;
  packages: string;
}

function packageVersion(name: string): string {
  try {
    const manifest = JSON.parse(fs.readFileSync(path.join(PROJECT_ROOT, 'node_modules', name, 'package.json'), 'utf8')) as { version: string };
    return `${name} ${manifest.version}`;
  } catch {
    return `${name} (not found)`;
  }
}

async function postgresVersion(): Promise<string> {
  const client = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
  await client.connect();
  try {
    const { rows } = await client.query<{ server_version: string }>('SHOW server_version');
    return `PostgreSQL ${rows[0]!.server_version}`;
  } finally {
    await client.end();
  }
}

async function redisVersion(): Promise<string> {
  const client = createClient({ url: TEST_REDIS_URL });
  await client.connect();
  try {
    const info = await client.info('server');
    return `Redis ${/redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown'}`;
  } finally {
    client.destroy();
  }
}

export async function describeMachine(): Promise<MachineInfo> {
  return {
    date: new Date().toISOString(),
    nproc: os.availableParallelism(),
    cpu: os.cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
    postgres: await postgresVersion(),
    redis: await redisVersion(),
    packages: ['koa', '@koa/router', 'autocannon', 'pm2', 'prom-client'].map(packageVersion).join(', '),
  };
}

/** 1-minute load average: how busy the machine was (other test runs share it). */
export const loadAverage = () => os.loadavg()[0]!.toFixed(2);
