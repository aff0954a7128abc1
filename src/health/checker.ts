/**
 * Active health checks: schedules a probe per server, feeds the results to the pure
 * tracker, and reports each up/down transition once. Owns timers and nothing else:
 * what a transition means (eligible set, balancer rebuild, events) is the caller's job.
 */
import type { Server } from '../backend/server.js';
import type { HealthConfig } from '../config/types.js';
import { healthCheckChannel, type HealthCheckEvent } from '../core/events.js';
import { createProbe, type Probe, type ProbeResult } from './probe.js';
import { changing, initialHealth, recordResult, type HealthState } from './tracker.js';

/** One server to check and how (its pool's `health` section). */
export interface HealthTarget {
  server: Server;
  config: HealthConfig;
}

/**
 * Called once per transition, never for the initial state. `reason` reads like
 * "2 checks passed (status 200)" or "3 checks failed: connect ECONNREFUSED".
 */
export type HealthChangeListener = (server: Server, up: boolean, reason: string) => void;

/** Seams for tests: the probe factory and the random source of the jitter and spread. */
export interface HealthCheckerOptions {
  /** Makes the probe for a health section; default `createProbe`. Called once per distinct config object. */
  probe?: (cfg: HealthConfig) => Probe;
  /** Uniform in [0, 1); default Math.random. */
  random?: () => number;
  /** Servers whose state is known already (carried over a reload), instead of their config's `initial`. */
  known?: ReadonlyMap<Server, boolean>;
  /** Checks already made of a server (by an earlier checker, before a reload), oldest first: its history goes on from them. */
  history?: (server: Server) => readonly CheckRecord[] | undefined;
  /** Called after every passing check (a transition or not), after onChange. */
  onPass?: (server: Server) => void;
}

/** A server's active health, for status output. A snapshot: later checks do not change it. */
export interface ServerHealth {
  /** Current verdict (config `initial` until the checks decide). */
  up: boolean;
  /** A result disagreeing with `up` has been seen: checks run at the fast interval. */
  changing: boolean;
  /** Consecutive results disagreeing with `up`. */
  streak: number;
  /** Checks completed since start. */
  checks: number;
  /** The latest result; null before the first check completes. */
  last: ProbeResult | null;
  /** When the latest check completed (ms since epoch); 0 before the first. */
  lastCheckAt: number;
  /** When `up` last changed, or when the checker was built (ms since epoch). */
  since: number;
  /** The latest checks, oldest first (at most HISTORY_SIZE). */
  history: CheckRecord[];
}

/** One completed check, for history displays. */
export interface CheckRecord {
  ok: boolean;
  detail: string;
  /** When it completed (ms since epoch). */
  at: number;
  /** How long the probe took (ms). */
  ms: number;
}

/** Checks kept per server for `state().history`. */
export const HISTORY_SIZE = 20;

interface Entry {
  readonly server: Server;
  readonly config: HealthConfig;
  readonly probe: Probe;
  state: HealthState;
  timer: NodeJS.Timeout | null;
  /** Settles when the probe in flight has been accounted for; never rejects. */
  inFlight: Promise<void> | null;
  checks: number;
  last: ProbeResult | null;
  lastCheckAt: number;
  since: number;
  /** When the probe in flight started (performance.now()). */
  startedAt: number;
  history: CheckRecord[];
}

/**
 * Runs active health checks for a set of servers, each on its own schedule:
 * the next check starts `interval * (1 + jitter * random())` after the previous one
 * ended (`fastIntervalMs` instead of `intervalMs` while the state is changing), so at
 * most one probe per server is ever in flight. The first checks are spread at random
 * over one interval after `start()`, so servers are not all probed at once. Timers are
 * unref'd: the checker alone does not keep the process alive.
 *
 * The checker never writes to `Server`: it reports transitions through `onChange` and
 * keeps its own state (see `state()`), starting from each config's `initial`, which is
 * not reported as a change. If `onChange` throws, the checks go on and the exception is
 * re-thrown on the next tick as an uncaught exception (a listener bug is not swallowed).
 */
export class HealthChecker {
  private readonly entries = new Map<Server, Entry>();
  private readonly random: () => number;
  private readonly onPass: ((server: Server) => void) | null;
  private running = false;
  private stopped = false;

  /**
   * Builds the per-server state (nothing is probed before `start()`). Throws when a
   * server is listed twice. One probe object is made per distinct config object.
   */
  constructor(
    targets: ReadonlyArray<HealthTarget>,
    private readonly onChange: HealthChangeListener,
    opts: HealthCheckerOptions = {},
  ) {
    const factory = opts.probe ?? createProbe;
    this.onPass = opts.onPass ?? null;
    this.random = opts.random ?? Math.random;
    const probes = new Map<HealthConfig, Probe>();
    const now = Date.now();
    for (const { server, config } of targets) {
      if (this.entries.has(server)) throw new Error(`health checker: server ${server.toString()} is listed twice`);
      let probe = probes.get(config);
      if (probe === undefined) {
        probe = factory(config);
        probes.set(config, probe);
      }
      const history = [...(opts.history?.(server) ?? [])].slice(-HISTORY_SIZE);
      const last = history.at(-1);
      this.entries.set(server, {
        server,
        config,
        probe,
        state: initialHealth(opts.known?.has(server) === true ? (opts.known.get(server) ? 'up' : 'down') : config.initial),
        timer: null,
        inFlight: null,
        checks: 0,
        last: last === undefined ? null : { ok: last.ok, detail: last.detail },
        lastCheckAt: last?.at ?? 0,
        since: now,
        startedAt: 0,
        history,
      });
    }
  }

  /**
   * Starts checking: each server's first check runs after a random share of one
   * interval. Idempotent while running. A stopped checker cannot be started again
   * (throws): build a new one.
   */
  start(): void {
    if (this.stopped) throw new Error('health checker: start() after stop(); create a new HealthChecker');
    if (this.running) return;
    this.running = true;
    for (const e of this.entries.values()) this.schedule(e, this.unit() * e.config.intervalMs);
  }

  /**
   * Stops checking: clears every timer at once, so no new probe starts, and resolves
   * when the probes in flight have ended (each within its timeout). Their results are
   * dropped, not reported. Idempotent.
   */
  async stop(): Promise<void> {
    this.running = false;
    this.stopped = true;
    const pending: Array<Promise<void>> = [];
    for (const e of this.entries.values()) {
      if (e.timer !== null) clearTimeout(e.timer);
      e.timer = null;
      if (e.inFlight !== null) pending.push(e.inFlight);
    }
    await Promise.all(pending);
  }

  /** The server's active health, or undefined for a server this checker does not check. O(1). */
  state(server: Server): ServerHealth | undefined {
    const e = this.entries.get(server);
    if (e === undefined) return undefined;
    return {
      up: e.state.up,
      changing: changing(e.state),
      streak: e.state.streak,
      checks: e.checks,
      last: e.last,
      lastCheckAt: e.lastCheckAt,
      since: e.since,
      history: [...e.history],
    };
  }

  /**
   * Checks the server now (the runtime API's "check now"), outside its schedule; the
   * result counts like any other. When a check is in flight, resolves with that one.
   * Undefined for a server this checker does not check, or once stopped.
   */
  async checkNow(server: Server): Promise<ProbeResult | undefined> {
    const e = this.entries.get(server);
    if (e === undefined || !this.running) return undefined;
    if (e.inFlight === null) {
      if (e.timer !== null) clearTimeout(e.timer);
      this.run(e);
    }
    await e.inFlight;
    return e.last ?? undefined;
  }

  private schedule(e: Entry, delayMs: number): void {
    e.timer = setTimeout(() => this.run(e), Math.max(0, Math.round(delayMs)));
    e.timer.unref();
  }

  private run(e: Entry): void {
    e.timer = null;
    if (!this.running || e.inFlight !== null) return;
    let result: Promise<ProbeResult>;
    e.startedAt = performance.now();
    try {
      result = e.probe.check({ host: e.server.checkHost, port: e.server.checkPort }, e.config.timeoutMs);
    } catch (err) {
      result = Promise.reject(err);
    }
    // a probe that breaks its contract (throws or rejects) counts as a failed check
    e.inFlight = result
      .then(undefined, (err: unknown): ProbeResult => ({ ok: false, detail: `probe error: ${err instanceof Error ? err.message : String(err)}` }))
      .then((r) => this.settle(e, r));
  }

  private settle(e: Entry, r: ProbeResult): void {
    e.inFlight = null;
    if (!this.running) return;
    e.checks++;
    e.last = r;
    if (healthCheckChannel.hasSubscribers) {
      const event: HealthCheckEvent = { pool: e.server.pool, server: e.server.name, ok: r.ok, seconds: (performance.now() - e.startedAt) / 1000 };
      healthCheckChannel.publish(event);
    }
    e.lastCheckAt = Date.now();
    e.history.push({ ok: r.ok, detail: r.detail, at: e.lastCheckAt, ms: Math.round((performance.now() - e.startedAt) * 10) / 10 });
    if (e.history.length > HISTORY_SIZE) e.history.shift();
    const { rise, fall } = e.config;
    const outcome = recordResult(e.state, r.ok, rise, fall);
    e.state = outcome.state;
    // schedule before reporting: a throwing listener must not stop this server's checks
    const base = changing(e.state) ? e.config.fastIntervalMs : e.config.intervalMs;
    this.schedule(e, base * (1 + Math.max(0, e.config.jitter) * this.unit()));
    if (outcome.changed) this.report(e, r);
    if (r.ok && this.onPass !== null) this.guarded(() => this.onPass!(e.server));
  }

  /** Reports a transition. */
  private report(e: Entry, r: ProbeResult): void {
    e.since = e.lastCheckAt;
    const up = e.state.up;
    const n = Math.max(1, up ? e.config.rise : e.config.fall);
    const reason = up ? `${n} ${n === 1 ? 'check' : 'checks'} passed (${r.detail})` : `${n} ${n === 1 ? 'check' : 'checks'} failed: ${r.detail}`;
    this.guarded(() => this.onChange(e.server, up, reason));
  }

  /** A listener that throws does not stop the checks: its exception surfaces on the next tick. */
  private guarded(call: () => void): void {
    try {
      call();
    } catch (err) {
      process.nextTick(() => {
        throw err;
      });
    }
  }

  /** random() clamped to [0, 1). */
  private unit(): number {
    const x = this.random();
    return x >= 0 && x < 1 ? x : x >= 1 ? 0.999999 : 0;
  }
}
