import type { Server } from '../backend/server.js';
import type { Balancer, PickContext } from './balancer.js';
import { AliasTable, acceptable, positive } from './weighted.js';

/** Rounds of two samples a pick draws before falling back to a full scan. */
const ROUNDS = 4;

/**
 * Power of two choices (the `random` algorithm): draws two servers at random in
 * proportion to their effective weights and takes the one with the lower
 * active / effectiveWeight, the first drawn on ties. With no load every pick is the
 * first draw, so the shares equal the weights; under load it steers away from busy
 * servers without the herd effect of a strict least-conn across many workers.
 *
 * `active` is read live. A drawn server that is full or in `avoid` does not count; after
 * ROUNDS rounds in which both draws were unacceptable, the pick scans every server for the
 * least loaded acceptable one (O(servers)), and returns undefined only when there is none.
 */
export class PowerOfTwoChoices implements Balancer {
  private servers: Server[] = [];
  private weights = new Float64Array(0);
  private alias = new AliasTable([]);

  /** O(servers): rebuilds the alias table. */
  update(eligible: readonly Server[]): void {
    this.servers = positive(eligible);
    this.weights = Float64Array.from(this.servers, (s) => s.effectiveWeight);
    this.alias = new AliasTable(this.weights);
  }

  /** O(1): two Math.random() draws and two table lookups, unless most servers are unacceptable. */
  pick(ctx: PickContext): Server | undefined {
    if (this.alias.size === 0) return undefined;
    const list = this.servers;
    const w = this.weights;
    const avoid = ctx.avoid;
    for (let round = 0; round < ROUNDS; round++) {
      const i = this.alias.sample();
      const j = this.alias.sample();
      const a = list[i]!;
      const b = list[j]!;
      if (acceptable(a, avoid)) {
        return i === j || !acceptable(b, avoid) || a.active * w[j]! <= b.active * w[i]! ? a : b;
      }
      if (acceptable(b, avoid)) return b;
    }
    return this.scan(avoid);
  }

  private scan(avoid: ReadonlySet<Server> | null): Server | undefined {
    const list = this.servers;
    const w = this.weights;
    let best = -1;
    for (let i = 0; i < list.length; i++) {
      const s = list[i]!;
      if (!acceptable(s, avoid)) continue;
      if (best < 0 || s.active * w[best]! < list[best]!.active * w[i]!) best = i;
    }
    return best < 0 ? undefined : list[best];
  }
}
