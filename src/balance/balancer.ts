import type { Server } from '../backend/server.js';

/** What a pick may depend on. Algorithms ignore what they do not use. */
export interface PickContext {
  /** Servers already tried for this request (retries): never picked again. */
  avoid: ReadonlySet<Server> | null;
  /** 32-bit unsigned hash of the request's key (maglev); 0 when the pool does not hash. */
  hash: number;
  /** The server name a sticky cookie asks for, or null. */
  sticky: string | null;
}

/**
 * The balancing seam. `update` is called only when the eligible set or an effective
 * weight changes (health, ejection, slow start, reload) and may precompute; `pick` is
 * called per request, is synchronous, does no I/O, never returns a server in
 * `ctx.avoid` or one that is `full`, and returns undefined only when no such server is
 * left. Weights are read from `effectiveWeight`.
 */
export interface Balancer {
  update(eligible: readonly Server[]): void;
  pick(ctx: PickContext): Server | undefined;
}
