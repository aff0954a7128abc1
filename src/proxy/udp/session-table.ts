import type { Expirable } from '../../core/sweeper.js';

/** An entry of a {@link SessionTable}: a key and a deadline the table's sweeper watches. */
export interface TableEntry extends Expirable {
  readonly key: string;
}

/** Where a table registers its entries for expiry: a {@link Sweeper}, or a fake in tests. */
export interface ExpiryRegistry {
  add(item: Expirable): void;
  delete(item: Expirable): void;
}

/**
 * The bounded set of live UDP flows of one listener, by key, with idle expiry.
 *
 * Expiry is a field store: `touch()` moves an entry's deadline to `now + idleMs` and the
 * sweeper (one coarse timer for the whole listener) calls the entry's `expire()` once it
 * has passed; the entry then asks its owner to `remove()` it. Precision is the sweeper's
 * tick.
 *
 * At `maxSessions` entries the table is `full`: a new flow is refused (the caller drops
 * its datagram and the refusal is counted in `refused`) rather than evicting the oldest
 * one. Eviction would let any burst of new source addresses (spoofing one costs nothing
 * in UDP) end every established session; refusing keeps the sessions that exist working,
 * and room comes back as idle sessions expire. Like Linux conntrack with a full table.
 * `maxSessions <= 0` means no limit.
 *
 * Every operation is O(1). Not thread-safe (one per listener, on the event loop).
 */
export class SessionTable<E extends TableEntry> {
  private readonly map = new Map<string, E>();
  /** New flows refused because the table was full. */
  refused = 0;

  constructor(
    readonly maxSessions: number,
    readonly idleMs: number,
    private readonly registry: ExpiryRegistry,
  ) {}

  /** Live entries. */
  get size(): number {
    return this.map.size;
  }

  /** True when a new entry would be refused. */
  get full(): boolean {
    return this.maxSessions > 0 && this.map.size >= this.maxSessions;
  }

  /** The live entry under `key`, or undefined. */
  get(key: string): E | undefined {
    return this.map.get(key);
  }

  /**
   * Adds `entry` (its key must be free) with a fresh deadline and registers it for
   * expiry. Returns false, counting the refusal and registering nothing, when full.
   */
  add(entry: E, now = Date.now()): boolean {
    if (this.full) {
      this.refused++;
      return false;
    }
    this.map.set(entry.key, entry);
    entry.deadline = now + this.idleMs;
    this.registry.add(entry);
    return true;
  }

  /** The entry saw a datagram: its idle time starts again. A field store. */
  touch(entry: E, now = Date.now()): void {
    entry.deadline = now + this.idleMs;
  }

  /** When the entry last saw a datagram (ms), derived from its deadline; 0 once it has expired. */
  lastActive(entry: E): number {
    return entry.deadline === 0 ? 0 : entry.deadline - this.idleMs;
  }

  /**
   * Forgets `entry` if it is still the one under its key. Returns whether it was. The
   * caller closes whatever the entry holds.
   */
  remove(entry: E): boolean {
    if (this.map.get(entry.key) !== entry) return false;
    this.map.delete(entry.key);
    this.registry.delete(entry);
    return true;
  }

  /** Live entries, oldest first (insertion order). */
  values(): IterableIterator<E> {
    return this.map.values();
  }

  /** Forgets every entry and returns them, for the caller to close. */
  clear(): E[] {
    const all = [...this.map.values()];
    for (const e of all) this.registry.delete(e);
    this.map.clear();
    return all;
  }
}
