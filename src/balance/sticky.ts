import type { Server } from '../backend/server.js';
import type { Balancer, PickContext } from './balancer.js';
import { acceptable } from './weighted.js';

/**
 * Cookie persistence: pick(ctx) returns the eligible server whose name is `ctx.sticky`
 * (the proxy reads it from the pool's sticky cookie) while that server is eligible, not
 * full and not in `avoid`; otherwise, and when ctx.sticky is null, it asks `fallback`.
 * With ctx.sticky null it behaves exactly like the fallback. Setting the cookie on the
 * response is the proxy's job. Servers with effective weight 0 are never named here: if
 * the pool wants HAProxy's drain (sticky clients keep a weight-0 server), it has to pass
 * such servers in and this check has to go.
 *
 * update() is O(servers) plus the fallback's update; pick() is one Map lookup plus,
 * on a miss, the fallback's pick.
 */
export class Sticky implements Balancer {
  private byName = new Map<string, Server>();

  /** `fallback` picks for requests without a usable cookie; Sticky owns its updates. */
  constructor(readonly fallback: Balancer) {}

  /** Rebuilds the name index (O(servers)) and forwards to the fallback. */
  update(eligible: readonly Server[]): void {
    const byName = new Map<string, Server>();
    for (const s of eligible) {
      if (s.effectiveWeight > 0 && !byName.has(s.name)) byName.set(s.name, s);
    }
    this.byName = byName;
    this.fallback.update(eligible);
  }

  /** The named server when usable, else the fallback's pick. */
  pick(ctx: PickContext): Server | undefined {
    if (ctx.sticky !== null) {
      const s = this.byName.get(ctx.sticky);
      if (s !== undefined && acceptable(s, ctx.avoid)) return s;
    }
    return this.fallback.pick(ctx);
  }
}
