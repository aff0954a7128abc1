/** A worker's snapshot as metric families (see families.ts). */
import { FamilySet, M, type Family } from './families.js';
import { ERROR_KINDS, RESPONSE_BUCKETS } from './server-stats.js';
import type { WorkerMetrics } from './snapshot.js';

export const CODE_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;

/**
 * The families of worker `id`'s snapshot. `countersOnly`: without gauges and the
 * process's own series (what is kept of a worker that has exited).
 */
export function workerFamilies(id: number, m: WorkerMetrics, countersOnly = false): Family[] {
  const out = new FamilySet();
  const gauges = !countersOnly;
  for (const l of m.listeners) {
    const listener = l.name;
    out.add(M.listenerConnectionsTotal, { listener }, l.accepted);
    if (gauges) out.add(M.listenerConnections, { listener }, l.active);
    if (l.classes !== null) CODE_CLASSES.forEach((code_class, i) => out.add(M.listenerRequestsTotal, { listener, code_class }, l.classes![i] ?? 0));
  }
  if (gauges) for (const p of m.pools) out.add(M.poolQueued, { pool: p.name }, p.queued);
  for (const s of m.servers) {
    const labels = { pool: s.pool, server: s.server };
    out.add(M.serverRequestsTotal, labels, s.total);
    ERROR_KINDS.forEach((kind, i) => out.add(M.serverErrorsTotal, { ...labels, kind }, s.errors[i] ?? 0));
    out.add(M.serverRetriesTotal, labels, s.retries);
    if (gauges) {
      out.add(M.serverActive, labels, s.active);
      out.add(M.serverEjected, labels, s.ejected ? 1 : 0);
    }
    out.histogram(M.serverResponseSeconds, labels, RESPONSE_BUCKETS, s.buckets, s.sum);
  }
  if (gauges) {
    const process = `worker-${id}`;
    out.add(M.processCpuSecondsTotal, { process }, m.cpuSeconds);
    if (m.rss >= 0) out.add(M.processResidentMemoryBytes, { process }, m.rss);
  }
  return out.list();
}
