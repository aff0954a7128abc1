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
import { tableOwner } from '../limits/table.js';
import os from 'node:os';
import type { Config } from '../config/types.js';
import { log } from '../core/log.js';
import { newTicketKeys } from '../tls/ticket-keys.js';
import type { DnsServer } from '../dns/server.js';
import type { Pool } from '../backend/pool.js';
import type { TrackableListener, VrrpService } from '../vrrp/service.js';
import type { Dataplane } from '../dataplane/dataplane.js';
import type { BgpReport, BgpSpeaker } from '../bgp/speaker.js';
import type { ControlAnswer } from './control.js';
import { ADMIN_STATES, type AdminState, type ApiResult, type RuntimeApi, type ServerOperation, type ServerOverride, type ServerSpec } from './api.js';
import { Overrides, adminUpdateOf, parseServerSpec } from './overrides.js';
import type { CheckRecord } from '../health/checker.js';
import type { Server } from '../backend/server.js';
import { closest } from '../config/common/suggest.js';
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
    servers: ServerStatus[];
  }>;
  /** What the operator changed at runtime (runtime API), relative to the configuration file. */
  overrides: ServerOverride[];
  /** BGP sessions and routes, when the configuration has a `bgp` section. */
  bgp: BgpReport | null;
}

/** One server in the status report. */
export interface ServerStatus {
  name: string;
  address: string;
  /** The weight in force (the operator's, or the file's). */
  weight: number;
  /** The operator's state (runtime API). */
  state: AdminState;
  /** Whether it takes new work now (ready, healthy, not ejected, weight above 0). */
  usable: boolean;
  healthy: boolean;
  reason: string;
  /** Slow start is ramping its weight up. */
  slowStart: boolean;
  /** Some worker's outlier detection has it ejected (as last reported). */
  ejected: boolean;
  lastCheck: LastCheck | null;
  /** The latest active checks, oldest first. */
  history: CheckRecord[];
  active: number;
  total: number;
}

export class Primary implements RuntimeApi {
  private plane!: Instance;
  /** The configuration as the file says; `config` is this with the runtime's servers added and removed. */
  private base: Config;
  /** What the operator changed at runtime: survives reloads. */
  private readonly overrides = new Overrides();
  private dns: DnsServer | null = null;
  /** VRRP outlives reloads: resigning and re-electing on every reload would move the virtual addresses for nothing. */
  private vrrp: VrrpService | null = null;
  /** The BGP speaker; a reload restarts it only when its section changed. */
  private bgp: BgpSpeaker | null = null;
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
  ) {
    this.base = config;
  }

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
      // Last: a node claims the virtual addresses, and announces routes, only once it can serve them.
      this.vrrp = await this.startVrrp(this.config);
      this.bgp = await this.startBgp(this.config);
    } catch (err) {
      await this.vrrp?.stop();
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
    const listeners = this.trackableListeners(config);
    const vrrp = new Service(config.vrrp, pools, listeners, { log: (m) => log().info(`vrrp ${m}`) });
    await vrrp.start();
    return vrrp;
  }

  /** A configuration's listeners as VRRP tracking and BGP conditions probe them, at their bound addresses. */
  private trackableListeners(config: Config): TrackableListener[] {
    return config.listeners.map((l) => ({
      name: l.name,
      udp: l.mode === 'udp',
      address: () => {
        const b = this.bound.find((x) => x.name === l.name);
        if (b === undefined) throw new Error(`listener ${l.name} is not bound`);
        return { address: b.host, port: b.port, family: b.host.includes(':') ? 'IPv6' : 'IPv4' };
      },
    }));
  }

  /** The BGP speaker of a configuration, reading whatever the current pools and listeners are. */
  private async startBgp(config: Config): Promise<BgpSpeaker | null> {
    if (!config.bgp) return null;
    const { BgpSpeaker: Speaker } = await import('../bgp/speaker.js');
    const speaker = new Speaker(config.bgp, {
      pools: () => this.plane.pools,
      listener: (name) => this.trackableListeners(this.config).find((l) => l.name === name),
      log: (m) => log().info(`bgp: ${m}`),
    });
    await speaker.start();
    return speaker;
  }

  /** Keeps the speaker when its section is unchanged (its conditions now read the new pools); else restarts it. */
  private async reloadBgp(config: Config): Promise<string | null> {
    if (JSON.stringify(this.bgp?.config ?? null) === JSON.stringify(config.bgp ?? null)) {
      this.bgp?.evaluate();
      return null;
    }
    log().warn('reload: the bgp section changed: its sessions restart');
    return restarted('BGP', this.bgp, () => this.startBgp(config), (s) => (this.bgp = s));
  }

  private async startPlane(config: Config, health: HealthState[]): Promise<Instance> {
    const old = this.plane as Instance | undefined;
    const plane = await startInstance(
      { ...config, listeners: [], dns: null },
      {
        initialHealth: health,
        checkHistory: (ref) => {
          const s = old?.pools.get(ref.pool)?.servers.find((x) => x.name === ref.server && `${x.host}:${x.port}` === ref.address);
          return s === undefined ? undefined : old!.checkHistory(s);
        },
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
    for (const u of this.overrides.updates(config)) plane.applyAdmin(u);
    return plane;
  }

  private newGeneration(config: Config): Generation {
    const wanted = this.opts.workers ?? (config.runtime.workers === 'auto' ? os.availableParallelism() : config.runtime.workers);
    return new Generation(++this.generations, config, workerCount(config, wanted), {
      health: () => this.plane.healthStates(),
      admin: () => this.overrides.updates(config),
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
    const { config: base, issues } = await this.opts.reload();
    if (base === undefined) {
      for (const line of issues) log().error(line);
      const message = `reload refused: ${issues.length} problem(s) in ${this.config.source}; the running configuration stays in force`;
      log().error(message);
      return { ok: false, message, data: issues };
    }
    const { config, dropped } = this.overrides.effective(base);
    for (const line of dropped) log().warn(`reload: ${line}`);
    const answer = await this.apply(config, `reloaded ${config.source}`);
    if (this.config === config) this.base = base;
    return answer;
  }

  /**
   * Puts an effective configuration in force: a new health plane with the servers' current
   * states, a new generation of workers, the data plane, DNS and VRRP moved over, then the
   * old generation drains. `what` starts the message ("reloaded FILE").
   */
  private async apply(config: Config, what: string): Promise<ControlAnswer> {
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
    const bgpProblem = await this.reloadBgp(config);
    if (oldGen !== null) {
      this.draining.add(oldGen);
      void oldGen.drain(config.runtime.drainMs, false).then(() => this.draining.delete(oldGen));
    }
    const message = `${what}: generation ${gen.id}, ${gen.size} worker(s), ${bound.length} listener(s); generation ${oldGen?.id ?? '-'} drains (up to ${config.runtime.drainMs} ms)`;
    log().info(message);
    // The rest of the new configuration is in force; say loudly that VRRP is not.
    if (vrrpProblem !== null) return { ok: false, message: `${message}; but VRRP did not start again: ${vrrpProblem}` };
    if (bgpProblem !== null) return { ok: false, message: `${message}; but BGP did not start again: ${bgpProblem}` };
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
    return restarted('VRRP', this.vrrp, () => this.startVrrp(config), (s) => (this.vrrp = s));
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
      // First: routes are withdrawn (after their graceful-shutdown time) and the virtual
      // addresses handed to the peer while in-flight work finishes here.
      await this.bgp?.stop();
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
        bgp: this.bgp?.report() ?? null,
        workers: gens.reduce((n, g) => n + g.members().length, 0),
        dataplane: (await this.dataplane?.counters()) ?? [],
      },
      openMetrics,
    );
  }

  /** status() with every worker's counters as they are now (each asked; one slow to answer counts with its last report). */
  async freshStatus(): Promise<StatusReport> {
    await this.metricsHub.refresh();
    return this.status();
  }

  status(): StatusReport {
    const listeners = this.bound.map((l) => ({ ...l, accepted: this.retired.accepted(l.name), active: 0 }));
    const servers = new Map<string, { active: number; total: number; ejected: boolean }>();
    for (const [key, total] of this.retired.servers) servers.set(key, { active: 0, total, ejected: false });
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
        const sum = servers.get(key) ?? { active: 0, total: 0, ejected: false };
        sum.active += s.active;
        sum.total += s.total;
        sum.ejected ||= s.ejected === true;
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
        servers: p.servers.map((s): ServerStatus => {
          const counted = servers.get(`${p.name}/${s.name}`) ?? { active: 0, total: 0, ejected: false };
          return {
            name: s.name,
            address: `${s.host}:${s.port}`,
            weight: s.weight,
            state: s.adminState,
            usable: p.usable.includes(s) && !counted.ejected,
            healthy: s.healthy,
            reason: s.healthReason,
            slowStart: p.inSlowStart(s),
            ejected: counted.ejected,
            lastCheck: this.plane.lastCheck(s),
            history: this.plane.checkHistory(s),
            active: counted.active,
            total: counted.total,
          };
        }),
      })),
      overrides: this.overrides.list(),
      bgp: this.bgp?.report() ?? null,
    };
  }

  /** The runtime API's operations, one at a time and never during a reload. */
  operate(op: ServerOperation): Promise<ApiResult> {
    const run = this.busy.then(() => this.doOperate(op)).catch((err: unknown): ApiResult => ({ ok: false, status: 500, message: (err as Error).message }));
    this.busy = run;
    return run;
  }

  private async doOperate(op: ServerOperation): Promise<ApiResult> {
    if (this.stopping !== null) return refuse(409, 'stopping: no runtime changes');
    const pool = this.plane.pools.get(op.pool);
    if (pool === undefined) {
      const hint = closest(op.pool, [...this.plane.pools.keys()]);
      return refuse(404, `no pool ${JSON.stringify(op.pool)}${hint === undefined ? '' : `; did you mean ${hint}?`}`);
    }
    if (op.op === 'add') return this.addServer(op.pool, op.spec);
    const server = pool.servers.find((s) => s.name === op.server);
    if (server === undefined) {
      const hint = closest(op.server, pool.servers.map((s) => s.name));
      return refuse(404, `pool ${pool.name} has no server ${JSON.stringify(op.server)}${hint === undefined ? '' : `; did you mean ${hint}?`}`);
    }
    const name = server.toString();
    switch (op.op) {
      case 'state': {
        if (!ADMIN_STATES.includes(op.state)) return refuse(400, `state: expected one of ${ADMIN_STATES.join(', ')}, got ${JSON.stringify(op.state)}`);
        this.overrides.setState(pool.name, server.name, op.state);
        this.applyAdmin(server, op.state, server.weight);
        return done(`${name} is ${op.state === 'ready' ? 'ready' : op.state === 'drain' ? 'draining' : 'in maintenance'}`, await this.serverStatus(pool.name, server.name));
      }
      case 'weight': {
        if (!Number.isInteger(op.weight) || op.weight < 0 || op.weight > 256) return refuse(400, `weight: expected an integer from 0 to 256, got ${JSON.stringify(op.weight)}`);
        const configured = this.base.pools.get(pool.name)?.servers.find((s) => s.name === server.name)?.weight;
        this.overrides.setWeight(pool.name, server.name, op.weight, configured);
        this.applyAdmin(server, server.adminState, op.weight);
        return done(`${name} has weight ${op.weight}`, await this.serverStatus(pool.name, server.name));
      }
      case 'check': {
        if (pool.config.health === null) return refuse(409, `pool ${pool.name} has no health checks`);
        const last = await this.plane.checkNow(server);
        if (last === null) return refuse(409, `${name} is not checked here`);
        return done(`${name}: check ${last.ok ? 'passed' : 'failed'} (${last.detail})`, last);
      }
      case 'remove': {
        if (pool.servers.length === 1) return refuse(409, `${name} is the last server of pool ${pool.name}: a pool keeps at least one`);
        const undo = this.overrides.snapshot(pool.name, server.name);
        this.overrides.remove(pool.name, server.name);
        return this.rebuild(`removed ${name}`, undo);
      }
    }
  }

  private async addServer(pool: string, spec: ServerSpec): Promise<ApiResult> {
    const { server, problems } = parseServerSpec(spec);
    if (server === undefined) return refuse(400, problems.join('; '));
    const name = `${pool}/${server.name}`;
    if (this.plane.pools.get(pool)!.servers.some((s) => s.name === server.name)) return refuse(409, `pool ${pool} already has a server ${server.name}`);
    const undo = this.overrides.snapshot(pool, server.name);
    const removed = this.overrides.get(pool, server.name);
    if (removed?.removed === true) {
      // removed at runtime but in the file: it comes back as the file has it
      const inFile = this.base.pools.get(pool)?.servers.find((s) => s.name === server.name);
      if (inFile !== undefined && (inFile.host !== server.host || inFile.port !== server.port)) {
        return refuse(409, `${name} is in the configuration file at ${inFile.host}:${inFile.port}: add it back with that address, or under another name`);
      }
      this.overrides.unremove(pool, server.name);
      return this.rebuild(`added ${name} back`, undo);
    }
    this.overrides.add(pool, server);
    return this.rebuild(`added ${name} (${server.host}:${server.port}, weight ${server.weight})`, undo);
  }

  /** Puts the file's configuration with the runtime's servers in force; on failure, `undo` restores the overrides. */
  private async rebuild(what: string, undo: () => void): Promise<ApiResult> {
    const { config, dropped } = this.overrides.effective(this.base);
    for (const line of dropped) log().warn(line);
    const answer = await this.apply(config, `${what} (runtime API)`);
    if (this.config !== config) {
      undo();
      return refuse(500, answer.message);
    }
    return { ok: answer.ok, status: answer.ok ? 200 : 500, message: answer.message };
  }

  /** Gives a server its state and weight here, in every worker, DNS and the data plane (they read these pools). */
  private applyAdmin(server: Server, state: AdminState, weight: number): void {
    const update = adminUpdateOf(server, state, weight);
    this.plane.applyAdmin(update);
    this.current?.broadcast({ t: 'admin', update });
    for (const g of this.draining) g.broadcast({ t: 'admin', update });
  }

  /** A server's status, with the workers' counters as they are now. */
  private async serverStatus(pool: string, server: string): Promise<ServerStatus | undefined> {
    return (await this.freshStatus()).pools.find((p) => p.name === pool)?.servers.find((s) => s.name === server);
  }
}

function refuse(status: number, message: string): ApiResult {
  return { ok: false, status, message };
}

function done(message: string, data?: unknown): ApiResult {
  log().info(`runtime API: ${message}`);
  return { ok: true, status: 200, message, data };
}

/**
 * Stops a section's service and starts it again (`set` receives the new one, or null when
 * it did not start): resolves with what went wrong, or null.
 */
async function restarted<T extends { stop(): Promise<void> }>(what: string, old: T | null, start: () => Promise<T | null>, set: (s: T | null) => void): Promise<string | null> {
  await old?.stop();
  set(null);
  try {
    set(await start());
    return null;
  } catch (err) {
    log().error(`reload: ${what} did not start again: ${(err as Error).message}`);
    return (err as Error).message;
  }
}

/** The kernel data plane of a configuration's virtual services, following the plane's pools. */
async function startDataplane(config: Config, plane: Instance, counters: CounterTotals, replacing = false): Promise<Dataplane | null> {
  if (config.services.length === 0) return null;
  const { Dataplane: Plane } = await import('../dataplane/dataplane.js');
  // a VIP that VRRP moves is on this host only while it is master: a backup programs its rules all the same
  const virtualAddresses = (config.vrrp?.instances ?? []).flatMap((i) => i.virtualIps.map((v) => v.address));
  const dataplane = new Plane(config.services, plane.pools, { log: (m) => log().info(`dataplane: ${m}`), counters, virtualAddresses });
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
  // The limits' shared table goes to every worker as descriptor 4 (limits/table.ts).
  const limits = tableOwner();
  cluster.setupPrimary({
    exec: new URL('./worker-main.js', import.meta.url).pathname,
    execArgv,
    serialization: 'advanced',
    ...(limits === null ? {} : { stdio: [0, 1, 2, 'ipc', limits.fd] }),
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
