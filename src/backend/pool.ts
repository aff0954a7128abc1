import type { PoolConfig } from '../config/types.js';
import { createBalancer } from '../balance/index.js';
import type { Balancer, PickContext } from '../balance/balancer.js';
import { Server } from './server.js';

/**
 * A named set of servers plus the balancer over its eligible subset. Servers with
 * weight 0 are kept (existing work finishes) but never picked.
 */
export class Pool {
  readonly name: string;
  readonly servers: Server[];
  private readonly balancer: Balancer;

  constructor(readonly config: PoolConfig) {
    this.name = config.name;
    this.servers = config.servers.map((s) => new Server(config.name, s));
    this.balancer = createBalancer(config.balance);
    this.balancer.update(this.servers.filter((s) => s.weight > 0));
  }

  /** Chooses a server for new work; undefined when none is eligible. Synchronous. */
  pick(ctx: PickContext): Server | undefined {
    return this.balancer.pick(ctx);
  }
}
