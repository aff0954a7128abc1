import type { Server } from '../backend/server.js';
import type { Balancer, PickContext } from './balancer.js';

/**
 * Weighted least outstanding requests: the server with the lowest active/weight wins;
 * ties rotate so idle pools still spread. O(servers) per pick.
 */
export class LeastConn implements Balancer {
  private servers: readonly Server[] = [];
  private offset = 0;

  update(eligible: readonly Server[]): void {
    this.servers = eligible;
  }

  pick(ctx: PickContext): Server | undefined {
    const list = this.servers;
    const n = list.length;
    const avoid = ctx.avoid;
    let best: Server | undefined;
    let bestScore = Infinity;
    const start = this.offset++ % Math.max(n, 1);
    for (let k = 0; k < n; k++) {
      const s = list[(start + k) % n]!;
      if (avoid !== null && avoid.has(s)) continue;
      const score = (s.active + 1) / s.weight;
      if (score < bestScore) {
        bestScore = score;
        best = s;
      }
    }
    return best;
  }
}
