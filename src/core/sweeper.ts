import { SlotList } from './slot-list.js';

/** Something with a deadline (ms since epoch, 0 = none) that the sweeper checks. */
export interface Expirable {
  deadline: number;
  /** The sweeper's own bookkeeping (its slot for this item, -1 when none): start it at -1 and leave it alone. */
  sweepSlot: number;
  /** Called once when `deadline` has passed; the item should set a new deadline or leave. */
  expire(now: number): void;
}

/**
 * One coarse timer for many deadlines. Arming a timeout on the hot path is a field
 * store (`item.deadline = Date.now() + ms`) instead of a timer allocation; a periodic
 * tick walks the registered items. Precision is one tick, so the tick is chosen from
 * the shortest timeout in use.
 *
 * The items are a SlotList, not a Set: a Set that gains and loses an item per request
 * keeps a chain of its replaced tables, and all they list, alive through young-generation
 * collections (see core/slot-list.ts).
 */
export class Sweeper {
  private readonly items = new SlotList<'sweepSlot', Expirable>('sweepSlot');
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly tickMs: number) {}

  /** Starts watching `item` (idempotent). An item is watched by one sweeper at a time. */
  add(item: Expirable): void {
    this.items.add(item);
    if (this.timer === null) {
      this.timer = setInterval(() => this.tick(), this.tickMs);
      this.timer.unref();
    }
  }

  /** Stops watching `item` (nothing when it is not watched here). */
  delete(item: Expirable): void {
    this.items.delete(item);
  }

  /** Items watched now. */
  get size(): number {
    return this.items.size;
  }

  /** Stops the periodic tick; items are forgotten. */
  close(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.items.clear();
  }

  private tick(): void {
    const now = Date.now();
    // from the end: an expire() that deletes an item moves the last one, seen already,
    // into its slot; items added meanwhile go to the end and wait for the next tick
    const items = this.items;
    for (let i = items.size - 1; i >= 0; i--) {
      const item = items.at(i);
      if (item === undefined || item.deadline === 0 || item.deadline > now) continue;
      item.deadline = 0;
      item.expire(now);
    }
  }
}

/** A tick fine enough for the shortest timeout: a quarter of it, within 10 ms..500 ms. */
export function tickFor(shortestTimeoutMs: number): number {
  return Math.max(10, Math.min(500, Math.floor(shortestTimeoutMs / 4)));
}
