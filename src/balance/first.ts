import type { Server } from '../backend/server.js';
import type { Balancer, PickContext } from './balancer.js';
import { acceptable, positive } from './weighted.js';

/**
 * HAProxy's `first`: the first server, in `eligible` order (configuration order), that is
 * not full and not in `avoid`. Weights are ignored (beyond skipping any <= 0); set
 * max_conn on the servers, or the first one takes everything. Lets a pool run on as few
 * servers as possible, so the rest can be powered down or shared.
 *
 * pick() is O(k) for k full servers ahead of the chosen one; it reads `active` live.
 */
export class First implements Balancer {
  private servers: Server[] = [];

  /** O(servers). */
  update(eligible: readonly Server[]): void {
    this.servers = positive(eligible);
  }

  /** The first acceptable server in configuration order, or undefined. */
  pick(ctx: PickContext): Server | undefined {
    const list = this.servers;
    const avoid = ctx.avoid;
    for (let i = 0; i < list.length; i++) {
      if (acceptable(list[i]!, avoid)) return list[i];
    }
    return undefined;
  }
}
