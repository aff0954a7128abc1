import type { BalanceAlgorithm } from '../config/types.js';
import type { Balancer } from './balancer.js';
import { LeastConn } from './least-conn.js';
import { RandomBalancer } from './random.js';
import { RoundRobin } from './round-robin.js';

/** Names accepted by `balance:` and `--balance`. */
export const ALGORITHMS: readonly BalanceAlgorithm[] = ['round-robin', 'random', 'least-conn'];

/** A fresh balancer for the named algorithm. */
export function createBalancer(alg: BalanceAlgorithm): Balancer {
  switch (alg) {
    case 'round-robin':
      return new RoundRobin();
    case 'random':
      return new RandomBalancer();
    case 'least-conn':
      return new LeastConn();
  }
}
