import type { BalanceAlgorithm } from './algorithms.js';
import type { PoolConfig } from '../config/types.js';
import type { Balancer } from './balancer.js';
import { First } from './first.js';
import { LeastConn } from './least-conn.js';
import { Maglev } from './maglev.js';
import { PowerOfTwoChoices } from './p2c.js';
import { RoundRobin } from './round-robin.js';
import { Sticky } from './sticky.js';

/** The seam and every implementation, for callers that need a specific one (Maglev's table()). */
export type { Balancer, PickContext } from './balancer.js';
/** Request-key hashing for PickContext.hash (MurmurHash3_x86_32). */
export { hashBytes, hashKey } from './hash.js';
export { First, LeastConn, Maglev, PowerOfTwoChoices, RoundRobin, Sticky };

/** The algorithms a sticky pool may fall back to (`sticky.fallback`). */
export type StickyFallback = PoolConfig['sticky']['fallback'];

/** The algorithms' names and traits (one list, which the configuration reads too). */
export { ALGORITHMS, ALGORITHM_TRAITS } from './algorithms.js';

/**
 * A fresh balancer for the named algorithm, with no servers until update() is called
 * (pick() returns undefined before that). `fallback` is used by `sticky` only: the
 * algorithm for requests without a usable cookie (the pool's `sticky.fallback`).
 * Called once per pool, at start and on reload; costs nothing until update().
 */
export function createBalancer(alg: BalanceAlgorithm, fallback: StickyFallback = 'round-robin'): Balancer {
  switch (alg) {
    case 'round-robin':
      return new RoundRobin();
    case 'random':
      return new PowerOfTwoChoices();
    case 'least-conn':
      return new LeastConn();
    case 'maglev':
      return new Maglev();
    case 'sticky':
      return new Sticky(createBalancer(fallback));
    case 'first':
      return new First();
  }
}
