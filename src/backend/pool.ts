import type { PoolConfig } from '../config/types.js';
import { createBalancer } from '../balance/index.js';
import type { Balancer, PickContext } from '../balance/balancer.js';
import { publishPoolEvent, publishServerState } from '../core/events.js';
import { Server } from './server.js';
import type { AdminState } from '../runtime/api.js';

/** Slow start recomputes effective weights this many times over its duration. */
const SLOW_START_STEPS = 20;
/** A recovering server starts at this share of its weight. */
const SLOW_START_FLOOR = 0.05;

/** How a request or connection went, for passive health (outlier detection). */
export type Outcome = 'ok' | 'connect-error' | 'reset' | 'server-error';

/** Receives outcomes: the pool's outlier detector, when it has one. */
export interface OutcomeSink {
  /** Called on the hot path: O(1), no allocation. */
  record(server: Server, outcome: Outcome): void;
  /** Active checks brought the server up: an ejection whose time is over may end now. */
  reconsider(server: Server): void;
}

/** Someone waiting in the pool's queue for a server below its max_conn. */
export interface QueueWaiter {
  /** A server has room again: try to pick now. */
  wake(): void;
  /** The queue timeout passed (the waiter has been removed). */
  queueTimeout(): void;
}

interface Queued {
  waiter: QueueWaiter;
  deadline: number;
}

/**
 * A named set of servers, their state, and the balancer over the usable ones.
 *
 * A server is usable when its weight is above 0, the operator has it `ready`, active
 * checks say it is up and passive checks have not ejected it. The balancer sees the usable primaries, or, while there is
 * none, the usable backups. Health pushes changes in (setHealthy, setEjected); the pool
 * recomputes the set and calls `balancer.update()` only when something changed, so
 * `pick()` never filters. Every change is published once with its reason.
 */
export class Pool {
  readonly name: string;
  readonly servers: Server[];
  private readonly balancer: Balancer;
  private eligible: Server[] = [];
  private usingBackups = false;
  private readonly slowStarts = new Map<Server, number>();
  private slowStartTimer: NodeJS.Timeout | null = null;
  private readonly queue: Queued[] = [];
  private queueTimer: NodeJS.Timeout | null = null;
  private stopped = false;
  /**
   * Bumped whenever the usable set or an effective weight changes: consumers that cache
   * per pool state (the DNS responder's encoded answers) compare it.
   */
  version = 0;
  /** Passive health, set by the runtime when the pool has `outlier` configured. */
  outlier: OutcomeSink | null = null;

  constructor(readonly config: PoolConfig) {
    this.name = config.name;
    this.servers = config.servers.map((s) => new Server(config.name, s));
    this.balancer = createBalancer(config.balance, config.sticky.fallback);
    for (const s of this.servers) {
      if (config.health !== null) s.healthy = config.health.initial === 'up';
      if (s.weight === 0) publishServerState({ pool: this.name, server: s.name, state: 'drained', reason: 'weight 0: no new requests' });
    }
    this.recompute();
  }

  /** Chooses a server for new work; undefined when none is usable or all usable ones are full. Synchronous. */
  pick(ctx: PickContext): Server | undefined {
    return this.balancer.pick(ctx);
  }

  /** Requests or connections waiting in the queue now. */
  get queued(): number {
    return this.queue.length;
  }

  /** Usable servers the balancer chooses from now (primaries, or backups while no primary is usable). */
  get usable(): readonly Server[] {
    return this.eligible;
  }

  /** Active health checks changed a server's state. */
  setHealthy(server: Server, up: boolean, reason: string): void {
    if (server.healthy === up) return;
    server.healthy = up;
    server.healthReason = reason;
    publishServerState({ pool: this.name, server: server.name, state: up ? 'up' : 'down', reason });
    if (up) this.beginSlowStart(server);
    this.recompute();
    if (up && server.ejectedUntil > 0) this.outlier?.reconsider(server);
  }

  /**
   * The operator set a server's state: `drain` and `maint` take it out of the usable set
   * (in-flight work finishes; active checks go on), `ready` brings it back through slow start.
   */
  setAdminState(server: Server, state: AdminState, reason: string): void {
    if (server.adminState === state) return;
    server.adminState = state;
    publishServerState({ pool: this.name, server: server.name, state, reason });
    if (state === 'ready') this.beginSlowStart(server);
    this.recompute();
  }

  /** The operator set a server's weight (0..256; 0 drains it). */
  setWeight(server: Server, weight: number, reason: string): void {
    if (server.weight === weight) return;
    server.weight = weight;
    if (this.slowStarts.has(server)) this.stepSlowStart();
    else server.effectiveWeight = weight;
    publishServerState({ pool: this.name, server: server.name, state: 'weight', reason });
    this.recompute();
  }

  /** Whether slow start is ramping the server's weight up now. */
  inSlowStart(server: Server): boolean {
    return this.slowStarts.has(server);
  }

  /** Passive health ejected a server, or let it return. */
  setEjected(server: Server, ejected: boolean, reason: string): void {
    publishServerState({ pool: this.name, server: server.name, state: ejected ? 'ejected' : 'returned', reason });
    if (!ejected) this.beginSlowStart(server);
    this.recompute();
  }

  /**
   * Waits for a server below its max_conn. Returns false (and queues nothing) when the
   * queue is full or disabled; the caller then answers 503.
   */
  enqueue(waiter: QueueWaiter): boolean {
    if (this.queue.length >= this.config.queue.size) return false;
    this.queue.push({ waiter, deadline: Date.now() + this.config.queue.timeoutMs });
    if (this.queueTimer === null) {
      this.queueTimer = setInterval(() => this.expireQueue(), Math.max(10, Math.min(250, this.config.queue.timeoutMs / 4)));
      this.queueTimer.unref();
    }
    return true;
  }

  /** Removes a waiter that no longer waits (its client left). */
  dequeue(waiter: QueueWaiter): void {
    const i = this.queue.findIndex((q) => q.waiter === waiter);
    if (i >= 0) this.queue.splice(i, 1);
  }

  /** A server finished a request or connection: its room may go to the oldest waiter. */
  released(_server: Server): void {
    if (this.queue.length > 0) this.drainQueue();
  }

  /**
   * Wakes waiters, oldest first, while a usable server has room. Only then: a waiter
   * woken without room would lose its place and its deadline.
   */
  private drainQueue(): void {
    let budget = this.queue.length;
    while (budget-- > 0 && this.queue.length > 0 && this.hasRoom()) this.queue.shift()!.waiter.wake();
  }

  private hasRoom(): boolean {
    for (const s of this.eligible) if (!s.full) return true;
    return false;
  }

  /** Stops timers (slow start, queue); waiters are expired. */
  stop(): void {
    this.stopped = true;
    if (this.slowStartTimer !== null) clearInterval(this.slowStartTimer);
    if (this.queueTimer !== null) clearInterval(this.queueTimer);
    this.slowStartTimer = this.queueTimer = null;
    for (const q of this.queue.splice(0)) q.waiter.queueTimeout();
  }

  private expireQueue(): void {
    const now = Date.now();
    while (this.queue.length > 0 && this.queue[0]!.deadline <= now) this.queue.shift()!.waiter.queueTimeout();
    if (this.queue.length === 0 && this.queueTimer !== null) {
      clearInterval(this.queueTimer);
      this.queueTimer = null;
    }
  }

  private beginSlowStart(server: Server): void {
    if (this.config.slowStartMs <= 0 || this.stopped) return;
    this.slowStarts.set(server, Date.now());
    server.effectiveWeight = server.weight * SLOW_START_FLOOR;
    if (this.slowStartTimer === null) {
      this.slowStartTimer = setInterval(() => this.stepSlowStart(), Math.max(50, this.config.slowStartMs / SLOW_START_STEPS));
      this.slowStartTimer.unref();
    }
  }

  private stepSlowStart(): void {
    const now = Date.now();
    for (const [s, since] of this.slowStarts) {
      const share = (now - since) / this.config.slowStartMs;
      if (share >= 1) {
        s.effectiveWeight = s.weight;
        this.slowStarts.delete(s);
        publishServerState({ pool: this.name, server: s.name, state: 'slow-start-done', reason: `full weight ${s.weight} after ${this.config.slowStartMs} ms` });
      } else {
        s.effectiveWeight = s.weight * Math.max(SLOW_START_FLOOR, share);
      }
    }
    if (this.slowStarts.size === 0 && this.slowStartTimer !== null) {
      clearInterval(this.slowStartTimer);
      this.slowStartTimer = null;
    }
    this.version++;
    this.balancer.update(this.eligible);
  }

  /** Recomputes the usable set and tells the balancer when it changed. */
  private recompute(): void {
    const now = Date.now();
    const ok = (s: Server) => s.weight > 0 && s.adminState === 'ready' && s.healthy && s.ejectedUntil <= now;
    let next = this.servers.filter((s) => !s.backup && ok(s));
    const backups = next.length === 0;
    if (backups) next = this.servers.filter((s) => s.backup && ok(s));
    if (backups !== this.usingBackups) {
      this.usingBackups = backups;
      const anyBackup = this.servers.some((s) => s.backup);
      if (anyBackup) {
        publishPoolEvent(
          backups
            ? { pool: this.name, event: 'backup-active', reason: `no primary server is usable: ${next.length} backup server(s) take the traffic` }
            : { pool: this.name, event: 'primary-back', reason: 'a primary server is usable again: backups stand by' },
        );
      }
    }
    if (next.length === 0) {
      publishPoolEvent({ pool: this.name, event: 'no-server', reason: this.whyNone() });
    }
    this.eligible = next;
    this.version++;
    this.balancer.update(next);
    if (this.queue.length > 0) this.drainQueue();
  }

  /** Words for "why is nothing usable" ("s1 down, s2 ejected"), for 503 answers and logs. */
  whyNone(): string {
    const now = Date.now();
    const parts = this.servers.map((s) => {
      if (s.adminState !== 'ready') return `${s.name} ${s.adminState === 'drain' ? 'draining' : 'in maintenance'}`;
      if (s.weight === 0) return `${s.name} drained`;
      if (!s.healthy) return `${s.name} down`;
      if (s.ejectedUntil > now) return `${s.name} ejected`;
      if (s.full) return `${s.name} at max_conn ${s.maxConn}`;
      return `${s.name} usable`;
    });
    return parts.join(', ');
  }
}
