import type { MetricsSnapshot } from '../shared/ipc-protocol.js';

type Metric = MetricsSnapshot[number];
type Sample = Metric['values'][number] & { metricName?: string };

// prom-client types `type` as a numeric enum, but JSON snapshots carry the string.
const MONOTONIC_TYPES = new Set(['counter', 'histogram']);

function sampleKey(sample: Sample): string {
  const labels = Object.entries(sample.labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `${sample.metricName ?? ''}\u0000${JSON.stringify(labels)}`;
}

/**
 * The counters and histograms of workers that are gone, summed into one snapshot.
 * Added to every scrape so that cluster totals never go backwards when a worker is
 * replaced. Adding is synchronous, so a scrape never sees a worker in neither place.
 * Gauges are not carried: they describe processes that no longer exist.
 */
export class RetiredMetrics {
  private readonly byName = new Map<string, { metric: Metric; samples: Map<string, Sample> }>();
  private cached: MetricsSnapshot | undefined = [];

  add(snapshot: MetricsSnapshot): void {
    for (const metric of snapshot) {
      if (!MONOTONIC_TYPES.has(String(metric.type))) continue;
      let entry = this.byName.get(metric.name);
      if (!entry) {
        entry = { metric: { ...metric, values: [] }, samples: new Map() };
        this.byName.set(metric.name, entry);
      }
      for (const sample of metric.values as Sample[]) {
        const key = sampleKey(sample);
        const existing = entry.samples.get(key);
        if (existing) existing.value += sample.value;
        else entry.samples.set(key, { ...sample, labels: { ...sample.labels } });
      }
    }
    this.cached = undefined;
  }

  /** The carried totals, in the shape `AggregatorRegistry.aggregate` takes. */
  snapshot(): MetricsSnapshot {
    this.cached ??= [...this.byName.values()].map(({ metric, samples }) => ({
      ...metric,
      values: [...samples.values()].map((sample) => ({ ...sample })),
    }));
    return this.cached;
  }
}
