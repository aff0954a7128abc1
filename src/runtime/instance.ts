import type net from 'node:net';
import { Pool } from '../backend/pool.js';
import type { Server } from '../backend/server.js';
import type { Config, HealthConfig } from '../config/types.js';
import { Dataplane } from '../dataplane/dataplane.js';
import { DnsServer } from '../dns/server.js';
import { HealthChecker } from '../health/checker.js';
import { OutlierDetector } from '../health/outlier.js';
import { HttpFrontend } from '../proxy/http/frontend.js';
import { TcpFrontend } from '../proxy/tcp/frontend.js';
import { UdpFrontend } from '../proxy/udp/frontend.js';

/** A running balancer: its listeners, pools and health checking, built from one configuration. */
export interface Instance {
  readonly config: Config;
  readonly pools: ReadonlyMap<string, Pool>;
  readonly listeners: ReadonlyArray<{ readonly name: string; address(): net.AddressInfo }>;
  /** The authoritative DNS server when the configuration has a `dns` section, else null. */
  readonly dns: DnsServer | null;
  /** The kernel data plane (nftables) when the configuration has `services`, else null. */
  readonly dataplane: Dataplane | null;
  /** Stops accepting, lets in-flight work finish for up to `graceMs` (default 5 s), then cuts the rest. */
  stop(opts?: { graceMs?: number }): Promise<void>;
}

/**
 * Starts every listener of a validated configuration, and one health checker and one
 * outlier detector per pool that asks for them, shared by every listener using the
 * pool. If one listener cannot bind, the ones already started are stopped again and
 * the error (FULCRUM_ERR_LISTEN) is thrown.
 */
export async function startInstance(config: Config): Promise<Instance> {
  const pools = new Map<string, Pool>();
  const poolOf = new Map<Server, Pool>();
  const targets: Array<{ server: Server; config: HealthConfig }> = [];
  const detectors: OutlierDetector[] = [];
  for (const [name, pc] of config.pools) {
    const pool = new Pool(pc);
    pools.set(name, pool);
    for (const s of pool.servers) {
      poolOf.set(s, pool);
      if (pc.health !== null) targets.push({ server: s, config: pc.health });
    }
    if (pc.outlier !== null) {
      const detector = new OutlierDetector(pool.servers, pc.outlier, {
        eject: (s, reason) => pool.setEjected(s, true, reason),
        restore: (s, reason) => pool.setEjected(s, false, reason),
        canRestore: (s) => s.healthy,
      });
      pool.outlier = detector;
      detectors.push(detector);
    }
  }
  const checker = targets.length === 0 ? null : new HealthChecker(targets, (s, up, reason) => poolOf.get(s)!.setHealthy(s, up, reason));
  const frontends = config.listeners.map((l) =>
    l.mode === 'udp' ? new UdpFrontend(l, pools) : l.mode === 'tcp' ? new TcpFrontend(l, pools) : new HttpFrontend(l, pools),
  );
  const dns = config.dns === null ? null : new DnsServer(config.dns, pools);
  const dataplane = config.services.length === 0 ? null : new Dataplane(config.services, pools);
  const stopHealth = async () => {
    await checker?.stop();
    for (const d of detectors) d.stop();
    for (const p of pools.values()) p.stop();
  };
  const started: Array<HttpFrontend | TcpFrontend | UdpFrontend> = [];
  try {
    for (const fe of frontends) {
      await fe.start();
      started.push(fe);
    }
    await dns?.start();
    await dataplane?.start();
  } catch (err) {
    await dataplane?.stop();
    await dns?.stop();
    await Promise.all(started.map((fe) => fe.stop({ graceMs: 0 })));
    await stopHealth();
    throw err;
  }
  checker?.start();
  return {
    config,
    pools,
    listeners: frontends,
    dns,
    dataplane,
    async stop(opts = {}) {
      await Promise.all([...frontends.map((fe) => fe.stop(opts)), dns?.stop(), dataplane?.stop()]);
      await stopHealth();
    },
  };
}
