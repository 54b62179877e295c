import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect } from 'chai';
import { PROJECT_ROOT } from '../support/pulse-process.js';

/** The fenced yaml block of a document whose first line is `# <name>`. */
function yamlBlock(document: string, markdown: string, name: string): string {
  const block = [...markdown.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!).find((body) => body.startsWith(`# ${name}\n`));
  if (!block) throw new Error(`${document} has no yaml block starting with "# ${name}"`);
  return block;
}

function promtool(args: string[], cwd: string) {
  const result = spawnSync('promtool', args, { cwd, encoding: 'utf8' });
  expect(result.error, 'promtool must be installed (Debian package prometheus)').to.equal(undefined);
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

/** A `promtool test rules` file for pulse-alerts.yml with these tests (items of its `tests:` list). */
const ruleTestFile = (tests: string) => `
rule_files:
  - pulse-alerts.yml
evaluation_interval: 1m
tests:
${tests}`;

/** Alerts fire on the series they are meant for, and stay quiet otherwise. */
const RULE_TESTS = ruleTestFile(`  - interval: 1m
    input_series:
      - series: 'pulse_rolling_restarts_total{job="pulse", instance="a:9464", result="failed"}'
        values: '0 0 1 1 1'
      - series: 'pulse_workers_expected{job="pulse", instance="a:9464"}'
        values: '4x10'
      - series: 'pulse_workers_ready{job="pulse", instance="a:9464"}'
        values: '4 4 3 3 3 3 3 3 3 3 3'
      - series: 'up{job="pulse", instance="a:9464"}'
        values: '1 1 0 0 0'
    alert_rule_test:
      - eval_time: 1m
        alertname: PulseRollingRestartFailed
        exp_alerts: []
      - eval_time: 3m
        alertname: PulseRollingRestartFailed
        exp_alerts:
          - exp_labels: { severity: warning, job: pulse, instance: 'a:9464', result: failed }
            exp_annotations:
              summary: 'A rolling restart failed on a:9464; its old workers still run the previous code'
      - eval_time: 5m
        alertname: PulseWorkersMissing
        exp_alerts: []
      - eval_time: 8m
        alertname: PulseWorkersMissing
        exp_alerts:
          - exp_labels: { severity: warning, job: pulse, instance: 'a:9464' }
            exp_annotations:
              summary: '1 fewer Pulse workers ready than expected on a:9464'
      - eval_time: 4m
        alertname: PulseDown
        exp_alerts:
          - exp_labels: { severity: critical, job: pulse, instance: 'a:9464' }
            exp_annotations:
              summary: 'Pulse on a:9464 does not answer scrapes'
`);

/** The guide's alert on Redis breakers skipping Redis under traffic. */
const REDIS_BREAKER_RULE_TESTS = ruleTestFile(`  - interval: 1m
    input_series:
      - series: 'pulse_redis_breaker_short_circuits_total{job="pulse", instance="a:9464", caller="rate_limit"}'
        values: '0 0 0 600 1200 1800 2400 3000'
      - series: 'pulse_redis_breaker_short_circuits_total{job="pulse", instance="a:9464", caller="entry_list_cache"}'
        values: '0x7'
    alert_rule_test:
      - eval_time: 4m
        alertname: PulseSkippingRedis
        exp_alerts: []
      - eval_time: 6m
        alertname: PulseSkippingRedis
        exp_alerts:
          - exp_labels: { severity: warning, instance: 'a:9464' }
            exp_annotations:
              summary: 'Pulse on a:9464 is skipping Redis (breaker open): rate limits not enforced, cache bypassed'
`);

// The full guide, and the brief one in README: operators copy either.
for (const document of ['docs/OPERATIONS.md', 'README.md']) {
  describe(`${document}: the Prometheus snippets operators copy`, function () {
    let dir: string;
    let rules: number;
    before(() => {
      const markdown = fs.readFileSync(path.join(PROJECT_ROOT, document), 'utf8');
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pulse-prometheus-'));
      const alerts = yamlBlock(document, markdown, 'pulse-alerts.yml');
      rules = alerts.match(/^\s+- alert: /gm)?.length ?? 0;
      fs.writeFileSync(path.join(dir, 'prometheus.yml'), yamlBlock(document, markdown, 'prometheus.yml'));
      fs.writeFileSync(path.join(dir, 'pulse-alerts.yml'), alerts);
      fs.writeFileSync(path.join(dir, 'pulse-alerts.test.yml'), RULE_TESTS);
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    it('the scrape config (with the rules file it loads) passes `promtool check config`', () => {
      const { status, output } = promtool(['check', 'config', 'prometheus.yml'], dir);
      expect(status, output).to.equal(0);
      expect(rules).to.be.at.least(4);
      expect(output).to.include(`SUCCESS: ${rules} rules found`);
    });

    it('the alert rules pass `promtool check rules` without lint notes', () => {
      const { status, output } = promtool(['check', 'rules', '--lint=all', '--lint-fatal', 'pulse-alerts.yml'], dir);
      expect(status, output).to.equal(0);
    });

    it('the alerts fire as described (`promtool test rules`)', () => {
      const { status, output } = promtool(['test', 'rules', 'pulse-alerts.test.yml'], dir);
      expect(status, output).to.equal(0);
    });

    if (document === 'docs/OPERATIONS.md') {
      it('PulseSkippingRedis fires once breakers have skipped Redis for 2 minutes (`promtool test rules`)', () => {
        fs.writeFileSync(path.join(dir, 'pulse-redis-alerts.test.yml'), REDIS_BREAKER_RULE_TESTS);
        const { status, output } = promtool(['test', 'rules', 'pulse-redis-alerts.test.yml'], dir);
        expect(status, output).to.equal(0);
      });
    }
  });
}
