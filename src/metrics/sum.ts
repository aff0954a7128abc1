/**
 * Sums worker snapshots into one: counters and gauges add up per listener, pool and
 * server, a server is ejected when some worker has it ejected. The primary sums the
 * live workers' snapshots with what exited workers counted at each scrape; plain
 * additions over typed fields, so a scrape of a hundred servers costs little.
 */
import type { ListenerSnapshot, ServerSnapshot, WorkerMetrics } from './snapshot.js';

/** Snapshots summed: the same shape, without a process's own figures. */
export type SummedMetrics = Pick<WorkerMetrics, 'listeners' | 'pools' | 'servers'>;

export function emptySum(): SummedMetrics {
  return { listeners: [], pools: [], servers: [] };
}

function addInto(a: number[], b: readonly number[]): void {
  for (let i = 0; i < b.length; i++) a[i] = (a[i] ?? 0) + b[i]!;
}

/**
 * The sum of snapshots. `countersOnly` (what is kept of workers that have exited):
 * the gauges (open connections, active, queued, ejected) are left at zero.
 */
export function sumSnapshots(list: readonly SummedMetrics[], countersOnly = false): SummedMetrics {
  const listeners = new Map<string, ListenerSnapshot>();
  const pools = new Map<string, { name: string; queued: number }>();
  const servers = new Map<string, ServerSnapshot>();
  const gauge = countersOnly ? 0 : 1;
  for (const m of list) {
    for (const l of m.listeners) {
      const t = listeners.get(l.name);
      if (t === undefined) listeners.set(l.name, { name: l.name, accepted: l.accepted, active: l.active * gauge, classes: l.classes === null ? null : [...l.classes], limited: l.limited == null ? null : [...l.limited] });
      else {
        t.accepted += l.accepted;
        t.active += l.active * gauge;
        if (l.classes !== null) addInto((t.classes ??= []), l.classes);
        if (l.limited != null) addInto((t.limited ??= []), l.limited);
      }
    }
    for (const p of m.pools) {
      const t = pools.get(p.name);
      if (t === undefined) pools.set(p.name, { name: p.name, queued: p.queued * gauge });
      else t.queued += p.queued * gauge;
    }
    for (const s of m.servers) {
      const key = `${s.pool}\0${s.server}`;
      const t = servers.get(key);
      if (t === undefined) {
        servers.set(key, { ...s, active: s.active * gauge, errors: [...s.errors], buckets: [...s.buckets], ejected: s.ejected && !countersOnly });
      } else {
        t.total += s.total;
        t.active += s.active * gauge;
        addInto(t.errors, s.errors);
        t.retries += s.retries;
        addInto(t.buckets, s.buckets);
        t.sum += s.sum;
        t.ejected ||= s.ejected && !countersOnly;
      }
    }
  }
  return { listeners: [...listeners.values()], pools: [...pools.values()], servers: [...servers.values()] };
}
