import type { Server } from '../backend/server.js';
import type { Balancer, PickContext } from './balancer.js';

/** Weighted random choice. O(servers) per pick; no shared state between picks. */
export class RandomBalancer implements Balancer {
  private servers: readonly Server[] = [];

  update(eligible: readonly Server[]): void {
    this.servers = eligible;
  }

  pick(ctx: PickContext): Server | undefined {
    const avoid = ctx.avoid;
    let total = 0;
    for (const s of this.servers) if (avoid === null || !avoid.has(s)) total += s.weight;
    if (total <= 0) return undefined;
    let r = Math.random() * total;
    let last: Server | undefined;
    for (const s of this.servers) {
      if (avoid !== null && avoid.has(s)) continue;
      last = s;
      r -= s.weight;
      if (r < 0) return s;
    }
    return last;
  }
}
