import type { Server } from '../backend/server.js';

/** What a pick may depend on. Algorithms ignore what they do not use. */
export interface PickContext {
  /** Servers already tried for this request (retries): never picked again. */
  avoid: ReadonlySet<Server> | null;
}

/**
 * The balancing seam. `update` is called only when the eligible set changes (health,
 * weight, reload) and may precompute; `pick` is called per request, is synchronous,
 * does no I/O and returns undefined only when no eligible server is left.
 */
export interface Balancer {
  update(eligible: readonly Server[]): void;
  pick(ctx: PickContext): Server | undefined;
}
