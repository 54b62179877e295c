import fs from 'node:fs';
import path from 'node:path';
import { load as loadYaml } from 'js-yaml';
import { PROJECT_ROOT } from './pulse-process.js';

export const PROMETHEUS_DIR = path.join(PROJECT_ROOT, 'deploy/prometheus');

interface RuleFile {
  groups: { rules: { alert?: string; expr: string }[] }[];
}

/** The alert rules shipped in deploy/prometheus/pulse-alerts.yml. */
export function shippedAlerts(): { alert: string; expr: string }[] {
  const rules = loadYaml(fs.readFileSync(path.join(PROMETHEUS_DIR, 'pulse-alerts.yml'), 'utf8')) as RuleFile;
  return rules.groups.flatMap((group) => group.rules).filter((rule): rule is { alert: string; expr: string } => rule.alert !== undefined);
}
