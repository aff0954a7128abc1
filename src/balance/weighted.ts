/**
 * Weight helpers shared by the algorithms: which servers a balancer may use at all, the
 * smooth weighted round-robin schedule (round-robin, least-conn's tie-break) and Vose's
 * alias table for O(1) weighted sampling (p2c, least-conn's tie-break).
 */
import type { Server } from '../backend/server.js';

/**
 * Whether `s` may take new work now: not in `avoid` and below its max_conn. Called on
 * every candidate in every pick, so it reads `active` live and costs one Set lookup at
 * most (none when `avoid` is null, the common case).
 */
export function acceptable(s: Server, avoid: ReadonlySet<Server> | null): boolean {
  return (s.maxConn <= 0 || s.active < s.maxConn) && (avoid === null || !avoid.has(s));
}

/**
 * The servers of `eligible` with a positive, finite effective weight, in order. The pool
 * never passes weight-0 servers; this is the balancers' defence if it ever does. O(n),
 * called from update() only.
 */
export function positive(eligible: readonly Server[]): Server[] {
  return eligible.filter((s) => s.effectiveWeight > 0 && Number.isFinite(s.effectiveWeight));
}

/** Longest schedule smoothSchedule() builds (entries). */
export const SCHEDULE_MAX_LENGTH = 1 << 17;
/** Most work (schedule length x servers) smoothSchedule() spends, about 20 ms. */
export const SCHEDULE_MAX_WORK = 1 << 24;

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/**
 * One full period of nginx's smooth weighted round robin over `weights`, as indexes into
 * `weights`: every step adds each weight to its server's running score, takes the highest
 * (the first on ties) and subtracts the total from it. After sum(weights)/gcd steps every
 * score is back to 0, so the period repeats exactly; weights 3:1 give 0 0 1 0.
 *
 * Called from update(); costs O(period x servers). Returns null when a weight is not an
 * integer (slow start ramps weights through fractions) or the period or the work would
 * exceed SCHEDULE_MAX_LENGTH or SCHEDULE_MAX_WORK; callers then run the same algorithm
 * live, per pick. Weights <= 0 never appear in the schedule.
 */
export function smoothSchedule(weights: ArrayLike<number>): Int32Array | null {
  const n = weights.length;
  let g = 0;
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const w = weights[i]!;
    if (!(w > 0)) continue;
    if (!Number.isInteger(w)) return null;
    g = gcd(w, g);
    sum += w;
  }
  if (sum === 0) return new Int32Array(0);
  const period = sum / g;
  if (period > SCHEDULE_MAX_LENGTH || period * n > SCHEDULE_MAX_WORK) return null;
  const w = new Float64Array(n);
  for (let i = 0; i < n; i++) w[i] = weights[i]! > 0 ? weights[i]! / g : 0;
  const cur = new Float64Array(n);
  const out = new Int32Array(period);
  for (let t = 0; t < period; t++) {
    let best = -1;
    let bestScore = -Infinity;
    for (let i = 0; i < n; i++) {
      const wi = w[i]!;
      if (wi === 0) continue;
      const c = (cur[i] = cur[i]! + wi);
      if (c > bestScore) {
        bestScore = c;
        best = i;
      }
    }
    cur[best] = cur[best]! - period;
    out[t] = best;
  }
  return out;
}

/**
 * Vose's alias method: after an O(n) build, draws an index with probability proportional
 * to its weight in O(1) (one Math.random(), one table lookup). Weights <= 0 are never
 * drawn; an all-zero or empty input gives `size === 0`, and sample() must not be called.
 */
export class AliasTable {
  /** Number of slots; 0 when no weight is positive. */
  readonly size: number;
  private readonly prob: Float64Array;
  private readonly primary: Int32Array;
  private readonly alias: Int32Array;

  constructor(weights: ArrayLike<number>) {
    const idx: number[] = [];
    let total = 0;
    for (let i = 0; i < weights.length; i++) {
      const w = weights[i]!;
      if (w > 0 && Number.isFinite(w)) {
        idx.push(i);
        total += w;
      }
    }
    const n = idx.length;
    this.size = n;
    this.prob = new Float64Array(n);
    this.primary = Int32Array.from(idx);
    this.alias = Int32Array.from(idx);
    const scaled = idx.map((i) => (weights[i]! * n) / total);
    const small: number[] = [];
    const large: number[] = [];
    for (let k = 0; k < n; k++) (scaled[k]! < 1 ? small : large).push(k);
    while (small.length > 0 && large.length > 0) {
      const s = small.pop()!;
      const l = large[large.length - 1]!;
      this.prob[s] = scaled[s]!;
      this.alias[s] = idx[l]!;
      scaled[l] = scaled[l]! + scaled[s]! - 1;
      if (scaled[l]! < 1) small.push(large.pop()!);
    }
    // What is left is 1 up to rounding error: always keep its own index.
    for (const k of large) this.prob[k] = 1;
    for (const k of small) this.prob[k] = 1;
  }

  /** A weighted random index into the constructor's `weights`. O(1). */
  sample(): number {
    const u = Math.random() * this.size;
    const k = u | 0;
    return u - k < this.prob[k]! ? this.primary[k]! : this.alias[k]!;
  }
}
