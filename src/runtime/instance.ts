import type net from 'node:net';
import { Pool } from '../backend/pool.js';
import type { Server } from '../backend/server.js';
import type { Config, HealthConfig, ListenerConfig } from '../config/types.js';
import type { DnsServer } from '../dns/server.js';
import { HealthChecker } from '../health/checker.js';
import { OutlierDetector } from '../health/outlier.js';
import { HttpFrontend } from '../proxy/http/frontend.js';
import { TcpFrontend } from '../proxy/tcp/frontend.js';
import { UdpFrontend } from '../proxy/udp/frontend.js';
import type { AdminUpdate, BoundListener, HealthState, InstanceCounters, LastCheck, ServerRef } from './messages.js';
import type { CheckRecord } from '../health/checker.js';

/** A started listener, whatever its mode. */
export interface Listener {
  readonly name: string;
  readonly accepted: number;
  readonly active: number;
  /** HTTP listeners: answers by status class, 1xx at index 0 to 5xx at index 4 (metrics). */
  readonly statusClasses?: Float64Array;
  /** What its limits refused: connections over max_connections_per_client, over new_connections_per_client, requests over a rate_limit (LIMIT_KINDS). */
  readonly limited?: readonly number[];
  address(): net.AddressInfo;
  stop(opts?: { graceMs?: number; closeIdle?: boolean }): Promise<void>;
  /**
   * A listener already stopping with `closeIdle: false` (a reload's drain) closes its idle
   * keep-alive connections now (the instance is stopping for good). Absent where there
   * are none (TCP, UDP).
   */
  closeIdle?(): void;
}

/** A running balancer: its listeners, pools and health checking, built from one configuration. */
export interface Instance {
  readonly config: Config;
  readonly pools: ReadonlyMap<string, Pool>;
  readonly listeners: ReadonlyArray<Listener>;
  /** The authoritative DNS server when the configuration has a `dns` section, else null. */
  readonly dns: DnsServer | null;
  /** Applies a server's health as decided elsewhere (the primary), with `health: 'external'`. */
  applyHealth(h: HealthState): void;
  /** Applies an operator's state and weight for a server (runtime API). */
  applyAdmin(u: AdminUpdate): void;
  /** Checks a server now (runtime API); null when no active check runs here for it. */
  checkNow(s: Server): Promise<LastCheck | null>;
  /** The latest active checks of a server checked here, oldest first. */
  checkHistory(s: Server): CheckRecord[];
  /** An active check decided elsewhere passed: a passive ejection of the server may end (outlier.uneject_on_active_pass). */
  activeCheckPassed(s: ServerRef): void;
  /** Every server's active-health state, to hand to processes that start later. */
  healthStates(): HealthState[];
  /** The latest active check of a server checked here, or null. */
  lastCheck(s: Server): LastCheck | null;
  /** Counters of listeners and servers, as a worker reports them to the primary. */
  counters(): InstanceCounters;
  /**
   * Stops accepting, lets in-flight work finish for up to `graceMs` (default 5 s), then
   * cuts the rest. `closeIdle: false` (a reload's drain) leaves idle keep-alive
   * connections to end after their next response or their timeout.
   */
  stop(opts?: { graceMs?: number; closeIdle?: boolean }): Promise<void>;
}

export interface InstanceOptions {
  /**
   * 'local' (default): this process runs the active health checks. 'external': another
   * process (the primary) decides health and pushes it with applyHealth(); servers
   * start in the states given by `initialHealth`.
   */
  health?: 'local' | 'external';
  /** Servers' states to start from (a reload carries them over; workers get the primary's). */
  initialHealth?: readonly HealthState[];
  /** Active checks of servers made before (by the instance a reload replaces), by server. */
  checkHistory?: (s: ServerRef) => readonly CheckRecord[] | undefined;
  /** Told of every passing active check decided here (the primary tells workers that ejected the server). */
  onPass?: (s: ServerRef) => void;
  /** Told of every passive ejection here (a worker tells the primary). */
  onEject?: (s: ServerRef) => void;
  /** Told of every active-health transition decided here (the primary pushes them to workers). */
  onHealth?: (h: HealthState) => void;
}

/**
 * Starts every listener of a validated configuration, and one health checker and one
 * outlier detector per pool that asks for them, shared by every listener using the
 * pool. If one listener cannot bind, the ones already started are stopped again and
 * the error (FULCRUM_ERR_LISTEN) is thrown. The primary process runs it with no
 * listeners (health and DNS only); workers run it with `health: 'external'` and no DNS.
 */
export async function startInstance(config: Config, opts: InstanceOptions = {}): Promise<Instance> {
  const local = (opts.health ?? 'local') === 'local';
  const pools = new Map<string, Pool>();
  const poolOf = new Map<Server, Pool>();
  const targets: Array<{ server: Server; config: HealthConfig }> = [];
  const detectors: OutlierDetector[] = [];
  const detectorOf = new Map<Pool, OutlierDetector>();
  const traffic = config.listeners.length > 0;
  for (const [name, pc] of config.pools) {
    const pool = new Pool(pc);
    pools.set(name, pool);
    for (const s of pool.servers) {
      poolOf.set(s, pool);
      if (pc.health !== null && local) targets.push({ server: s, config: pc.health });
    }
    // Passive health watches traffic: only where listeners are.
    if (pc.outlier !== null && traffic) {
      const detector = new OutlierDetector(pool.servers, pc.outlier, {
        eject: (s, reason) => {
          pool.setEjected(s, true, reason);
          opts.onEject?.({ pool: s.pool, server: s.name, address: addressOf(s) });
        },
        restore: (s, reason) => pool.setEjected(s, false, reason),
        canRestore: (s) => s.healthy,
      });
      pool.outlier = detector;
      detectors.push(detector);
      detectorOf.set(pool, detector);
    }
  }
  /** The server a state is about (same pool, name and address), or undefined. */
  const serverOf = (h: ServerRef) => pools.get(h.pool)?.servers.find((s) => s.name === h.server && addressOf(s) === h.address);
  const applyHealth = (h: HealthState) => {
    const server = serverOf(h);
    if (server !== undefined) poolOf.get(server)!.setHealthy(server, h.up, h.reason);
  };
  const applyAdmin = (u: AdminUpdate) => {
    const server = serverOf(u);
    if (server === undefined) return;
    const pool = poolOf.get(server)!;
    pool.setWeight(server, u.weight, `weight ${u.weight} (runtime API)`);
    pool.setAdminState(server, u.state, ADMIN_REASON[u.state]);
  };
  const activeCheckPassed = (ref: ServerRef) => {
    const server = serverOf(ref);
    if (server !== undefined) detectorOf.get(poolOf.get(server)!)?.activeCheckPassed(server);
  };
  const known = new Map<Server, boolean>();
  for (const h of opts.initialHealth ?? []) {
    const server = serverOf(h);
    if (server === undefined) continue;
    poolOf.get(server)!.setHealthy(server, h.up, h.reason);
    if (h.reason !== 'as the primary knows it') server.healthReason = h.reason;
    known.set(server, h.up);
  }
  const onHealth = opts.onHealth;
  const checker =
    targets.length === 0
      ? null
      : new HealthChecker(
          targets,
          (s, up, reason) => {
            poolOf.get(s)!.setHealthy(s, up, reason);
            onHealth?.({ pool: s.pool, server: s.name, address: addressOf(s), up, reason });
          },
          {
            known,
            history: opts.checkHistory === undefined ? undefined : (s) => opts.checkHistory!({ pool: s.pool, server: s.name, address: addressOf(s) }),
            onPass: (s) => {
              detectorOf.get(poolOf.get(s)!)?.activeCheckPassed(s);
              opts.onPass?.({ pool: s.pool, server: s.name, address: addressOf(s) });
            },
          },
        );
  const frontends: Listener[] = config.listeners.map((l) =>
    l.mode === 'udp' ? new UdpFrontend(l, pools) : l.mode === 'tcp' ? new TcpFrontend(l, pools) : new HttpFrontend(l, pools),
  );
  // loaded only where DNS runs (the primary): workers never pay for the DNS code
  const dns = config.dns === null ? null : new (await import('../dns/server.js')).DnsServer(config.dns, pools);
  const stopHealth = async () => {
    await checker?.stop();
    for (const d of detectors) d.stop();
    for (const p of pools.values()) p.stop();
  };
  const started: Listener[] = [];
  try {
    for (const fe of frontends) {
      await (fe as HttpFrontend | TcpFrontend | UdpFrontend).start();
      started.push(fe);
    }
    await dns?.start();
  } catch (err) {
    await dns?.stop();
    await Promise.all(started.map((fe) => fe.stop({ graceMs: 0 })));
    await stopHealth();
    throw err;
  }
  checker?.start();
  return {
    config,
    pools,
    listeners: frontends,
    dns,
    applyHealth,
    applyAdmin,
    activeCheckPassed,
    checkNow: async (s) => {
      const r = await checker?.checkNow(s);
      const last = checker?.state(s);
      return r === undefined || last === undefined ? null : { ok: r.ok, detail: r.detail, at: last.lastCheckAt };
    },
    checkHistory: (s) => checker?.state(s)?.history ?? [],
    healthStates: () =>
      [...pools.values()].flatMap((p) => p.servers.map((s) => ({ pool: p.name, server: s.name, address: addressOf(s), up: s.healthy, reason: s.healthReason || 'as the primary knows it' }))),
    lastCheck: (s) => {
      const last = checker?.state(s);
      return last === undefined || last.last === null ? null : { ok: last.last.ok, detail: last.last.detail, at: last.lastCheckAt };
    },
    counters: () => ({
      listeners: frontends.map((fe) => ({ name: fe.name, accepted: fe.accepted, active: fe.active })),
      servers: [...pools.values()].flatMap((p) => p.servers.map((s) => ({ pool: p.name, server: s.name, active: s.active, total: s.total, ejected: s.ejectedUntil > Date.now() }))),
    }),
    async stop(o = {}) {
      await Promise.all([...frontends.map((fe) => fe.stop(o)), dns?.stop()]);
      await stopHealth();
    },
  };
}

/** Why a server is in the operator's state, for logs and `fulcrum status`. */
const ADMIN_REASON = {
  ready: 'runtime API: takes new work',
  drain: 'runtime API: no new work, in-flight work finishes',
  maint: 'runtime API: out of service, checks go on',
} as const;

/** A server's identity across processes and reloads: its address (a renamed or moved server is a new one). */
function addressOf(s: Server): string {
  return `${s.host}:${s.port}`;
}

/** The URL scheme a listener is announced with in `listening on` lines. */
export function schemeOf(l: ListenerConfig): BoundListener['scheme'] {
  return l.mode === 'udp' || l.mode === 'tcp' ? l.mode : l.tls ? 'https' : 'http';
}
