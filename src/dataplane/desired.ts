/**
 * Computes the desired state of the kernel data plane from the configuration and the
 * pools' current usable servers: for each virtual service, its backends and its Maglev
 * table. Pure: the caller gathers the facts (pools, MAC addresses) and passes them in.
 */
import type { Server } from '../backend/server.js';
import { maglevLookup } from '../balance/maglev.js';
import type { VirtualServiceConfig } from '../config/services/parse.js';
import { HASH_SEED, type Backend, type DesiredState, type ServiceState } from './state.js';

/** What the host told us about its links (dsr only). */
export interface LinkFacts {
  /** MAC address of each interface a dsr service uses. */
  interfaceMacs: ReadonlyMap<string, string>;
  /** A server's MAC address on an interface: key `${iface} ${ip}`. */
  neighbours: ReadonlyMap<string, string>;
}

/** Key of LinkFacts.neighbours. */
export function neighbourKey(iface: string, ip: string): string {
  return `${iface} ${ip}`;
}

/** A service whose usable servers could not all be used, and why (for logs). */
export interface Left {
  service: string;
  server: string;
  reason: string;
}

/**
 * One service's state. Its backends are the pool's usable servers (sorted by name, so the
 * rendering does not depend on pool order) with a positive effective weight; in dsr mode
 * only those whose MAC address is known (the others are returned in `left`).
 */
export function serviceState(svc: VirtualServiceConfig, usable: readonly Server[], links: LinkFacts, left: Left[] = []): ServiceState {
  const backends: Backend[] = [];
  for (const s of [...usable].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    if (!(s.effectiveWeight > 0)) continue;
    let mac: string | null = null;
    if (svc.mode === 'dsr') {
      mac = links.neighbours.get(neighbourKey(svc.interface!, s.host)) ?? null;
      if (mac === null) {
        left.push({ service: svc.name, server: s.name, reason: `no MAC address known for ${s.host} on ${svc.interface!}` });
        continue;
      }
    }
    backends.push({ name: s.name, host: s.host, port: s.port, weight: s.effectiveWeight, mac });
  }
  const table = backends.length === 0 ? new Int32Array(0) : maglevLookup(backends.map((b) => ({ name: b.name, effectiveWeight: b.weight })), svc.tableSize);
  return {
    name: svc.name,
    vip: svc.vip,
    ports: [...svc.ports],
    protocol: svc.protocol,
    mode: svc.mode,
    snat: svc.mode === 'nat' ? svc.snat : null,
    interface: svc.interface,
    interfaceMac: svc.mode === 'dsr' ? (links.interfaceMacs.get(svc.interface!) ?? null) : null,
    hash: svc.hash,
    seed: HASH_SEED,
    backends,
    table,
  };
}

/** The whole desired state: every service, in configuration order. */
export function desiredState(
  services: readonly VirtualServiceConfig[],
  usable: (pool: string) => readonly Server[],
  links: LinkFacts,
  left: Left[] = [],
): DesiredState {
  return { services: services.map((svc) => serviceState(svc, usable(svc.pool), links, left)) };
}
