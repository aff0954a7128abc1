/**
 * The primary process: owns the configuration, the active health checks, the DNS
 * server and the control socket, and runs the listeners in worker processes
 * (node:cluster), one generation per configuration. Health decisions flow to the
 * workers; counters flow back.
 *
 * Reload: the new configuration is read and checked (a bad one changes nothing); its
 * health plane starts with the servers' current states; a new generation of workers
 * binds its listeners (unchanged addresses share the primary's listening sockets, so
 * nothing is refused meanwhile); then the old generation drains: it stops accepting,
 * finishes its requests, and keeps long-lived connections up to `runtime.drain_timeout`.
 * Stop: every generation drains with `runtime.shutdown_timeout`, idle connections are
 * closed at once, then the primary exits.
 */
import cluster from 'node:cluster';
import os from 'node:os';
import type { Config } from '../config/types.js';
import { log } from '../core/log.js';
import { newTicketKeys } from '../tls/ticket-keys.js';
import type { DnsServer } from '../dns/server.js';
import type { Pool } from '../backend/pool.js';
import type { TrackableListener, VrrpService } from '../vrrp/service.js';
import type { Dataplane } from '../dataplane/dataplane.js';
import type { ControlAnswer } from './control.js';
import { Generation, workerCount } from './generation.js';
import { MetricsHub } from '../metrics/hub.js';
import type { DnsTally } from '../metrics/dns-tally.js';
import type { CounterTotals } from '../dataplane/counters.js';
import { startInstance, type Instance } from './instance.js';
import { memorySample, type BoundListener, type HealthState, type InstanceCounters, type MemorySample, type ServerRef, type LastCheck } from './messages.js';

/** Reads the configuration again: the new one, or the problems (each a formatted line). */
export type ReloadSource = () => Promise<{ config?: Config; issues: string[] }>;

export interface PrimaryOptions {
  /** `--workers N`: overrides `runtime.workers`. */
  workers?: number;
  reload: ReloadSource;
}

/** What `fulcrum status` prints. */
export interface StatusReport {
  pid: number;
  /** When the report was made (ms since epoch). */
  at: number;
  source: string;
  generation: number;
  /** The primary's own memory (it serves DNS, runs health checks, VRRP and the data plane). */
  memory: MemorySample;
  /** `active`: client connections (or UDP sessions) the worker holds now, and `memory`, as last reported (null before the first report). */
  workers: Array<{ id: number; pid: number | undefined; generation: number; draining: boolean; active: number; memory: MemorySample | null }>;
  listeners: Array<BoundListener & { accepted: number; active: number }>;
  pools: Array<{
    name: string;
    servers: Array<{ name: string; address: string; weight: number; healthy: boolean; reason: string; lastCheck: LastCheck | null; active: number; total: number }>;
  }>;
}

export class Primary {
  private plane!: Instance;
  private dns: DnsServer | null = null;
  /** VRRP outlives reloads: resigning and re-electing on every reload would move the virtual addresses for nothing. */
  private vrrp: VrrpService | null = null;
  /** The kernel data plane (virtual services); a reload hands the tables over without removing them. */
  private dataplane: Dataplane | null = null;
  private current: Generation | null = null;
  private readonly draining = new Set<Generation>();
  private bound: BoundListener[] = [];
  private generations = 0;
  private readonly counters = new Map<number, InstanceCounters>();
  /** What workers that have exited (reloads, stops, crashes) had counted: totals survive them. */
  private readonly retired = new RetiredCounts();
  /** Servers some worker's passive health has ejected since their last passing active check. */
  private readonly ejected = new Set<string>();
  /** Each worker's memory, as last reported with its counters. */
  private readonly memory = new Map<number, MemorySample>();
  private busy: Promise<unknown> = Promise.resolve();
  private stopping: Promise<void> | null = null;
  /** One set for the primary's lifetime: tickets resume on any worker and across reloads. */
  private readonly ticketKeys = newTicketKeys();
  /** Metrics: workers' snapshots, what exited workers counted, the primary's own counts. */
  private readonly metricsHub = new MetricsHub();

  constructor(
    private config: Config,
    private readonly opts: PrimaryOptions,
  ) {}

  get source(): string {
    return this.config.source;
  }

  /** The listeners as bound (port 0 resolved), in configuration order. */
  listeners(): readonly BoundListener[] {
    return this.bound;
  }

  dnsAddresses(): Array<{ host: string; port: number }> {
    return this.dns?.addresses() ?? [];
  }

  /** Starts health checking, the DNS server and the first generation of workers. Throws (having undone it all) on failure. */
  async start(): Promise<void> {
    this.plane = await this.startPlane(this.config, []);
    try {
      this.dns = await startDns(this.config, this.plane, this.metricsHub.dns);
      this.dataplane = await startDataplane(this.config, this.plane, this.metricsHub.dataplane);
      const gen = this.newGeneration(this.config);
      this.bound = await gen.start();
      this.current = gen;
      // Last: a node claims the virtual addresses only once it can serve them.
      this.vrrp = await this.startVrrp(this.config);
    } catch (err) {
      await this.current?.kill();
      await this.dataplane?.stop();
      await this.dns?.stop();
      await this.plane.stop();
      throw err;
    }
  }

  /**
   * The VRRP instances of a configuration, tracking pools and listeners by name through
   * whatever the current configuration's are (a reload replaces them).
   */
  private async startVrrp(config: Config): Promise<VrrpService | null> {
    if (!config.vrrp) return null;
    const { VrrpService: Service } = await import('../vrrp/service.js');
    const pools: ReadonlyMap<string, Pool> = {
      get: (name: string) => this.plane.pools.get(name),
      has: (name: string) => this.plane.pools.has(name),
    } as ReadonlyMap<string, Pool>;
    const listeners: TrackableListener[] = config.listeners.map((l) => ({
      name: l.name,
      udp: l.mode === 'udp',
      address: () => {
        const b = this.bound.find((x) => x.name === l.name);
        if (b === undefined) throw new Error(`listener ${l.name} is not bound`);
        return { address: b.host, port: b.port, family: b.host.includes(':') ? 'IPv6' : 'IPv4' };
      },
    }));
    const vrrp = new Service(config.vrrp, pools, listeners, { log: (m) => log().info(`vrrp ${m}`) });
    await vrrp.start();
    return vrrp;
  }

  private startPlane(config: Config, health: HealthState[]): Promise<Instance> {
    return startInstance(
      { ...config, listeners: [], dns: null },
      {
        initialHealth: health,
        onHealth: (state) => {
          this.current?.broadcast({ t: 'health', state });
          for (const g of this.draining) g.broadcast({ t: 'health', state });
        },
        // only servers that some worker has ejected: a passing check ends those ejections
        onPass: (server) => {
          if (!this.ejected.delete(refKey(server))) return;
          this.current?.broadcast({ t: 'passed', server });
          for (const g of this.draining) g.broadcast({ t: 'passed', server });
        },
      },
    );
  }

  private newGeneration(config: Config): Generation {
    const wanted = this.opts.workers ?? (config.runtime.workers === 'auto' ? os.availableParallelism() : config.runtime.workers);
    return new Generation(++this.generations, config, workerCount(config, wanted), {
      health: () => this.plane.healthStates(),
      counters: (id, c, memory) => {
        if (this.retired.has(id)) return; // a report that arrived after its worker's exit
        this.counters.set(id, c);
        this.memory.set(id, memory);
      },
      gone: (id) => {
        this.retired.add(id, this.counters.get(id));
        this.counters.delete(id);
        this.memory.delete(id);
      },
      ejected: (s) => this.ejected.add(refKey(s)),
      ticketKeys: this.ticketKeys,
    });
  }

  /** SIGHUP or `fulcrum reload`: one at a time; a second waits for the first. */
  reload(): Promise<ControlAnswer> {
    const run = this.busy.then(() => this.doReload());
    run.then((a) => this.metricsHub.reloaded(a.ok), () => this.metricsHub.reloaded(false));
    this.busy = run.catch(() => {});
    return run;
  }

  private async doReload(): Promise<ControlAnswer> {
    if (this.stopping !== null) return { ok: false, message: 'stopping: not reloading' };
    const { config, issues } = await this.opts.reload();
    if (config === undefined) {
      for (const line of issues) log().error(line);
      const message = `reload refused: ${issues.length} problem(s) in ${this.config.source}; the running configuration stays in force`;
      log().error(message);
      return { ok: false, message, data: issues };
    }
    const plane = await this.startPlane(config, this.plane.healthStates());
    const gen = this.newGeneration(config);
    let bound: BoundListener[];
    try {
      bound = await gen.start();
    } catch (err) {
      await plane.stop();
      const message = `reload failed: ${(err as Error).message}; the running configuration stays in force`;
      log().error(message);
      return { ok: false, message };
    }
    // The new data plane replaces the kernel tables in one transaction (or the reload fails).
    // The old one applies nothing meanwhile: its pools still change, and an apply of the old
    // configuration landing after the new one's would stay in force.
    let dataplane: Dataplane | null;
    await this.dataplane?.pause();
    try {
      dataplane = await startDataplane(config, plane, this.metricsHub.dataplane, this.dataplane !== null);
    } catch (err) {
      this.dataplane?.resume();
      await gen.kill();
      await plane.stop();
      const message = `reload failed: ${(err as Error).message}; the running configuration stays in force`;
      log().error(message);
      return { ok: false, message };
    }
    if (dataplane === null) await this.dataplane?.stop();
    else await this.dataplane?.detach();
    this.dataplane = dataplane;
    const oldPlane = this.plane;
    const oldGen = this.current;
    this.plane = plane;
    this.current = gen;
    this.bound = bound;
    this.config = config;
    // The DNS server moves to the new pools (its port is released first: a gap of a few ms).
    await this.dns?.stop();
    try {
      this.dns = await startDns(config, plane, this.metricsHub.dns);
    } catch (err) {
      this.dns = null;
      log().error(`reload: the DNS server did not start again: ${(err as Error).message}`);
    }
    await oldPlane.stop();
    const vrrpProblem = await this.reloadVrrp(config);
    if (oldGen !== null) {
      this.draining.add(oldGen);
      void oldGen.drain(config.runtime.drainMs, false).then(() => this.draining.delete(oldGen));
    }
    const message = `reloaded ${config.source}: generation ${gen.id}, ${gen.size} worker(s), ${bound.length} listener(s); generation ${oldGen?.id ?? '-'} drains (up to ${config.runtime.drainMs} ms)`;
    log().info(message);
    // The rest of the new configuration is in force; say loudly that VRRP is not.
    if (vrrpProblem !== null) return { ok: false, message: `${message}; but VRRP did not start again: ${vrrpProblem}` };
    return { ok: true, message };
  }

  /**
   * Keeps VRRP as it runs when its section is unchanged; applies a change of priorities
   * alone in place; restarts it (a resignation and a new election) when anything else
   * changed. Resolves with what went wrong, or null.
   */
  private async reloadVrrp(config: Config): Promise<string | null> {
    const before = JSON.stringify(this.vrrp?.config ?? null);
    if (before === JSON.stringify(config.vrrp ?? null)) {
      this.vrrp?.update();
      return null;
    }
    if (this.vrrp !== null && config.vrrp && this.vrrp.retune(config.vrrp)) {
      log().info('reload: only vrrp priorities changed: applied in place (no resignation)');
      return null;
    }
    log().warn('reload: the vrrp section changed: its instances restart (masters resign first)');
    await this.vrrp?.stop();
    this.vrrp = null;
    try {
      this.vrrp = await this.startVrrp(config);
      return null;
    } catch (err) {
      log().error(`reload: VRRP did not start again: ${(err as Error).message}`);
      return (err as Error).message;
    }
  }

  /** SIGUSR1: access log files are reopened by every worker. */
  reopenLogs(): void {
    this.current?.broadcast({ t: 'reopen' });
    for (const g of this.draining) g.broadcast({ t: 'reopen' });
  }

  /** Stops everything gracefully (idempotent); resolves when every worker is gone. */
  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await this.busy;
      // First: resigning hands the virtual addresses to the peer while in-flight work finishes here.
      await this.vrrp?.stop();
      const ms = this.config.runtime.shutdownMs;
      const gens = [...this.draining, ...(this.current === null ? [] : [this.current])];
      await Promise.all(gens.map((g) => g.drain(ms, true)));
      await this.dataplane?.stop();
      await this.dns?.stop();
      await this.plane.stop();
      this.metricsHub.close();
    })();
    return this.stopping;
  }

  /** The metrics exposition (RuntimeApi.metrics): fresh snapshots of every worker, summed with the primary's own. */
  async metrics(openMetrics: boolean): Promise<{ contentType: string; body: string }> {
    await this.metricsHub.refresh();
    const gens = [...this.draining, ...(this.current === null ? [] : [this.current])];
    return this.metricsHub.exposition(
      {
        pools: this.plane.pools.values(),
        vrrp: this.vrrp?.status() ?? [],
        workers: gens.reduce((n, g) => n + g.members().length, 0),
        dataplane: (await this.dataplane?.counters()) ?? [],
      },
      openMetrics,
    );
  }

  status(): StatusReport {
    const listeners = this.bound.map((l) => ({ ...l, accepted: this.retired.accepted(l.name), active: 0 }));
    const servers = new Map<string, { active: number; total: number }>();
    for (const [key, total] of this.retired.servers) servers.set(key, { active: 0, total });
    for (const c of this.counters.values()) {
      for (const l of c.listeners) {
        const mine = listeners.find((x) => x.name === l.name);
        if (mine !== undefined) {
          mine.accepted += l.accepted;
          mine.active += l.active;
        }
      }
      for (const s of c.servers) {
        const key = `${s.pool}/${s.server}`;
        const sum = servers.get(key) ?? { active: 0, total: 0 };
        sum.active += s.active;
        sum.total += s.total;
        servers.set(key, sum);
      }
    }
    const active = (id: number) => (this.counters.get(id)?.listeners ?? []).reduce((n, l) => n + l.active, 0);
    const workers = [
      ...(this.current === null ? [] : this.current.members().map((m) => ({ id: m.id, pid: m.pid, generation: this.current!.id, draining: false, active: active(m.id), memory: this.memory.get(m.id) ?? null }))),
      ...[...this.draining].flatMap((g) => g.members().map((m) => ({ id: m.id, pid: m.pid, generation: g.id, draining: true, active: active(m.id), memory: this.memory.get(m.id) ?? null }))),
    ];
    return {
      pid: process.pid,
      at: Date.now(),
      memory: memorySample(),
      source: this.config.source,
      generation: this.current?.id ?? 0,
      workers,
      listeners,
      pools: [...this.plane.pools.values()].map((p) => ({
        name: p.name,
        servers: p.servers.map((s) => ({
          name: s.name,
          address: `${s.host}:${s.port}`,
          weight: s.weight,
          healthy: s.healthy,
          reason: s.healthReason,
          lastCheck: this.plane.lastCheck(s),
          ...(servers.get(`${p.name}/${s.name}`) ?? { active: 0, total: 0 }),
        })),
      })),
    };
  }
}

/** The kernel data plane of a configuration's virtual services, following the plane's pools. */
async function startDataplane(config: Config, plane: Instance, counters: CounterTotals, replacing = false): Promise<Dataplane | null> {
  if (config.services.length === 0) return null;
  const { Dataplane: Plane } = await import('../dataplane/dataplane.js');
  const dataplane = new Plane(config.services, plane.pools, { log: (m) => log().info(`dataplane: ${m}`), counters });
  if (replacing) log().info('dataplane: applying the reloaded virtual services over the running tables');
  await dataplane.start();
  return dataplane;
}

async function startDns(config: Config, plane: Instance, tally: DnsTally): Promise<DnsServer | null> {
  if (config.dns === null) return null;
  const { DnsServer: Dns } = await import('../dns/server.js');
  const dns = new Dns(config.dns, plane.pools, { tally });
  await dns.start();
  return dns;
}

/** Workers run this file; `--max-semi-space-size` and friends go with them. */
export function setupWorkers(execArgv: string[]): void {
  // The kernel hands each connection to one of the workers accepting on the shared socket
  // (Node's own NODE_CLUSTER_SCHED_POLICY=rr makes the primary accept and pass them round robin).
  if (process.env.NODE_CLUSTER_SCHED_POLICY !== 'rr') cluster.schedulingPolicy = cluster.SCHED_NONE;
  cluster.setupPrimary({
    exec: new URL('./worker-main.js', import.meta.url).pathname,
    execArgv,
    serialization: 'advanced',
  });
}

/** One key per server across processes. */
function refKey(s: ServerRef): string {
  return `${s.pool}\0${s.server}\0${s.address}`;
}

/** Counts of workers that have exited, summed: accepted connections per listener, requests per server. */
class RetiredCounts {
  readonly listeners = new Map<string, number>();
  /** By "pool/server". */
  readonly servers = new Map<string, number>();

  private readonly workers = new Set<number>();

  /** Keeps worker `id`'s last report (it counted up to a second before it exited). */
  add(id: number, c: InstanceCounters | undefined): void {
    this.workers.add(id);
    if (c === undefined) return;
    for (const l of c.listeners) this.listeners.set(l.name, (this.listeners.get(l.name) ?? 0) + l.accepted);
    for (const s of c.servers) {
      const key = `${s.pool}/${s.server}`;
      this.servers.set(key, (this.servers.get(key) ?? 0) + s.total);
    }
  }

  /** Whether worker `id` has exited. */
  has(id: number): boolean {
    return this.workers.has(id);
  }

  accepted(listener: string): number {
    return this.listeners.get(listener) ?? 0;
  }
}
