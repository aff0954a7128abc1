/**
 * Where the balancer's rate and connection counts live. With the native addon, one table
 * in shared memory (native/limits.c): the primary creates it, every worker maps it, so a
 * limit is a limit for the balancer whatever worker a client lands on, and counts outlive
 * workers and reloads. Without the addon, each process keeps its own (and says so once):
 * with N workers a client then gets up to N times a rate.
 */
import { nativeAddon, nativeAddonMissing, type Addon } from '../io/addon.js';
import { log } from '../core/log.js';

/** The counts, whichever kind. Ids name a limit (limitId), keys a client, a header value or ''. */
export interface LimitTable {
  /** One event against a GCRA rate (one per intervalNs, toleranceNs of burst): 0, or the ms until one would pass (not counted). */
  take(id: number, key: string, intervalNs: number, toleranceNs: number): number;
  /** One more connection for `key` if it holds fewer than `max`. */
  acquire(id: number, key: string, max: number): boolean;
  /** One of `key`'s connections has closed. */
  release(id: number, key: string): void;
  /** `key`'s connections now. */
  count(id: number, key: string): number;
  /** Counted across every worker of the balancer (false: this process only). */
  readonly shared: boolean;
}

/** The environment variables a worker finds the primary's table by. */
export const TABLE_FD_ENV = 'FULCRUM_LIMITS_FD';
export const COLUMN_ENV = 'FULCRUM_LIMITS_COLUMN';
/** The descriptor the table has in a worker (after stdin, stdout, stderr and the IPC channel). */
export const WORKER_TABLE_FD = 4;

class SharedTable implements LimitTable {
  readonly shared = true;
  constructor(
    private readonly addon: Addon,
    private readonly column: number,
  ) {}
  take(id: number, key: string, intervalNs: number, toleranceNs: number): number {
    return this.addon.limitsTake(id, key, intervalNs, toleranceNs);
  }
  acquire(id: number, key: string, max: number): boolean {
    return this.addon.limitsAcquire(id, key, max, this.column) === 1;
  }
  release(id: number, key: string): void {
    this.addon.limitsRelease(id, key, this.column);
  }
  count(id: number, key: string): number {
    return this.addon.limitsCount(id, key);
  }
}

/** The same arithmetic in a Map, for one process. */
export class LocalTable implements LimitTable {
  readonly shared = false;
  private readonly tats = new Map<string, number>();
  private readonly conns = new Map<string, number>();
  private sweptAt = 0;

  take(id: number, key: string, intervalNs: number, toleranceNs: number): number {
    const now = Number(process.hrtime.bigint());
    this.sweep(now);
    const k = `${id}\0${key}`;
    const base = Math.max(this.tats.get(k) ?? 0, now);
    if (base - now > toleranceNs) return (base - now - toleranceNs) / 1e6;
    this.tats.set(k, base + intervalNs);
    return 0;
  }
  acquire(id: number, key: string, max: number): boolean {
    const k = `${id}\0${key}`;
    const n = this.conns.get(k) ?? 0;
    if (n >= max) return false;
    this.conns.set(k, n + 1);
    return true;
  }
  release(id: number, key: string): void {
    const k = `${id}\0${key}`;
    const n = this.conns.get(k) ?? 0;
    if (n <= 1) this.conns.delete(k);
    else this.conns.set(k, n - 1);
  }
  count(id: number, key: string): number {
    return this.conns.get(`${id}\0${key}`) ?? 0;
  }
  /** Keys whose bucket is full again are forgotten (at most once a second). */
  private sweep(now: number): void {
    if (now - this.sweptAt < 1e9) return;
    this.sweptAt = now;
    for (const [k, tat] of this.tats) if (tat <= now) this.tats.delete(k);
  }
}

let table: LimitTable | undefined;
let owner: TableOwner | null | undefined;

/** The primary's table for its workers (made at the first call), or null without the addon. */
export function tableOwner(): TableOwner | null {
  if (owner === undefined) owner = TableOwner.create();
  return owner;
}

/**
 * This process's table: the primary's (a worker started with its descriptor), one of its
 * own in shared memory (a balancer in one process), or a LocalTable without the addon.
 * A worker that maps the primary's table also joins the accept balance: each worker
 * publishes how many connections it holds there, and one holding more than another
 * (by more than one) leaves new connections on the shared listening sockets to it
 * (native/relay.c, yield_listener). Workers call this as they start.
 */
export function limitTable(): LimitTable {
  if (table !== undefined) return table;
  const addon = nativeAddon();
  const fd = process.env[TABLE_FD_ENV];
  if (addon !== null && fd !== undefined && fd !== '' && addon.limitsAttach(Number(fd)) === 0) {
    const column = Number(process.env[COLUMN_ENV] ?? 0);
    table = new SharedTable(addon, column);
    addon.limitsJoin(column);
  } else if (addon !== null && fd === undefined && addon.limitsCreate() >= 0) {
    table = new SharedTable(addon, 0);
  } else {
    log().warn(`rate and connection limits count per worker process: ${addon === null ? nativeAddonMissing() : 'the shared table could not be mapped'}`);
    table = new LocalTable();
  }
  return table;
}

/**
 * The primary: creates the table its workers share and leases each worker a column for
 * its connection counts (cleared when the worker exits). Null without the addon.
 */
export class TableOwner {
  private readonly free: number[];

  private constructor(
    private readonly addon: Addon,
    readonly fd: number,
  ) {
    this.free = [...Array(addon.LIMIT_COLUMNS).keys()];
  }

  static create(): TableOwner | null {
    const addon = nativeAddon();
    if (addon === null) return null;
    const fd = addon.limitsCreate();
    if (fd < 0) {
      log().warn(`rate and connection limits count per worker process: no shared table (error ${fd})`);
      return null;
    }
    return new TableOwner(addon, fd);
  }

  /** A column for a new worker (the last one is shared when more workers than columns live at once). */
  lease(): number {
    return this.free.shift() ?? this.addon.LIMIT_COLUMNS - 1;
  }

  /** The environment a worker with `column` finds the table by. */
  static env(owner: TableOwner | null, column: number): Record<string, string> {
    return owner === null ? { [TABLE_FD_ENV]: '' } : { [TABLE_FD_ENV]: String(WORKER_TABLE_FD), [COLUMN_ENV]: String(column) };
  }

  /** A worker has exited: the connections it counted are gone. */
  giveBack(column: number): void {
    this.addon.limitsClearColumn(column);
    if (!this.free.includes(column)) this.free.push(column);
    this.free.sort((a, b) => a - b);
  }
}

/** A limit's id: a 32-bit hash of what names it (listener, route, kind), stable across reloads. */
export function limitId(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
