import type net from 'node:net';
import { Pool } from '../backend/pool.js';
import type { Config } from '../config/types.js';
import { HttpFrontend } from '../proxy/http/frontend.js';

/** A running balancer: its listeners and pools, built from one configuration. */
export interface Instance {
  readonly config: Config;
  readonly pools: ReadonlyMap<string, Pool>;
  readonly listeners: ReadonlyArray<{ readonly name: string; address(): net.AddressInfo }>;
  /** Stops accepting, lets in-flight work finish for up to `graceMs` (default 5 s), then cuts the rest. */
  stop(opts?: { graceMs?: number }): Promise<void>;
}

/**
 * Starts every listener of a validated configuration. If one listener cannot bind, the
 * ones already started are stopped again and the error (FULCRUM_ERR_LISTEN) is thrown.
 */
export async function startInstance(config: Config): Promise<Instance> {
  const pools = new Map<string, Pool>();
  for (const [name, pc] of config.pools) pools.set(name, new Pool(pc));
  const frontends = config.listeners.map((l) => new HttpFrontend(l, pools));
  const started: HttpFrontend[] = [];
  try {
    for (const fe of frontends) {
      await fe.start();
      started.push(fe);
    }
  } catch (err) {
    await Promise.all(started.map((fe) => fe.stop({ graceMs: 0 })));
    throw err;
  }
  return {
    config,
    pools,
    listeners: frontends,
    async stop(opts = {}) {
      await Promise.all(frontends.map((fe) => fe.stop(opts)));
    },
  };
}
