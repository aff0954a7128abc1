/**
 * What the primary and its workers say to each other over the cluster IPC channel
 * (advanced serialization, so a Config with its Maps crosses whole).
 */
import { getHeapStatistics } from 'node:v8';
import type { Config } from '../config/types.js';
import type { AdminState } from './api.js';
import type { WorkerMetrics } from '../metrics/snapshot.js';

/** A server's active-health state, decided by the primary. */
/** A server's latest active check: passed or not, what the probe said, when (ms since epoch). */
export interface LastCheck {
  ok: boolean;
  detail: string;
  at: number;
}

/** One server across processes: pool, name and address. */
export interface ServerRef {
  pool: string;
  server: string;
  address: string;
}

export interface HealthState {
  pool: string;
  server: string;
  /** "host:port": the same name at another address is another server. */
  address: string;
  up: boolean;
  reason: string;
}

/** A server's operator state and weight (runtime API), as every process applies it. */
export interface AdminUpdate {
  pool: string;
  server: string;
  address: string;
  state: AdminState;
  weight: number;
}

/** Counters of one process's listeners and servers. */
export interface InstanceCounters {
  listeners: Array<{ name: string; accepted: number; active: number }>;
  servers: Array<{ pool: string; server: string; active: number; total: number; ejected?: boolean }>;
}

/** A process's memory (process.memoryUsage()), in bytes. */
export interface MemorySample {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
}

/**
 * The memory of this process now. Reading the RSS opens /proc/self/stat, which fails
 * when the process is out of descriptors: the RSS is then -1 (and nothing throws).
 */
export function memorySample(): MemorySample {
  try {
    const m = process.memoryUsage();
    return { rss: m.rss, heapUsed: m.heapUsed, heapTotal: m.heapTotal, external: m.external };
  } catch {
    const h = getHeapStatistics();
    return { rss: -1, heapUsed: h.used_heap_size, heapTotal: h.total_heap_size, external: h.external_memory };
  }
}

/** A listener as a worker bound it. */
export interface BoundListener {
  name: string;
  scheme: 'http' | 'https' | 'tcp' | 'udp';
  host: string;
  port: number;
}

export type ToWorker =
  /**
   * Start: the configuration (listeners this worker runs, no DNS), health as it stands,
   * and the TLS session-ticket keys every worker shares.
   */
  | { t: 'start'; config: Config; health: HealthState[]; admin: AdminUpdate[]; ticketKeys: Buffer }
  | { t: 'health'; state: HealthState }
  /** The operator changed a server's state or weight (runtime API). */
  | { t: 'admin'; update: AdminUpdate }
  /** An active check of a server that a worker has ejected passed (outlier.uneject_on_active_pass). */
  | { t: 'passed'; server: ServerRef }
  /**
   * Stop accepting, finish, exit. Reload: `closeIdle` false, `graceMs` the drain timeout;
   * stop: `closeIdle` true, `graceMs` the shutdown timeout.
   */
  | { t: 'drain'; graceMs: number; closeIdle: boolean }
  /** Reopen access log files (SIGUSR1, logrotate). */
  | { t: 'reopen' }
  /** A scrape: answer `{t: 'metrics'}` with the same id. */
  | { t: 'metrics'; id: number };

export type FromWorker =
  /** Listening for the primary's messages (sent once the worker's code has loaded). */
  | { t: 'hello' }
  | { t: 'ready'; listeners: BoundListener[] }
  | { t: 'failed'; message: string }
  | { t: 'counters'; counters: InstanceCounters; memory: MemorySample; metrics?: WorkerMetrics }
  /** The answer to a scrape's `{t: 'metrics'}` (null before the instance runs). */
  /** The answer to a scrape: the metrics, and the counters `fulcrum status` shows, as they are now. */
  | { t: 'metrics'; id: number; metrics: WorkerMetrics | null; counters?: InstanceCounters; memory?: MemorySample }
  /** Passive health ejected a server here: the primary tells this worker when an active check passes. */
  | { t: 'ejected'; server: ServerRef };
