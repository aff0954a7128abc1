/**
 * The balancing algorithms' names and traits: the one list that `balance:` (the
 * configuration schema), `--balance` and the conformance suite read. It imports nothing,
 * so the configuration can use it without loading the balancers.
 */

/** Names accepted by `balance:` and `--balance`, in the order usage texts and messages list them. */
export const ALGORITHMS = ['round-robin', 'random', 'least-conn', 'maglev', 'sticky', 'first'] as const;

/** One of ALGORITHMS. */
export type BalanceAlgorithm = (typeof ALGORITHMS)[number];

/**
 * What each algorithm needs and honours, like HAProxy's lb properties: configuration
 * checks and the conformance suite read it.
 * - `input`: what pick() reads from PickContext besides `avoid`: `hash` (the pool must
 *   configure a hash key and the proxy fill ctx.hash), `sticky` (a cookie name and
 *   ctx.sticky), or nothing.
 * - `weights`: whether effectiveWeight sets the shares (`proportional`) or not (`ignored`).
 * - `readsActive`: pick() reads Server.active live (proxies must keep it exact).
 */
export const ALGORITHM_TRAITS: Readonly<
  Record<BalanceAlgorithm, { input: 'none' | 'hash' | 'sticky'; weights: 'proportional' | 'ignored'; readsActive: boolean }>
> = {
  'round-robin': { input: 'none', weights: 'proportional', readsActive: false },
  random: { input: 'none', weights: 'proportional', readsActive: true },
  'least-conn': { input: 'none', weights: 'proportional', readsActive: true },
  maglev: { input: 'hash', weights: 'proportional', readsActive: false },
  sticky: { input: 'sticky', weights: 'proportional', readsActive: true },
  first: { input: 'none', weights: 'ignored', readsActive: true },
};
