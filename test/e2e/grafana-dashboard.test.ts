import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { PROMETHEUS_DIR, shippedAlerts } from '../support/prometheus-rules.js';
import { PrometheusServer, type PromResult } from '../support/prometheus-server.js';
import { PROJECT_ROOT, startPulse, type PulseProcess } from '../support/pulse-process.js';
import { waitFor } from '../support/wait.js';

const DASHBOARD = path.join(PROJECT_ROOT, 'deploy/grafana/pulse.json');

interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { uid: string };
  gridPos: { h: number; w: number; x: number; y: number };
  targets?: { refId: string; expr: string; datasource?: { uid: string } }[];
}

interface Dashboard {
  uid: string;
  panels: Panel[];
  templating: { list: { name: string; type: string; definition?: string }[] };
}

/**
 * The series the workers-by-generation panel reads. The supervisor does not export it yet:
 * until it does, that panel's query must be valid but may be empty.
 */
const PENDING_SERIES = 'pulse_workers';

/** What Grafana puts in place of the dashboard's variables, for one instance scraped every second. */
function substitute(expr: string, instance: string): string {
  return expr.replaceAll('$__rate_interval', '20s').replaceAll('$instance', instance);
}

/** Metric names an expression reads: identifiers outside label matchers, ranges and groupings that are not function calls. */
function metricNames(expr: string): string[] {
  const bare = expr.replace(/\{[^}]*\}/g, ' ').replace(/\[[^\]]*\]/g, ' ').replace(/\b(by|without)\s*\([^)]*\)/g, ' ');
  return [...new Set(bare.match(/\b[a-z_:][a-z0-9_:]*\b(?!\s*\()/g) ?? [])];
}

describe('deploy/grafana/pulse.json against a real Prometheus scraping a live Pulse', function () {
  this.timeout(60_000);
  const dashboard = JSON.parse(fs.readFileSync(DASHBOARD, 'utf8')) as Dashboard;
  const panels = dashboard.panels.filter((panel) => panel.type !== 'row');
  let pulse: PulseProcess;
  let prometheus: PrometheusServer;
  let instance: string;
  let pendingSeriesExported: boolean;

  before(async function () {
    this.timeout(60_000);
    pulse = await startPulse({ workers: 2, env: { RATE_LIMIT_MAX: '100000' } });
    instance = `127.0.0.1:${pulse.adminPort}`;
    prometheus = await PrometheusServer.start({ targets: [instance], ruleFiles: [path.join(PROMETHEUS_DIR, 'pulse-alerts.yml')] });
    await waitFor(async () => (await prometheus.query('up{job="pulse"} == 1')).length === 1, 'the first scrape of Pulse', 15_000, 100);

    // Traffic for every panel: an account, cache misses then hits, errors the client caused.
    // Twice: Prometheus sees no increase in a series' first sample, so the second round,
    // after a scrape has seen the first, is what the rates show.
    const credentials = JSON.stringify({ email: `grafana-${crypto.randomUUID()}@example.com`, password: 'secret123' });
    expect((await fetch(`${pulse.url}/register`, { method: 'POST', body: credentials })).status).to.equal(201);
    const { token } = (await (await fetch(`${pulse.url}/login`, { method: 'POST', body: credentials })).json()) as { token: string };
    const traffic = async () => {
      for (let i = 0; i < 4; i += 1) {
        expect((await fetch(`${pulse.url}/entries?page=1&limit=10`, { headers: { Authorization: `Bearer ${token}` } })).status).to.equal(200);
      }
      for (const path of ['/ping', '/ping', '/nowhere', '/entries']) await (await fetch(`${pulse.url}${path}`)).arrayBuffer();
    };
    await traffic();
    await waitFor(async () => (await prometheus.query('pulse_cache_lookups_total{result="hit"}')).length > 0, 'a scrape after the first round', 15_000, 100);
    await traffic();
    pendingSeriesExported = new RegExp(`^# TYPE ${PENDING_SERIES} `, 'm').test(await (await fetch(`${pulse.adminUrl}/metrics`)).text());
  });

  after(async () => {
    await prometheus?.stop();
    await pulse?.stop();
  });

  it('is a dashboard Grafana can import: unique panel ids, every query on the data source variable, an instance selector', () => {
    expect(dashboard.uid).to.equal('pulse-overview');
    const ids = dashboard.panels.map((panel) => panel.id);
    expect(new Set(ids).size).to.equal(ids.length);
    const variables = dashboard.templating.list;
    expect(variables.find((v) => v.name === 'datasource')?.type).to.equal('datasource');
    expect(variables.find((v) => v.name === 'instance')?.definition).to.equal('label_values(pulse_workers_expected, instance)');
    for (const panel of panels) {
      expect(panel.datasource?.uid, panel.title).to.equal('${datasource}');
      expect(panel.targets, panel.title).to.have.length.above(0);
      for (const target of panel.targets!) {
        expect(target.datasource?.uid, `${panel.title} ${target.refId}`).to.equal('${datasource}');
        expect(target.expr, `${panel.title} ${target.refId}`).to.include('instance=~"$instance"');
      }
      expect(panel.gridPos.x + panel.gridPos.w, panel.title).to.be.at.most(24);
    }
  });

  it('covers what operators look at first', () => {
    const titles = panels.map((panel) => panel.title.toLowerCase()).join(' | ');
    for (const topic of ['requests per second by route', '5xx', 'latency quantiles', 'workers expected and ready', 'generation', 'restarts by reason', 'drain', 'dependencies', 'rate-limit', 'cache hit ratio', 'event-loop lag']) {
      expect(titles, topic).to.include(topic);
    }
  });

  it('every panel query is valid PromQL and returns data', async () => {
    const queries = panels.flatMap((panel) => panel.targets!.map((target) => ({ name: `${panel.title} (${target.refId})`, expr: substitute(target.expr, instance) })));
    const pending = (expr: string) => !pendingSeriesExported && metricNames(expr).includes(PENDING_SERIES);
    const results = new Map<string, PromResult[]>();
    const runAll = async () => {
      for (const { name, expr } of queries) results.set(name, await prometheus.query(expr));
    };
    const value = (name: string, labels: Record<string, string> = {}) => {
      const sample = results.get(name)!.find((result) => Object.entries(labels).every(([key, want]) => result.metric[key] === want));
      return sample === undefined ? undefined : Number(sample.value[1]);
    };
    // Valid PromQL: Prometheus parses every query (an invalid one throws here, at once).
    await runAll();
    // Data: rates need a scrape after the second round of traffic; wait for it rather than a fixed time.
    await waitFor(
      async () => {
        await runAll();
        const allAnswered = queries.every(({ name, expr }) => pending(expr) || results.get(name)!.length > 0);
        return allAnswered && value('Requests per second by route (A)', { route: '/entries' })! > 0 && value('Cache hit ratio (A)', { cache: 'entry_first_page' })! > 0;
      },
      'every panel query to return data',
      30_000,
      500,
    ).catch((error: Error) => {
      const empty = queries.filter(({ name, expr }) => !pending(expr) && results.get(name)?.length === 0).map(({ name }) => name);
      throw new Error(`${error.message}; empty: ${empty.join(', ')}`);
    });

    expect(value('Workers expected and ready (A)')).to.equal(2);
    expect(value('Workers expected and ready (B)')).to.equal(2);
    expect(value('Requests per second by route (A)', { route: '/entries' })).to.be.above(0);
    expect(value('5xx per second by route (A)', { route: '/entries' })).to.equal(0);
    expect(value('Health and dependencies (B)', { dependency: 'redis' })).to.equal(1);
    expect(value('Cache hit ratio (A)', { cache: 'entry_first_page' })).to.be.above(0).and.at.most(1);
    expect(value('Event-loop lag (p99) (A)')).to.be.above(0);
    for (const { name, expr } of queries) {
      if (pending(expr)) expect(results.get(name), `${name} reads ${PENDING_SERIES}, which Pulse does not export yet`).to.deep.equal([]);
    }
  });

  it('the instance selector lists the scraped Pulse', async () => {
    const values = await prometheus.api<string[]>(`label/instance/values?${new URLSearchParams({ 'match[]': 'pulse_workers_expected' })}`);
    expect(values).to.include(instance);
  });

  it('the shipped alert rules load in the server, evaluate without error, and read only series Pulse exports', async () => {
    type Rules = { groups: { rules: { name: string; health: string; lastError?: string; lastEvaluation: string }[] }[] };
    const rules = (await waitFor(async () => {
      const loaded = (await prometheus.api<Rules>('rules')).groups.flatMap((group) => group.rules);
      return loaded.length > 0 && loaded.every((rule) => !rule.lastEvaluation.startsWith('0001')) ? loaded : undefined;
    }, 'every rule to be evaluated once', 15_000, 200))!;
    const alerts = shippedAlerts();
    expect(rules.map((rule) => rule.name)).to.deep.equal(alerts.map((alert) => alert.alert));
    for (const rule of rules) expect(rule.health, `${rule.name}: ${rule.lastError}`).to.equal('ok');
    for (const name of new Set(alerts.flatMap((alert) => metricNames(alert.expr)))) {
      expect(await prometheus.query(`group(${name})`), name).to.have.length(1);
    }
  });
});
