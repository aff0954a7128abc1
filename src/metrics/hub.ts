/**
 * The primary's side of metrics: keeps every worker's latest snapshot (sent every second
 * with its counters, and fresh for each scrape), keeps what exited workers counted so
 * totals never go back across reloads and crashes, counts what happens in the primary
 * (health checks, ejections reported by workers, VRRP transitions, reloads, DNS answers
 * through its tally) and writes the exposition summed over all of it.
 */
import cluster, { type Worker } from 'node:cluster';
import { readFileSync } from 'node:fs';
import type { Pool } from '../backend/pool.js';
import { healthCheckChannel, type HealthCheckEvent } from '../core/events.js';
import type { FromWorker, ToWorker } from '../runtime/messages.js';
import { vrrpChannel, type VrrpEventMessage } from '../vrrp/events.js';
import type { BgpReport } from '../bgp/speaker.js';
import { CounterTotals } from '../dataplane/counters.js';
import { DnsTally } from './dns-tally.js';
import { expose } from './exposition.js';
import { FamilySet, M } from './families.js';
import { bucketOf, RESPONSE_BUCKETS } from './server-stats.js';
import type { WorkerMetrics } from './snapshot.js';
import { emptySum, sumSnapshots, type SummedMetrics } from './sum.js';
import { addWorkerFamilies } from './worker-families.js';

/** How long a scrape waits for workers' fresh snapshots before it uses the last ones. */
export const SCRAPE_WAIT_MS = 250;

const ADMIN_STATES = ['ready', 'drain', 'maint'] as const;
const VRRP_STATES = ['init', 'backup', 'master', 'fault'] as const;

/** What the primary knows now, read at each scrape. */
export interface PrimaryView {
  pools: Iterable<Pool>;
  vrrp: ReadonlyArray<{ name: string; state: string }>;
  /** BGP sessions and routes, or null without a bgp section. */
  bgp: BgpReport | null;
  workers: number;
  /** Kernel data plane counters per service and server. */
  dataplane: ReadonlyArray<{ service: string; server: string; packets: number; bytes: number }>;
}

interface CheckStats {
  pass: number;
  fail: number;
  buckets: Float64Array;
  sum: number;
}

const VERSION = (() => {
  try {
    return (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
})();

export class MetricsHub {
  /** DNS answers; every DNS server the primary starts counts into it. */
  readonly dns = new DnsTally();
  /** The kernel data plane's per-server counts, carried over its applies and reloads. */
  readonly dataplane = new CounterTotals();
  /** Each live worker's latest snapshot, by worker id. */
  private readonly latest = new Map<number, WorkerMetrics>();
  private readonly exited = new Set<number>();
  /** What exited workers counted, summed (gauges at zero). */
  private retired: SummedMetrics = emptySum();
  private readonly checks = new Map<string, CheckStats & { pool: string; server: string }>();
  private readonly ejections = new Map<string, { pool: string; server: string; count: number }>();
  private readonly transitions = new Map<string, number>();
  private readonly reloads = { ok: 0, failed: 0 };
  private nextScrape = 1;
  private readonly waiting = new Map<number, { missing: Set<number>; done: () => void }>();
  private readonly listening: boolean;

  /** `listen`: follow the cluster's workers (false in unit tests, which call accept/retire). */
  constructor(listen = true) {
    this.listening = listen;
    healthCheckChannel.subscribe(this.onCheck);
    vrrpChannel.subscribe(this.onVrrp);
    if (listen) {
      cluster.on('message', this.onMessage);
      cluster.on('exit', this.onExit);
    }
  }

  close(): void {
    healthCheckChannel.unsubscribe(this.onCheck);
    vrrpChannel.unsubscribe(this.onVrrp);
    if (this.listening) {
      cluster.off('message', this.onMessage);
      cluster.off('exit', this.onExit);
    }
  }

  /** A worker's snapshot (the newest received replaces the one before). */
  accept(workerId: number, m: WorkerMetrics): void {
    if (this.exited.has(workerId)) return; // arrived after its exit
    this.latest.set(workerId, m);
  }

  /** A worker exited: its last snapshot's counters are kept. */
  retire(workerId: number): void {
    this.exited.add(workerId);
    const last = this.latest.get(workerId);
    this.latest.delete(workerId);
    for (const [id, w] of this.waiting) {
      w.missing.delete(workerId);
      if (w.missing.size === 0) this.waiting.get(id)?.done();
    }
    if (last !== undefined) this.retired = sumSnapshots([this.retired, last], true);
  }

  reloaded(ok: boolean): void {
    if (ok) this.reloads.ok++;
    else this.reloads.failed++;
  }

  /** A worker's passive health ejected a server. */
  ejected(pool: string, server: string): void {
    const key = `${pool}\0${server}`;
    const e = this.ejections.get(key);
    if (e === undefined) this.ejections.set(key, { pool, server, count: 1 });
    else e.count++;
  }

  private readonly onMessage = (worker: Worker, m: FromWorker): void => {
    if (m === null || typeof m !== 'object') return;
    if (m.t === 'counters') {
      if (m.metrics !== undefined) this.accept(worker.id, m.metrics);
    } else if (m.t === 'metrics') {
      if (m.metrics !== null) this.accept(worker.id, m.metrics);
      const w = this.waiting.get(m.id);
      if (w !== undefined) {
        w.missing.delete(worker.id);
        if (w.missing.size === 0) w.done();
      }
    } else if (m.t === 'ejected') {
      this.ejected(m.server.pool, m.server.server);
    }
  };

  private readonly onExit = (worker: Worker): void => this.retire(worker.id);

  private readonly onCheck = (message: unknown): void => {
    const e = message as HealthCheckEvent;
    const key = `${e.pool}\0${e.server}`;
    let c = this.checks.get(key);
    if (c === undefined) this.checks.set(key, (c = { pool: e.pool, server: e.server, pass: 0, fail: 0, buckets: new Float64Array(RESPONSE_BUCKETS.length + 1), sum: 0 }));
    if (e.ok) c.pass++;
    else c.fail++;
    c.sum += e.seconds;
    c.buckets[bucketOf(e.seconds)]!++;
  };

  private readonly onVrrp = (message: unknown): void => {
    const e = message as VrrpEventMessage;
    if (e.kind === 'state' && e.from !== e.to) this.transitions.set(e.instance, (this.transitions.get(e.instance) ?? 0) + 1);
  };

  /**
   * Asks every connected worker for a fresh snapshot and resolves when all have
   * answered, or after `waitMs`: a worker that is slow to answer counts with its
   * last snapshot (at most a second old).
   */
  refresh(waitMs = SCRAPE_WAIT_MS): Promise<void> {
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined && w.isConnected());
    if (workers.length === 0) return Promise.resolve();
    const id = this.nextScrape++;
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => finish(), waitMs);
      const finish = () => {
        clearTimeout(timer);
        this.waiting.delete(id);
        resolve();
      };
      this.waiting.set(id, { missing: new Set(workers.map((w) => w.id)), done: finish });
      const ask: ToWorker = { t: 'metrics', id };
      for (const w of workers) w.send(ask, undefined, () => {});
    });
  }

  /** The exposition: every live worker's snapshot, exited workers' counts and the primary's own, summed. */
  async exposition(view: PrimaryView, openMetrics: boolean): Promise<{ contentType: string; body: string }> {
    const out = new FamilySet();
    const live = [...this.latest];
    const summed = sumSnapshots([this.retired, ...live.map(([, m]) => m)]);
    addWorkerFamilies(out, summed, live.map(([id, m]) => ({ id, cpuSeconds: m.cpuSeconds, rss: m.rss })));
    this.addPrimaryFamilies(out, view);
    return expose(out.list(), openMetrics);
  }

  /** What the primary itself knows and counts. */
  private addPrimaryFamilies(out: FamilySet, view: PrimaryView): void {
    const configured = new Set<string>();
    for (const p of view.pools) {
      for (const s of p.servers) {
        const labels = { pool: p.name, server: s.name };
        out.add(M.serverUp, labels, s.healthy ? 1 : 0);
        const state = (s as { adminState?: string }).adminState ?? 'ready';
        for (const st of ADMIN_STATES) out.add(M.serverState, { ...labels, state: st }, st === state ? 1 : 0);
        out.add(M.serverWeight, labels, s.weight);
        const key = `${p.name}\0${s.name}`;
        configured.add(key);
        out.add(M.serverEjectionsTotal, labels, this.ejections.get(key)?.count ?? 0);
      }
    }
    // servers no longer configured keep their totals
    for (const [key, e] of this.ejections) if (!configured.has(key)) out.add(M.serverEjectionsTotal, { pool: e.pool, server: e.server }, e.count);
    for (const c of this.checks.values()) {
      const labels = { pool: c.pool, server: c.server };
      out.add(M.healthChecksTotal, { ...labels, result: 'pass' }, c.pass);
      out.add(M.healthChecksTotal, { ...labels, result: 'fail' }, c.fail);
      out.histogram(M.healthCheckSeconds, labels, RESPONSE_BUCKETS, c.buckets, c.sum);
    }
    for (const q of this.dns.counts()) out.add(M.dnsQueriesTotal, { zone: q.zone, name: q.name, rcode: q.rcode }, q.count);
    for (const d of view.dataplane) {
      out.add(M.dataplanePacketsTotal, { service: d.service, server: d.server }, d.packets);
      out.add(M.dataplaneBytesTotal, { service: d.service, server: d.server }, d.bytes);
    }
    for (const v of view.vrrp) {
      for (const st of VRRP_STATES) out.add(M.vrrpState, { instance: v.name, state: st }, st === v.state ? 1 : 0);
      out.add(M.vrrpTransitionsTotal, { instance: v.name }, this.transitions.get(v.name) ?? 0);
    }
    for (const b of view.bgp?.sessions ?? []) {
      const peer = { peer: b.peer };
      out.add(M.bgpSessionUp, peer, b.state === 'established' ? 1 : 0);
      if (b.bfd !== null) out.add(M.bgpBfdUp, peer, b.bfd === 'up' ? 1 : 0);
      out.add(M.bgpEstablishedTotal, peer, b.counts.established);
      out.add(M.bgpUpdatesSentTotal, peer, b.counts.updatesSent);
      out.add(M.bgpNotificationsTotal, { ...peer, direction: 'sent' }, b.counts.notificationsSent);
      out.add(M.bgpNotificationsTotal, { ...peer, direction: 'received' }, b.counts.notificationsReceived);
    }
    for (const r of view.bgp?.routes ?? []) out.add(M.bgpRouteAnnounced, { prefix: r.prefix }, r.announced ? 1 : 0);
    out.add(M.workers, {}, view.workers);
    out.add(M.reloadsTotal, { result: 'ok' }, this.reloads.ok);
    out.add(M.reloadsTotal, { result: 'failed' }, this.reloads.failed);
    const cpu = process.cpuUsage();
    out.add(M.processCpuSecondsTotal, { process: 'primary' }, (cpu.user + cpu.system) / 1e6);
    try {
      out.add(M.processResidentMemoryBytes, { process: 'primary' }, process.memoryUsage.rss());
    } catch {
      /* out of descriptors: left out */
    }
    out.add(M.info, { version: VERSION }, 1);
  }
}
