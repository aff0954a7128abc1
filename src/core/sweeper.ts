/** Something with a deadline (ms since epoch, 0 = none) that the sweeper checks. */
export interface Expirable {
  deadline: number;
  /** Called once when `deadline` has passed; the item should set a new deadline or leave. */
  expire(now: number): void;
}

/**
 * One coarse timer for many deadlines. Arming a timeout on the hot path is a field
 * store (`item.deadline = Date.now() + ms`) instead of a timer allocation; a periodic
 * tick walks the registered items. Precision is one tick, so the tick is chosen from
 * the shortest timeout in use.
 */
export class Sweeper {
  private readonly items = new Set<Expirable>();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly tickMs: number) {}

  /** Starts watching `item` (idempotent). */
  add(item: Expirable): void {
    this.items.add(item);
    if (this.timer === null) {
      this.timer = setInterval(() => this.tick(), this.tickMs);
      this.timer.unref();
    }
  }

  /** Stops watching `item`. */
  delete(item: Expirable): void {
    this.items.delete(item);
  }

  /** Stops the periodic tick; items are forgotten. */
  close(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.items.clear();
  }

  private tick(): void {
    const now = Date.now();
    for (const item of this.items) {
      if (item.deadline !== 0 && item.deadline <= now) {
        item.deadline = 0;
        item.expire(now);
      }
    }
  }
}

/** A tick fine enough for the shortest timeout: a quarter of it, within 10 ms..500 ms. */
export function tickFor(shortestTimeoutMs: number): number {
  return Math.max(10, Math.min(500, Math.floor(shortestTimeoutMs / 4)));
}
