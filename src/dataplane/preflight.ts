/**
 * Checks the host before the data plane applies anything, so a service that cannot work
 * is refused with every reason at once and no rule is half applied: nft runs and may
 * program the kernel; each VIP is an address of the balancer (or one that a VRRP instance
 * of the same configuration adds when master: a backup holds it later); each interface exists;
 * NAT services have IP forwarding on; DSR servers are on the service's link. Reads the
 * interfaces' MAC addresses on the way.
 */
import type { VirtualServiceConfig } from '../config/services/parse.js';
import type { ServerConfig } from '../config/types.js';
import type { Host } from './host.js';
import { interfaceMac, localAddresses, routeTo, sysctl } from './links.js';

/** What preflight found: problems refuse the start; MACs of the interfaces that have one. */
export interface PreflightReport {
  problems: string[];
  interfaceMacs: Map<string, string>;
}

/**
 * Runs every check (the nft check first: without it the rest is moot). `servers` gives a
 * pool's configured servers; `virtual` the addresses the configuration's VRRP instances
 * take when master. Never throws for a failed check; rejects only when a command cannot
 * run at all (iproute2 missing).
 */
export async function preflight(
  services: readonly VirtualServiceConfig[],
  servers: (pool: string) => readonly ServerConfig[],
  host: Host,
  probeNft: () => Promise<void>,
  virtual: readonly string[] = [],
): Promise<PreflightReport> {
  const problems: string[] = [];
  const interfaceMacs = new Map<string, string>();
  try {
    await probeNft();
  } catch (err) {
    return { problems: [(err as Error).message], interfaceMacs };
  }
  const local = await localAddresses(host);
  const ifaces = new Map<string, string | null>();
  for (const iface of new Set(services.flatMap((s) => (s.interface === null ? [] : [s.interface])))) {
    const mac = await interfaceMac(host, iface);
    ifaces.set(iface, mac);
    if (mac !== null && mac !== '') interfaceMacs.set(iface, mac);
  }
  let forwarding: string | null | undefined;
  for (const s of services) {
    const svc = `service ${s.name}`;
    if (!local.some((a) => a.address === s.vip) && !virtual.includes(s.vip)) {
      const dev = s.interface ?? 'eth0';
      problems.push(`${svc}: the VIP ${s.vip} is not an address of ${host.where}, so no client packet for it would reach the balancer: add it (ip addr add ${s.vip}/32 dev ${dev}), make it a \`virtual_ips\` address of a \`vrrp\` instance, or fix \`vip\``);
    }
    if (s.interface !== null) {
      const mac = ifaces.get(s.interface);
      if (mac === null) problems.push(`${svc}: there is no interface ${s.interface} on ${host.where} (see \`ip link\`)`);
      else if (s.mode === 'dsr' && mac === '') problems.push(`${svc}: interface ${s.interface} has no MAC address, and DSR rewrites Ethernet frames: use an Ethernet interface`);
    }
    if (s.mode === 'nat') {
      forwarding ??= await sysctl(host, 'net.ipv4.ip_forward');
      if (forwarding !== '1') {
        problems.push(`${svc}: IP forwarding is off on ${host.where} (net.ipv4.ip_forward = ${forwarding ?? 'unreadable'}), so NAT would drop every packet it rewrites: run sysctl -w net.ipv4.ip_forward=1`);
      }
    }
    if (s.mode === 'dsr' && s.interface !== null && ifaces.get(s.interface)) {
      for (const server of servers(s.pool)) {
        const route = await routeTo(host, server.host);
        const where = `server ${server.name} (${server.host}) of pool ${s.pool}`;
        if (route === null) problems.push(`${svc}: ${where} cannot be reached from ${host.where}: no route`);
        else if (route.dev !== s.interface || route.gateway !== null) {
          const how = route.gateway !== null ? `through the gateway ${route.gateway} on ${route.dev}` : `on ${route.dev}`;
          problems.push(`${svc}: ${where} is reached ${how}, not directly on ${s.interface}: DSR hands each frame to the server's MAC address, so the servers must be on the same link as the interface`);
        }
      }
    }
  }
  return { problems, interfaceMacs };
}
