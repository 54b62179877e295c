import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { load as loadYaml } from 'js-yaml';
import { PROMETHEUS_DIR, shippedAlerts } from '../support/prometheus-rules.js';
import { PROJECT_ROOT } from '../support/pulse-process.js';

interface RuleTestFile {
  tests: { alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[] }[];
}

function promtool(args: string[]) {
  const result = spawnSync('promtool', args, { cwd: PROMETHEUS_DIR, encoding: 'utf8' });
  expect(result.error, 'promtool must be installed (Debian package prometheus)').to.equal(undefined);
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

describe('deploy/prometheus: the shipped scrape config, alert rules and their unit tests', () => {
  const alerts = shippedAlerts();

  it('the example scrape config, with the rules file it loads, passes `promtool check config`', () => {
    const { status, output } = promtool(['check', 'config', 'prometheus.yml']);
    expect(status, output).to.equal(0);
    expect(output).to.include(`SUCCESS: ${alerts.length} rules found`);
  });

  it('the alert rules pass `promtool check rules` without lint notes', () => {
    expect(alerts.length).to.equal(13);
    const { status, output } = promtool(['check', 'rules', '--lint=all', '--lint-fatal', 'pulse-alerts.yml']);
    expect(status, output).to.equal(0);
  });

  it('every alert has a `promtool test rules` case where it fires and one where it stays quiet', () => {
    const tests = (loadYaml(fs.readFileSync(path.join(PROMETHEUS_DIR, 'pulse-alerts.test.yml'), 'utf8')) as RuleTestFile).tests.flatMap(
      (test) => test.alert_rule_test ?? [],
    );
    for (const { alert } of alerts) {
      const cases = tests.filter((test) => test.alertname === alert);
      expect(cases.some((test) => test.exp_alerts.length > 0), `${alert} firing`).to.equal(true);
      expect(cases.some((test) => test.exp_alerts.length === 0), `${alert} quiet`).to.equal(true);
    }
  });

  it('the alerts fire as their tests say (`promtool test rules`)', () => {
    const { status, output } = promtool(['test', 'rules', 'pulse-alerts.test.yml']);
    expect(status, output).to.equal(0);
    expect(output).to.include('SUCCESS');
  });

  it('every summary prints $value through a humanize function, never as a raw float', () => {
    const text = fs.readFileSync(path.join(PROMETHEUS_DIR, 'pulse-alerts.yml'), 'utf8');
    const values = [...text.matchAll(/\{\{\s*\$value\s*([^}]*)\}\}/g)].map((match) => match[1]!.trim());
    expect(values.length).to.be.above(0);
    for (const pipeline of values) expect(pipeline).to.match(/^\|\s*humanize/);
  });

  for (const document of ['README.md', 'docs/OPERATIONS.md']) {
    it(`${document} points to the files instead of carrying copies`, () => {
      const markdown = fs.readFileSync(path.join(PROJECT_ROOT, document), 'utf8');
      expect(markdown).to.include('deploy/prometheus/pulse-alerts.yml');
      expect(markdown).to.include('deploy/prometheus/prometheus.yml');
      expect(markdown).to.not.match(/^\s*- alert: /m);
      expect(markdown).to.not.match(/^\s*scrape_configs:/m);
    });
  }

  it('docs/OPERATIONS.md names every shipped alert', () => {
    const guide = fs.readFileSync(path.join(PROJECT_ROOT, 'docs/OPERATIONS.md'), 'utf8');
    for (const { alert } of alerts) expect(guide, alert).to.include(`\`${alert}\``);
  });
});
