/**
 * Tracking for one instance: checks of Fulcrum's own listeners and pools, each failing
 * check either subtracting its weight from the priority or (without a weight) putting
 * the instance in fault. Pool checks are synchronous (does the pool have a usable
 * server?); listener checks probe the listener as a client would (see probes in
 * service.ts). `onChange` is called only when the outcome changes.
 */

/** One tracked thing. */
export interface TrackedCheck {
  /** "listener www", "pool web": for logs and events. */
  readonly label: string;
  /** Subtracted from the priority while failing; null: fault while failing. */
  readonly weight: number | null;
  /** true when healthy. Never throws (a rejection counts as failing). */
  check(): boolean | Promise<boolean>;
}

/** What the checks add up to. */
export interface TrackOutcome {
  penalty: number;
  faulty: boolean;
  /** Labels of the failing checks, in configuration order. */
  failing: string[];
}

/** The effective priority: the owner keeps 255; anyone else loses the penalty but stays within 1..254. */
export function effectivePriority(base: number, penalty: number): number {
  if (base === 255) return 255;
  return Math.max(1, Math.min(254, base - penalty));
}

export class Tracker {
  private readonly up: boolean[];
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private stopped = false;
  private last: TrackOutcome = { penalty: 0, faulty: false, failing: [] };

  constructor(
    private readonly checks: readonly TrackedCheck[],
    private readonly intervalMs: number,
    private readonly onChange: (o: TrackOutcome) => void,
  ) {
    // Assumed healthy until a check says otherwise: listeners are bound before VRRP starts.
    this.up = checks.map(() => true);
  }

  /** The current outcome. */
  get outcome(): TrackOutcome {
    return this.last;
  }

  /** Runs every check now, then every interval. */
  start(): void {
    if (this.checks.length === 0) return;
    this.evaluate();
    this.timer = setInterval(() => this.evaluate(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** Runs every check once (pool health changed, or the interval passed); overlapping runs are skipped. */
  evaluate(): void {
    if (this.running || this.stopped) return;
    this.running = true;
    const results = this.checks.map((c) => {
      try {
        return c.check();
      } catch {
        return false;
      }
    });
    if (results.every((r) => typeof r === 'boolean')) {
      this.running = false;
      this.apply(results as boolean[]);
      return;
    }
    void Promise.all(results.map((r) => Promise.resolve(r).catch(() => false))).then((all) => {
      this.running = false;
      if (!this.stopped) this.apply(all);
    });
  }

  private apply(results: boolean[]): void {
    results.forEach((r, i) => (this.up[i] = r));
    let penalty = 0;
    let faulty = false;
    const failing: string[] = [];
    this.checks.forEach((c, i) => {
      if (this.up[i]) return;
      failing.push(c.label);
      if (c.weight === null) faulty = true;
      else penalty += c.weight;
    });
    const next = { penalty, faulty, failing };
    if (next.penalty === this.last.penalty && next.faulty === this.last.faulty && next.failing.join() === this.last.failing.join()) return;
    this.last = next;
    this.onChange(next);
  }
}
