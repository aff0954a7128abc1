/**
 * Passive health (outlier detection, after Envoy's consecutive-errors detector): the
 * proxies report how each request or connection to a server ended; a run of errors
 * ejects the server for a while, and a timer brings it back.
 */
import type { Server } from '../backend/server.js';
import type { OutlierConfig } from '../config/types.js';

/**
 * How one request or connection to a server ended, as the proxy saw it: 'ok', or an
 * error that counts towards ejection (failed connect, reset or close before a complete
 * response, 5xx answer).
 */
export type RequestOutcome = 'ok' | 'connect-error' | 'reset' | 'server-error';

/** What the detector tells its owner (the pool), and what it asks. */
export interface OutlierHooks {
  /** The server was just ejected (its `ejectedUntil` and `ejections` are already set). */
  eject(server: Server, reason: string): void;
  /** The ejection is over (its `ejectedUntil` is already 0). */
  restore(server: Server, reason: string): void;
  /**
   * Asked when an ejection's time is up; returning false holds the server ejected (the
   * pool answers "is it healthy by active checks"). Absent: always true.
   */
  canRestore?(server: Server): boolean;
}

/** Longest wait between two `canRestore` questions for a server held past its ejection time. */
export const RESTORE_RECHECK_MS = 1000;

interface Slot {
  readonly server: Server;
  /** Consecutive non-ok outcomes since the last ok (or restore). */
  errors: number;
  ejected: boolean;
  /** When the current ejection's time is up (clock ms); 0 when not ejected. */
  dueAt: number;
  /** Length of the current ejection, for the restore reason. */
  durationMs: number;
  /** When the server was last restored (clock ms); 0 if never ejected. */
  restoredAt: number;
  timer: NodeJS.Timeout | null;
}

/**
 * Consecutive-errors outlier detection for one pool.
 *
 * - `consecutiveErrors` non-ok outcomes in a row eject a server; an 'ok' resets the
 *   count. Outcomes reported while a server is ejected are ignored (they come from
 *   requests started before it), and its count starts from 0 when it returns.
 * - At most `max(1, floor(maxEjectionPercent% of the servers))` are ejected at once
 *   (none when the percentage is 0). Like Envoy, a pool can always eject one server:
 *   with two servers and 10% one may still go. A server whose ejection is refused keeps
 *   counting, and its next error tries again.
 * - The n-th ejection lasts n x `baseEjectionMs` (Envoy). As in Envoy, the multiplier
 *   decays while the server behaves: each full `baseEjectionMs` spent restored forgives
 *   one past ejection, applied at the next ejection (so `server.ejections` is the
 *   multiplier of the latest ejection, not a lifetime count).
 * - When the time is up, the server is restored unless `hooks.canRestore` says no; then
 *   it stays ejected, `canRestore` is asked again every `min(baseEjectionMs,
 *   RESTORE_RECHECK_MS)`, and `ejectedUntil` shows the next question's time. The owner
 *   may call `reconsider(server)` when the answer may have changed (active checks just
 *   brought it up) to restore it at once.
 *
 * Ownership: the detector is the only writer of `server.ejectedUntil` (0 when not
 * ejected, else the clock time at which it may return) and `server.ejections`. Timers
 * are unref'd. Exceptions thrown by the hooks do not disturb the detector or the
 * caller of `record`; they are re-thrown on the next tick as uncaught exceptions.
 */
export class OutlierDetector {
  private readonly slots = new Map<Server, Slot>();
  private readonly maxEjected: number;
  private readonly recheckMs: number;
  private ejectedNow = 0;
  private stopped = false;

  /**
   * `servers` is the whole pool (backups included): the ejection limit is a share of it.
   * `clock` gives ms since epoch (it stamps `ejectedUntil`); timers always run on real
   * time.
   */
  constructor(
    servers: readonly Server[],
    private readonly cfg: OutlierConfig,
    private readonly hooks: OutlierHooks,
    private readonly clock: () => number = Date.now,
  ) {
    for (const server of servers) {
      this.slots.set(server, { server, errors: 0, ejected: false, dueAt: 0, durationMs: 0, restoredAt: 0, timer: null });
    }
    const pct = cfg.maxEjectionPercent;
    this.maxEjected = pct > 0 ? Math.max(1, Math.floor((pct * this.slots.size) / 100 + 1e-9)) : 0;
    this.recheckMs = Math.max(1, Math.min(cfg.baseEjectionMs, RESTORE_RECHECK_MS));
  }

  /** Most servers of this pool that may be ejected at once. */
  get maxEjections(): number {
    return this.maxEjected;
  }

  /** Servers ejected right now. */
  get ejectedCount(): number {
    return this.ejectedNow;
  }

  /**
   * Reports how one request or connection to `server` ended. Hot path: O(1), allocates
   * nothing unless this outcome ejects the server. Unknown servers and calls after
   * `stop()` are ignored.
   */
  record(server: Server, outcome: RequestOutcome): void {
    const s = this.slots.get(server);
    if (s === undefined || s.ejected || this.stopped) return;
    if (outcome === 'ok') {
      s.errors = 0;
      return;
    }
    if (++s.errors < this.cfg.consecutiveErrors) return;
    if (this.ejectedNow >= this.maxEjected) return;
    this.eject(s, outcome);
  }

  /**
   * Restores `server` now if it is ejected, its time is up and `canRestore` allows it;
   * otherwise does nothing. For the owner to call when `canRestore`'s answer may have
   * changed.
   */
  reconsider(server: Server): void {
    const s = this.slots.get(server);
    if (s === undefined || !s.ejected || this.stopped || this.clock() < s.dueAt) return;
    this.due(s);
  }

  /**
   * An active health check of `server` passed: with `unejectOnActivePass`, an ejected
   * server returns now instead of at the end of its ejection (Envoy's default).
   */
  activeCheckPassed(server: Server): void {
    const s = this.slots.get(server);
    if (s === undefined || !s.ejected || this.stopped || !this.cfg.unejectOnActivePass) return;
    if (s.timer !== null) clearTimeout(s.timer);
    s.timer = null;
    this.restore(s, this.clock(), `an active health check passed during an ejection of ${s.durationMs} ms`);
  }

  /**
   * Clears every timer; `record` and `reconsider` do nothing afterwards. Servers keep
   * their `ejectedUntil` and `ejections` as they are: an owner discarding the pool's
   * detector while a server is ejected decides whether to clear them. Idempotent.
   */
  stop(): void {
    this.stopped = true;
    for (const s of this.slots.values()) {
      if (s.timer !== null) clearTimeout(s.timer);
      s.timer = null;
    }
  }

  private eject(s: Slot, last: RequestOutcome): void {
    const server = s.server;
    const now = this.clock();
    const base = this.cfg.baseEjectionMs;
    if (server.ejections > 0 && s.restoredAt > 0 && base > 0) {
      const forgiven = Math.floor((now - s.restoredAt) / base);
      if (forgiven > 0) server.ejections = Math.max(0, server.ejections - forgiven);
    }
    const errors = s.errors;
    server.ejections++;
    const duration = server.ejections * base;
    s.ejected = true;
    s.errors = 0;
    s.dueAt = now + duration;
    s.durationMs = duration;
    server.ejectedUntil = s.dueAt;
    this.ejectedNow++;
    this.arm(s, duration);
    this.call(() => this.hooks.eject(server, `${errors} consecutive errors (last: ${last}); ejected for ${duration} ms (ejection ${server.ejections})`));
  }

  /** The ejection's time is up (or the owner asked again): restore, or hold and ask later. */
  private due(s: Slot): void {
    if (s.timer !== null) clearTimeout(s.timer);
    s.timer = null;
    if (this.stopped || !s.ejected) return;
    const server = s.server;
    let allowed = true;
    if (this.hooks.canRestore !== undefined) {
      try {
        allowed = this.hooks.canRestore(server) !== false;
      } catch (err) {
        allowed = false;
        this.rethrow(err);
      }
    }
    const now = this.clock();
    if (!allowed) {
      server.ejectedUntil = now + this.recheckMs;
      this.arm(s, this.recheckMs);
      return;
    }
    const held = Math.max(0, now - s.dueAt);
    const reason = held >= this.recheckMs
      ? `ejection of ${s.durationMs} ms over (held ${held} ms more until it could be restored)`
      : `ejection of ${s.durationMs} ms over`;
    this.restore(s, now, reason);
  }

  private restore(s: Slot, now: number, reason: string): void {
    const server = s.server;
    s.ejected = false;
    s.errors = 0;
    s.dueAt = 0;
    s.restoredAt = now;
    server.ejectedUntil = 0;
    this.ejectedNow--;
    this.call(() => this.hooks.restore(server, reason));
  }

  private arm(s: Slot, ms: number): void {
    s.timer = setTimeout(() => this.due(s), Math.max(0, ms));
    s.timer.unref();
  }

  private call(hook: () => void): void {
    try {
      hook();
    } catch (err) {
      this.rethrow(err);
    }
  }

  private rethrow(err: unknown): void {
    process.nextTick(() => {
      throw err;
    });
  }
}
