/** Workers' snapshots, summed, as metric families (see families.ts). */
import { M, type FamilySet } from './families.js';
import { ERROR_KINDS, RESPONSE_BUCKETS } from './server-stats.js';
import type { SummedMetrics } from './sum.js';
import { LIMIT_KINDS } from '../limits/client-connections.js';

export const CODE_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;

/** Adds the families of the workers' summed snapshots, and each worker process's own series, to `out`. */
export function addWorkerFamilies(out: FamilySet, m: SummedMetrics, processes: ReadonlyArray<{ id: number; cpuSeconds: number; rss: number }>): void {
  for (const l of m.listeners) {
    const listener = l.name;
    out.add(M.listenerConnectionsTotal, { listener }, l.accepted);
    out.add(M.listenerConnections, { listener }, l.active);
    if (l.classes !== null) CODE_CLASSES.forEach((code_class, i) => out.add(M.listenerRequestsTotal, { listener, code_class }, l.classes![i] ?? 0));
    if (l.limited != null) LIMIT_KINDS.forEach((limit, i) => out.add(M.listenerLimitedTotal, { listener, limit }, l.limited![i] ?? 0));
  }
  for (const p of m.pools) out.add(M.poolQueued, { pool: p.name }, p.queued);
  for (const s of m.servers) {
    const labels = { pool: s.pool, server: s.server };
    out.add(M.serverRequestsTotal, labels, s.total);
    ERROR_KINDS.forEach((kind, i) => out.add(M.serverErrorsTotal, { ...labels, kind }, s.errors[i] ?? 0));
    out.add(M.serverRetriesTotal, labels, s.retries);
    out.add(M.serverActive, labels, s.active);
    out.add(M.serverEjected, labels, s.ejected ? 1 : 0);
    out.histogram(M.serverResponseSeconds, labels, RESPONSE_BUCKETS, s.buckets, s.sum);
  }
  for (const p of processes) {
    const process = `worker-${p.id}`;
    out.add(M.processCpuSecondsTotal, { process }, p.cpuSeconds);
    if (p.rss >= 0) out.add(M.processResidentMemoryBytes, { process }, p.rss);
  }
}
