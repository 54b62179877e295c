import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Gauge, type Registry } from 'prom-client';

export interface BuildInfo {
  version: string;
  commit: string;
  nodeVersion: string;
}

const here = path.dirname(fileURLToPath(import.meta.url));

function readJson(file: string): Record<string, unknown> {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch {
    return {};
  }
}

/**
 * Which code this process runs: the package version, the commit `npm run build` recorded in
 * dist/build-info.json (`unknown` outside a git checkout), and Node's version. Read from the
 * files beside this module, so a worker forked from a new release reports the new release.
 */
export function readBuildInfo(): BuildInfo {
  const distRoot = path.resolve(here, '../..');
  const version = readJson(path.join(distRoot, '..', 'package.json')).version;
  const commit = readJson(path.join(distRoot, 'build-info.json')).commit;
  return {
    version: typeof version === 'string' ? version : 'unknown',
    commit: typeof commit === 'string' && commit !== '' ? commit : 'unknown',
    nodeVersion: process.version,
  };
}

/** A gauge set to 1 with the build's labels (summed across workers: how many run each build). */
export function registerBuildInfo(registry: Registry, name: string, help: string, info = readBuildInfo()): void {
  new Gauge({ name, help, labelNames: ['version', 'commit', 'node_version'] as const, registers: [registry] }).set(
    { version: info.version, commit: info.commit, node_version: info.nodeVersion },
    1,
  );
}
