/**
 * A worker's metrics as plain data: what it sends the primary (over IPC, with its
 * periodic counters and when a scrape asks). Counters are totals since the worker
 * started; gauges are values now. Nothing here touches a metrics library.
 */
import type { Instance } from '../runtime/instance.js';
import { statsOf } from './server-stats.js';

export interface ListenerSnapshot {
  name: string;
  accepted: number;
  active: number;
  /** Answers by status class, 1xx..5xx; null for TCP and UDP listeners. */
  classes: number[] | null;
  /** Refused by the listener's limits, by LIMIT_KINDS; null or absent for UDP listeners. */
  limited?: number[] | null;
}

export interface ServerSnapshot {
  pool: string;
  server: string;
  total: number;
  active: number;
  /** By ERROR_KINDS (server-stats.ts). */
  errors: number[];
  retries: number;
  /** Response times per bucket, not cumulative (RESPONSE_BUCKETS, then +Inf). */
  buckets: number[];
  sum: number;
  /** Passive health has it ejected in this worker now. */
  ejected: boolean;
}

export interface WorkerMetrics {
  listeners: ListenerSnapshot[];
  pools: Array<{ name: string; queued: number }>;
  servers: ServerSnapshot[];
  /** process.cpuUsage(), user + system, in seconds. */
  cpuSeconds: number;
  /** Resident memory in bytes (-1 when it could not be read). */
  rss: number;
}

/** The metrics of this process's instance now. */
export function workerMetrics(instance: Instance): WorkerMetrics {
  const now = Date.now();
  const servers: ServerSnapshot[] = [];
  const pools: WorkerMetrics['pools'] = [];
  for (const p of instance.pools.values()) {
    pools.push({ name: p.name, queued: p.queued });
    for (const s of p.servers) {
      const st = statsOf(s);
      servers.push({ pool: p.name, server: s.name, total: s.total, active: s.active, errors: [...st.errors], retries: st.retries, buckets: [...st.buckets], sum: st.sum, ejected: s.ejectedUntil > now });
    }
  }
  const cpu = process.cpuUsage();
  let rss = -1;
  try {
    rss = process.memoryUsage.rss();
  } catch {
    /* out of descriptors: unknown */
  }
  return {
    listeners: instance.listeners.map((l) => ({ name: l.name, accepted: l.accepted, active: l.active, classes: l.statusClasses === undefined ? null : [...l.statusClasses], limited: l.limited === undefined ? null : [...l.limited] })),
    pools,
    servers,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    rss,
  };
}
