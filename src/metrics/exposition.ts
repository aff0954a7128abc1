/**
 * The exposition, written by prom-client: a `Registry` holding the families (summed over
 * the processes by sum.ts and the hub) writes the Prometheus text format, or OpenMetrics.
 */
import { Registry, type Metric, type RegistryContentType } from 'prom-client';
import type { Family } from './families.js';

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
      get() {
        return { ...data, name: this.name };
      },
    };
    registry.registerMetric(metric as unknown as Metric);
  }
  return { contentType: registry.contentType, body: await registry.metrics() };
}
