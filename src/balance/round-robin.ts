import type { Server } from '../backend/server.js';
import type { Balancer, PickContext } from './balancer.js';
import { acceptable, positive, smoothSchedule } from './weighted.js';

/** Schedule entries a pick tries before falling back to the live scan. */
const PROBES = 8;

/**
 * Smooth weighted round robin, nginx's algorithm (ngx_http_upstream_get_peer): each turn
 * adds every server's weight to its running score, takes the highest (the first on ties)
 * and subtracts the total from it. Weights 3:1 give s1 s1 s2 s1, never s1 s1 s1 s2.
 *
 * update() precomputes one period of the sequence (sum of weights / gcd turns, see
 * smoothSchedule), so a pick is O(1): take the next turn, skipping turns of servers that
 * are full or in `avoid` (they lose those turns, so the others share the load by weight).
 * After PROBES skipped turns in a row, and whenever there is no schedule (fractional
 * weights during slow start, or a period too long to precompute), the pick runs nginx's
 * O(n) scan over the acceptable servers instead, which never picks a full or avoided one.
 * update() restarts the sequence from the beginning.
 */
export class RoundRobin implements Balancer {
  private servers: Server[] = [];
  private weights = new Float64Array(0);
  /** One period of turns, or null: run the live scan. */
  private schedule: Server[] | null = null;
  private cursor = 0;
  /** Scores of the live scan, by server index. */
  private current = new Float64Array(0);

  /** O(period x servers) when the schedule is built, else O(servers). */
  update(eligible: readonly Server[]): void {
    this.servers = positive(eligible);
    this.weights = Float64Array.from(this.servers, (s) => s.effectiveWeight);
    this.current = new Float64Array(this.servers.length);
    const turns = smoothSchedule(this.weights);
    this.schedule = turns === null ? null : Array.from(turns, (i) => this.servers[i]!);
    this.cursor = 0;
  }

  /** O(1) with a schedule and few full servers; O(servers) otherwise. */
  pick(ctx: PickContext): Server | undefined {
    const avoid = ctx.avoid;
    const turns = this.schedule;
    if (turns !== null) {
      const len = turns.length;
      if (len === 0) return undefined;
      let pos = this.cursor;
      for (let k = 0; k < PROBES; k++) {
        const s = turns[pos]!;
        if (++pos === len) pos = 0;
        if (acceptable(s, avoid)) {
          this.cursor = pos;
          return s;
        }
      }
      this.cursor = pos;
    }
    return this.scan(avoid);
  }

  /** nginx's loop: only acceptable servers gain score and count in the total. */
  private scan(avoid: ReadonlySet<Server> | null): Server | undefined {
    const list = this.servers;
    const w = this.weights;
    const cur = this.current;
    let best = -1;
    let bestScore = -Infinity;
    let total = 0;
    for (let i = 0; i < list.length; i++) {
      if (!acceptable(list[i]!, avoid)) continue;
      const c = (cur[i] = cur[i]! + w[i]!);
      total += w[i]!;
      if (c > bestScore) {
        bestScore = c;
        best = i;
      }
    }
    if (best < 0) return undefined;
    cur[best] = cur[best]! - total;
    return list[best];
  }
}
