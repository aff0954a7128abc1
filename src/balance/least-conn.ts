import type { Server } from '../backend/server.js';
import type { Balancer, PickContext } from './balancer.js';
import { AliasTable, acceptable, positive, smoothSchedule } from './weighted.js';

/** Servers kept on the shortlist between full scans. */
const SHORTLIST = 8;
/** Picks after which the shortlist is rebuilt anyway, to see work that finished elsewhere. */
const REFRESH_PICKS = 32;

/**
 * Weighted least outstanding: picks the acceptable server with the lowest
 * active / effectiveWeight, reading `active` live (the proxy changes it between picks
 * without calling update()). Scores are compared by cross-multiplying, so equal ratios
 * tie exactly.
 *
 * Ties go to the first server in scan order, and each pick starts at the next turn of a
 * smooth weighted round robin (a weighted random server when weights are fractional):
 * when that server has nothing in progress it cannot be beaten and is returned at once,
 * so an idle pool costs O(1) and spreads exactly like round-robin.
 *
 * Under load, reading every server on every pick costs about 3.5 ns a server (360 ns
 * for 100 servers on this project's machines), so pools larger than SHORTLIST keep a
 * shortlist: a full scan (from the same rotating start)
 * records the SHORTLIST lowest scores and the next lowest, `threshold`; a pick reads only
 * the shortlist, live, and takes its best if that is still at or below the threshold.
 * Picks only raise the servers' scores, so until then the choice is exact; when the best
 * on the list rises above the threshold, when no listed server is acceptable, and every
 * REFRESH_PICKS picks the scan runs again. What it can miss is work that finished on an
 * unlisted server since the last scan: such a server is seen at most REFRESH_PICKS picks
 * late; in simulation the load stays about as level as with an exact scan (mean
 * |active - ideal| 0.39 against 0.35; power of two choices: 0.75). Cost: O(SHORTLIST)
 * per pick plus O(servers) per scan, which under steady load runs every ~14 picks:
 * about 120 ns a pick with 100 servers (npm run bench -- pick).
 */
export class LeastConn implements Balancer {
  private servers: Server[] = [];
  private weights = new Float64Array(0);
  private starts: Int32Array | null = null;
  private cursor = 0;
  private alias = new AliasTable([]);
  /** Indexes of the shortlisted servers, best first at the last scan. */
  private readonly list = new Int32Array(SHORTLIST);
  private listed = 0;
  /** The best score left off the list at the last scan, as active and weight. */
  private thresholdActive = 0;
  private thresholdWeight = 0;
  private sinceScan = REFRESH_PICKS;
  /** Scratch for rebuild(): the SHORTLIST + 1 best (active, weight, index), sorted. */
  private readonly keepA = new Float64Array(SHORTLIST + 1);
  private readonly keepW = new Float64Array(SHORTLIST + 1);
  private readonly keepJ = new Int32Array(SHORTLIST + 1);

  /** O(period x servers) for the tie-break schedule, see smoothSchedule. */
  update(eligible: readonly Server[]): void {
    this.servers = positive(eligible);
    this.weights = Float64Array.from(this.servers, (s) => s.effectiveWeight);
    this.starts = smoothSchedule(this.weights);
    if (this.starts === null) this.alias = new AliasTable(this.weights);
    this.cursor = 0;
    this.listed = 0;
    this.sinceScan = REFRESH_PICKS;
  }

  /** O(1) when the start server is idle; O(SHORTLIST) amortized under load; see the class comment. */
  pick(ctx: PickContext): Server | undefined {
    const servers = this.servers;
    const n = servers.length;
    if (n === 0) return undefined;
    const avoid = ctx.avoid;
    let start: number;
    const starts = this.starts;
    if (starts !== null) {
      start = starts[this.cursor]!;
      if (++this.cursor === starts.length) this.cursor = 0;
    } else {
      start = this.alias.sample();
    }
    const first = servers[start]!;
    if (first.active <= 0 && acceptable(first, avoid)) return first;
    if (n <= SHORTLIST) return this.scan(start, avoid);
    if (++this.sinceScan >= REFRESH_PICKS) this.rebuild(start);
    let best = this.fromList(avoid);
    if (best === undefined) {
      this.rebuild(start);
      best = this.fromList(avoid);
    }
    return best ?? this.scan(start, avoid);
  }

  /** The best acceptable listed server if it is not above the threshold, else undefined. */
  private fromList(avoid: ReadonlySet<Server> | null): Server | undefined {
    const servers = this.servers;
    const w = this.weights;
    const list = this.list;
    let best: Server | undefined;
    let bestActive = this.thresholdActive;
    let bestWeight = this.thresholdWeight;
    for (let k = 0; k < this.listed; k++) {
      const j = list[k]!;
      const s = servers[j]!;
      const a = s.active;
      // at or below the threshold, and strictly better than the best so far
      if ((best === undefined ? a * bestWeight <= bestActive * w[j]! : a * bestWeight < bestActive * w[j]!) && acceptable(s, avoid)) {
        best = s;
        bestActive = a;
        bestWeight = w[j]!;
      }
    }
    return best;
  }

  /** Full scan from `start`: keeps the SHORTLIST best (ties: scan order) and the next best. */
  private rebuild(start: number): void {
    const servers = this.servers;
    const n = servers.length;
    const w = this.weights;
    const list = this.list;
    // sorted insertion into SHORTLIST + 1 slots; the last one becomes the threshold
    const keepA = this.keepA;
    const keepW = this.keepW;
    const keepJ = this.keepJ;
    let kept = 0;
    for (let k = 0, j = start; k < n; k++) {
      const a = servers[j]!.active;
      const wj = w[j]!;
      if (kept <= SHORTLIST || a * keepW[SHORTLIST]! < keepA[SHORTLIST]! * wj) {
        let p = kept <= SHORTLIST ? kept++ : SHORTLIST;
        while (p > 0 && a * keepW[p - 1]! < keepA[p - 1]! * wj) {
          keepA[p] = keepA[p - 1]!;
          keepW[p] = keepW[p - 1]!;
          keepJ[p] = keepJ[p - 1]!;
          p--;
        }
        keepA[p] = a;
        keepW[p] = wj;
        keepJ[p] = j;
      }
      if (++j === n) j = 0;
    }
    this.listed = Math.min(kept, SHORTLIST);
    for (let k = 0; k < this.listed; k++) list[k] = keepJ[k]!;
    if (kept > SHORTLIST) {
      this.thresholdActive = keepA[SHORTLIST]!;
      this.thresholdWeight = keepW[SHORTLIST]!;
    } else {
      this.thresholdActive = 1;
      this.thresholdWeight = 0; // a score of +infinity: never exceeded
    }
    this.sinceScan = 0;
  }

  /** Exact O(servers) scan from `start`; stops at the first idle acceptable server. */
  private scan(start: number, avoid: ReadonlySet<Server> | null): Server | undefined {
    const servers = this.servers;
    const n = servers.length;
    const w = this.weights;
    let best: Server | undefined;
    let bestActive = 0;
    let bestWeight = 1;
    for (let k = 0, j = start; k < n; k++) {
      const s = servers[j]!;
      const a = s.active;
      const wj = w[j]!;
      if ((best === undefined || a * bestWeight < bestActive * wj) && acceptable(s, avoid)) {
        if (a <= 0) return s;
        best = s;
        bestActive = a;
        bestWeight = wj;
      }
      if (++j === n) j = 0;
    }
    return best;
  }
}
