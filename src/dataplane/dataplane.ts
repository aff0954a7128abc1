/**
 * The kernel data plane of a running balancer: keeps the kernel's rules (nftables) equal
 * to the desired state of the virtual services as the pools' health changes.
 *
 * start() checks the host (preflight.ts), learns the servers' MAC addresses for DSR,
 * and applies the first transaction; any problem refuses the start with every reason at
 * once and leaves no rule behind. Then each pool change (a server state event, or a
 * moved `pool.version`, checked every `pollMs`) re-renders and applies within
 * milliseconds; changes that arrive during an apply are folded into one more apply. A
 * failed apply keeps the previous rules (nft transactions are atomic) and is retried.
 * When a NAT server goes down, its flows' conntrack entries are removed, UDP at once and
 * TCP after the service's drain time unless it came back; a drained server (weight 0)
 * only stops getting new flows. stop() removes Fulcrum's tables.
 */
import type { Pool } from '../backend/pool.js';
import type { Server } from '../backend/server.js';
import type { VirtualServiceConfig } from '../config/services/parse.js';
import { serverStateChannel, type ServerStateEvent } from '../core/events.js';
import { CounterTotals, type LiveCounter, type ServerCounter } from './counters.js';
import { ConntrackFlusher, type FlowFilter } from './conntrack.js';
import { desiredState, neighbourKey, type Left } from './desired.js';
import { dataplaneError, type DataplaneDriver } from './driver.js';
import { NftDriver } from './nft-driver.js';
import { CommandHost, type Host } from './host.js';
import { neighbours, provokeNeighbour } from './links.js';
import { preflight } from './preflight.js';
import { renderRemoval, renderTransaction } from './render.js';
import type { DesiredState, ServiceState } from './state.js';
import { log } from '../core/log.js';

/** Seams and timings; the defaults program this host's kernel. */
export interface DataplaneOptions {
  /** Where commands run (default: this process's network namespace). */
  host?: Host;
  /** Default: NftDriver on `host`. */
  driver?: DataplaneDriver;
  /** Default: stderr, prefixed "fulcrum: dataplane: ". */
  log?: (msg: string) => void;
  /** Removes conntrack entries (default: ConntrackFlusher on `host`). */
  flusher?: { flush(f: FlowFilter): Promise<number | null> };
  /** Addresses a VRRP instance of the configuration adds when master: a service's VIP may be one of them instead of an address of the host. */
  virtualAddresses?: readonly string[];
  /** Skip the host checks and MAC lookups (unit tests with a fake driver). */
  skipPreflight?: boolean;
  /** How often pool versions are compared (default 100 ms). */
  pollMs?: number;
  /** How often DSR servers' MAC addresses are re-read (default 2 s). */
  neighbourRefreshMs?: number;
  /** Wait before retrying a failed apply (default 1 s). */
  retryMs?: number;
  /** Per-server counts carried over applies; pass the same one to the next data plane of a reload. */
  counters?: CounterTotals;
}

/** One successful apply, for logs and tests. */
export interface ApplyRecord {
  at: number;
  reason: string;
  ms: number;
  state: DesiredState;
}

function sameService(a: ServiceState, b: ServiceState): boolean {
  if (a.interfaceMac !== b.interfaceMac || a.backends.length !== b.backends.length || a.table.length !== b.table.length) return false;
  for (let i = 0; i < a.backends.length; i++) {
    const x = a.backends[i]!;
    const y = b.backends[i]!;
    if (x.name !== y.name || x.host !== y.host || x.port !== y.port || x.weight !== y.weight || x.mac !== y.mac) return false;
  }
  for (let i = 0; i < a.table.length; i++) if (a.table[i] !== b.table[i]) return false;
  return true;
}

/** Per service: "www -> s1 515, s2 516 of 1031" (entries of the Maglev table per server). */
export function describeState(state: DesiredState): string {
  return state.services
    .map((s) => {
      if (s.backends.length === 0) return `${s.name} -> no usable server (the balancer refuses its flows)`;
      const counts = new Array<number>(s.backends.length).fill(0);
      for (const i of s.table) counts[i]!++;
      return `${s.name} -> ${s.backends.map((b, i) => `${b.name} ${counts[i]}`).join(', ')} of ${s.table.length}`;
    })
    .join('; ');
}

export class Dataplane {
  private readonly host: Host;
  private readonly driver: DataplaneDriver;
  private readonly log: (msg: string) => void;
  private readonly flusher: { flush(f: FlowFilter): Promise<number | null> };
  private readonly pollMs: number;
  private readonly neighbourRefreshMs: number;
  private readonly retryMs: number;
  private readonly poolNames: Set<string>;
  private applied: DesiredState | null = null;
  private interfaceMacs = new Map<string, string>();
  private readonly macs = new Map<string, string>();
  private readonly versions = new Map<string, number>();
  private readonly drains = new Map<string, NodeJS.Timeout>();
  private timers: NodeJS.Timeout[] = [];
  private retryTimer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private scheduled = false;
  private dirty = false;
  private reasons: string[] = [];
  private started = false;
  private stopped = false;
  private paused = false;
  private readonly totals: CounterTotals;
  /** Reading counters and replacing the tables (which restarts them) happen one at a time. */
  private counting: Promise<unknown> = Promise.resolve();
  private readonly onServerState = (message: unknown) => {
    const e = message as ServerStateEvent;
    if (this.poolNames.has(e.pool)) this.schedule(`pool ${e.pool}: server ${e.server} ${e.state}`);
  };
  /** Every successful apply since start, oldest first (at most the last 100). */
  readonly history: ApplyRecord[] = [];
  /** The last failure to apply, or null after a success. */
  lastError: string | null = null;

  constructor(
    readonly services: readonly VirtualServiceConfig[],
    private readonly pools: ReadonlyMap<string, Pool>,
    private readonly opts: DataplaneOptions = {},
  ) {
    this.host = opts.host ?? new CommandHost();
    this.driver = opts.driver ?? new NftDriver(this.host);
    this.log = opts.log ?? ((msg) => log().info(`dataplane: ${msg}`));
    this.flusher = opts.flusher ?? new ConntrackFlusher(this.host, this.log);
    this.pollMs = opts.pollMs ?? 100;
    this.neighbourRefreshMs = opts.neighbourRefreshMs ?? 2000;
    this.retryMs = opts.retryMs ?? 1000;
    this.totals = opts.counters ?? new CounterTotals();
    this.poolNames = new Set(services.map((s) => s.pool));
    for (const s of services) if (!pools.has(s.pool)) throw dataplaneError(`service ${s.name}: no pool named ${s.pool}`);
  }

  /** The state the kernel holds (the last one applied), or null before start. */
  get current(): DesiredState | null {
    return this.applied;
  }

  /**
   * Checks the host, resolves DSR servers' MAC addresses and applies the first rules.
   * Rejects with a FulcrumError (FULCRUM_ERR_DATAPLANE) listing every problem; then no
   * rule of Fulcrum's is in the kernel (a failed transaction changes nothing).
   */
  async start(): Promise<void> {
    if (this.started) throw dataplaneError('the data plane was already started');
    this.started = true;
    if (!this.opts.skipPreflight) {
      const nft = this.driver instanceof NftDriver ? () => (this.driver as NftDriver).probe() : async () => undefined;
      const report = await preflight(this.services, (pool) => this.pools.get(pool)!.config.servers, this.host, nft, this.opts.virtualAddresses);
      if (report.problems.length > 0) {
        throw dataplaneError(`the kernel data plane cannot start:\n${report.problems.map((p) => `  - ${p}`).join('\n')}`);
      }
      this.interfaceMacs = report.interfaceMacs;
      await this.resolveNeighbours(true);
    }
    for (const name of this.poolNames) this.versions.set(name, this.pools.get(name)!.version);
    await this.applyNow('start');
    serverStateChannel.subscribe(this.onServerState);
    // Kept referenced: with no listener, this timer is what keeps a balancer process alive.
    this.every(this.pollMs, () => this.pollVersions(), true);
    if (!this.opts.skipPreflight && this.services.some((s) => s.mode === 'dsr')) {
      this.every(this.neighbourRefreshMs, () => void this.resolveNeighbours(false));
    }
  }

  /**
   * Applies nothing more until resume() (changes are remembered): a reload pauses the
   * running Dataplane while the new one starts, so no apply of the old configuration can
   * land after the new one's. Resolves once no apply of this one is in flight.
   */
  async pause(): Promise<void> {
    this.paused = true;
    await this.running;
  }

  /** After pause(): applies what changed meanwhile (nothing if nothing did). */
  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.schedule('resumed');
  }

  /**
   * Stops following the pools and leaves the kernel's tables as they are: a reload's new
   * Dataplane has replaced them already (one transaction), so flows never meet an empty
   * table. Pending TCP drains of this one are dropped with it.
   */
  async detach(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.halt();
    await this.running;
  }

  private halt(): void {
    serverStateChannel.unsubscribe(this.onServerState);
    for (const t of this.timers) clearInterval(t);
    for (const t of this.drains.values()) clearTimeout(t);
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.timers = [];
    this.drains.clear();
  }

  /** Stops following the pools and removes Fulcrum's tables. Never rejects; a failure is logged. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.halt();
    await this.running;
    // Nothing applied, nothing to remove (and another instance's tables are not ours to take).
    if (this.applied === null) return;
    try {
      await this.countersKept(() => this.driver.apply(renderRemoval()), null);
      this.log("removed Fulcrum's tables");
    } catch (err) {
      this.log(`could not remove Fulcrum's tables: ${(err as Error).message}`);
    }
  }

  /**
   * Packets and bytes sent to each server per service, since the primary started (the
   * live tables' counters and what earlier tables counted). Empty when they cannot be read.
   */
  counters(): Promise<ServerCounter[]> {
    return this.serialized(async () => this.totals.with(await this.liveCounters()));
  }

  /** Runs `replace` (which restarts the tables' counters) and, when it succeeds, keeps what they had counted. */
  private countersKept(replace: () => Promise<void>, next: DesiredState | null): Promise<void> {
    return this.serialized(async () => {
      const live = await this.liveCounters();
      await replace();
      this.totals.carry(live);
      if (next !== null) this.totals.register(next);
    });
  }

  private serialized<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.counting.then(fn);
    this.counting = run.catch(() => {});
    return run;
  }

  private async liveCounters(): Promise<LiveCounter[]> {
    try {
      return await this.driver.counters();
    } catch {
      return [];
    }
  }

  private every(ms: number, fn: () => void, ref = false): void {
    const t = setInterval(fn, ms);
    if (!ref) t.unref();
    this.timers.push(t);
  }

  private pollVersions(): void {
    for (const name of this.poolNames) {
      const v = this.pools.get(name)!.version;
      if (this.versions.get(name) !== v) {
        this.versions.set(name, v);
        // A health event for this pool already asked for the apply and says more.
        if (!this.reasons.some((r) => r.startsWith(`pool ${name}:`))) this.schedule(`pool ${name} changed`);
      }
    }
  }

  /** Asks for an apply soon; changes during an apply are folded into the next one. */
  private schedule(reason: string): void {
    if (this.stopped || !this.started) return;
    if (!this.reasons.includes(reason)) this.reasons.push(reason);
    if (this.paused) return;
    if (this.running !== null) {
      this.dirty = true;
      return;
    }
    if (this.scheduled) return;
    this.scheduled = true;
    // After the pool has finished its own update (events are published before it recomputes).
    setImmediate(() => {
      this.scheduled = false;
      // Paused or stopped meanwhile: resume() schedules again; a stopped one applies nothing.
      if (this.paused || this.stopped) return;
      this.running = this.loop().finally(() => (this.running = null));
    });
  }

  private async loop(): Promise<void> {
    do {
      this.dirty = false;
      const reason = this.reasons.join(', ') || 'change';
      this.reasons = [];
      for (const name of this.poolNames) this.versions.set(name, this.pools.get(name)!.version);
      try {
        await this.applyNow(reason);
      } catch (err) {
        const msg = (err as Error).message;
        this.lastError = msg;
        this.log(`${msg}; retrying in ${this.retryMs} ms`);
        if (this.retryTimer === null && !this.stopped) {
          this.retryTimer = setTimeout(() => {
            this.retryTimer = null;
            this.schedule('retry');
          }, this.retryMs);
          this.retryTimer.unref();
        }
        return;
      }
    } while (this.dirty && !this.stopped && !this.paused);
  }

  /** Computes the desired state and applies it if it differs from what the kernel holds. */
  private async applyNow(reason: string): Promise<void> {
    const left: Left[] = [];
    const links = { interfaceMacs: this.interfaceMacs, neighbours: this.macs };
    const next = desiredState(this.services, (pool) => this.pools.get(pool)!.usable, links, left);
    const prev = this.applied;
    if (prev !== null && next.services.every((s, i) => sameService(s, prev.services[i]!))) return;
    for (const l of left) this.log(`service ${l.service}: server ${l.server} gets no flows: ${l.reason}`);
    const t0 = performance.now();
    await this.countersKept(() => this.driver.apply(renderTransaction(next)), next);
    const ms = Math.round(performance.now() - t0);
    this.applied = next;
    this.lastError = null;
    this.history.push({ at: Date.now(), reason, ms, state: next });
    if (this.history.length > 100) this.history.shift();
    this.log(`rules applied in ${ms} ms (${reason}): ${describeState(next)}`);
    if (prev !== null) this.followRemovals(prev, next);
  }

  /** Schedules conntrack removal for NAT servers that left because they failed, and cancels it for those back. */
  private followRemovals(prev: DesiredState, next: DesiredState): void {
    next.services.forEach((s, i) => {
      if (s.mode !== 'nat') return;
      const svc = this.services[i]!;
      const now = new Set(s.backends.map((b) => b.name));
      for (const name of now) {
        const t = this.drains.get(`${s.name}\0${name}`);
        if (t !== undefined) {
          clearTimeout(t);
          this.drains.delete(`${s.name}\0${name}`);
        }
      }
      for (const b of prev.services[i]!.backends) {
        if (now.has(b.name)) continue;
        const server = this.pools.get(svc.pool)!.servers.find((x) => x.name === b.name);
        if (server === undefined || !failed(server)) continue;
        const filter: FlowFilter = { protocol: s.protocol, vip: s.vip, ports: s.ports, server: b.host };
        if (s.protocol === 'udp') {
          void this.cut(s.name, b.name, filter, 'at once (udp)');
          continue;
        }
        const key = `${s.name}\0${b.name}`;
        if (this.drains.has(key)) continue;
        const t = setTimeout(() => {
          this.drains.delete(key);
          if (this.stopped || this.applied?.services[i]?.backends.some((x) => x.name === b.name)) return;
          void this.cut(s.name, b.name, filter, `after its drain time of ${svc.drainMs} ms`);
        }, svc.drainMs);
        t.unref();
        this.drains.set(key, t);
      }
    });
  }

  private async cut(service: string, server: string, f: FlowFilter, when: string): Promise<void> {
    const n = await this.flusher.flush(f);
    if (n !== null) this.log(`service ${service}: removed ${n} conntrack entr${n === 1 ? 'y' : 'ies'} of server ${server} ${when}, so its clients fail fast`);
  }

  /**
   * Reads the neighbour table of every DSR interface and learns the servers' MAC
   * addresses; asks the kernel to resolve missing ones. At start (`wait`), waits up to
   * 2 s for them. A changed address schedules an apply.
   */
  private async resolveNeighbours(wait: boolean): Promise<void> {
    const dsr = this.services.filter((s) => s.mode === 'dsr' && s.interface !== null);
    if (dsr.length === 0) return;
    const deadline = Date.now() + (wait ? 2000 : 0);
    for (let round = 0; ; round++) {
      const missing: Array<{ iface: string; host: string }> = [];
      let changed: string | null = null;
      for (const iface of new Set(dsr.map((s) => s.interface!))) {
        let table: Map<string, string>;
        try {
          table = await neighbours(this.host, iface);
        } catch (err) {
          this.log(`cannot read the neighbour table of ${iface}: ${(err as Error).message}`);
          return;
        }
        for (const s of dsr.filter((x) => x.interface === iface)) {
          for (const server of this.pools.get(s.pool)!.servers) {
            const key = neighbourKey(iface, server.host);
            const mac = table.get(server.host);
            if (mac === undefined) {
              missing.push({ iface, host: server.host });
            } else if (this.macs.get(key) !== mac) {
              if (this.macs.has(key)) changed = `MAC address of ${server.host} on ${iface} changed to ${mac}`;
              else if (!wait) changed = `MAC address of ${server.host} on ${iface} learnt`;
              this.macs.set(key, mac);
            }
          }
        }
      }
      if (changed !== null) this.schedule(changed);
      if (missing.length === 0 || this.stopped) return;
      if (round === 0 || !wait) for (const m of missing) await provokeNeighbour(this.host, m.host, this.host.local);
      if (!wait || Date.now() >= deadline) return;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** A server that is out because checks failed (not drained, not a backup standing by). */
function failed(server: Server): boolean {
  return server.weight > 0 && (!server.healthy || server.ejectedUntil > Date.now());
}
