/**
 * Summing families of several processes and writing the exposition, both with
 * prom-client: `AggregatorRegistry.aggregate` sums samples of the same name and labels
 * (histogram buckets, sums and counts included; a family may ask for `max`), and a
 * `Registry` writes the Prometheus text format or OpenMetrics.
 */
import { AggregatorRegistry, Registry, type Metric, type RegistryContentType } from 'prom-client';
import type { Family } from './families.js';

/** One family per name, each sample the sum (or max) over the lists. */
export async function sumFamilies(lists: Family[][]): Promise<Family[]> {
  const nonEmpty = lists.filter((l) => l.length > 0);
  if (nonEmpty.length === 0) return [];
  const registry = AggregatorRegistry.aggregate(nonEmpty as unknown as Parameters<typeof AggregatorRegistry.aggregate>[0]);
  return (await registry.getMetricsAsJSON()) as unknown as Family[];
}

/**
 * The exposition of summed families. OpenMetrics names a counter's family without
 * `_total`; a counter whose family name would then clash with another family
 * (`fulcrum_listener_connections_total` beside the gauge `fulcrum_listener_connections`)
 * is written as type `unknown` there, under its full name.
 */
export async function expose(families: Family[], openMetrics: boolean): Promise<{ contentType: string; body: string }> {
  const registry = new Registry<RegistryContentType>();
  registry.setContentType(openMetrics ? Registry.OPENMETRICS_CONTENT_TYPE : Registry.PROMETHEUS_CONTENT_TYPE);
  const names = new Set(families.map((f) => f.name));
  for (const f of families) {
    const clash = openMetrics && f.type === 'counter' && names.has(f.name.replace(/_total$/, ''));
    const data = { ...f, type: clash ? 'unknown' : f.type };
    // The registry renames OpenMetrics counters (drops `_total`) on the object it holds,
    // and reads the name back from get(): get() must answer with the current name.
    const metric = {
      name: f.name,
      help: f.help,
      type: data.type,
      aggregator: f.aggregator,
      get() {
        return { ...data, name: this.name };
      },
    };
    registry.registerMetric(metric as unknown as Metric);
  }
  return { contentType: registry.contentType, body: await registry.metrics() };
}
