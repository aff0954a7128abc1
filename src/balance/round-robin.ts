import type { Server } from '../backend/server.js';
import type { Balancer, PickContext } from './balancer.js';

/**
 * Smooth weighted round robin, nginx's algorithm: every pick adds each server's weight
 * to its running score, takes the highest and subtracts the total from it. Weights
 * 3:1 give A A B A rather than A A A B. O(servers) per pick.
 */
export class RoundRobin implements Balancer {
  private servers: readonly Server[] = [];
  private current = new Float64Array(0);

  update(eligible: readonly Server[]): void {
    this.servers = eligible;
    this.current = new Float64Array(eligible.length);
  }

  pick(ctx: PickContext): Server | undefined {
    const list = this.servers;
    const cur = this.current;
    const avoid = ctx.avoid;
    let best = -1;
    let total = 0;
    for (let i = 0; i < list.length; i++) {
      const s = list[i]!;
      if (avoid !== null && avoid.has(s)) continue;
      cur[i]! += s.weight;
      total += s.weight;
      if (best < 0 || cur[i]! > cur[best]!) best = i;
    }
    if (best < 0) return undefined;
    cur[best]! -= total;
    return list[best];
  }
}
