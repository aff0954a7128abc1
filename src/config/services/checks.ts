/**
 * Cross-checks of the `services:` section that no single field can make: unique names,
 * pools that exist and that the kernel can reach (IPv4 addresses, no PROXY header), keys
 * that go with the service's mode, server ports the mode can deliver to, and VIP, port
 * and protocol combinations claimed twice (by two services, or by a service and a
 * listener). They read each service field by field (common/parsed.ts) and skip values
 * the schema rejects, so each problem is reported once.
 */
import { isIPv4 } from 'node:net';
import type { KeyPath } from '../locate.js';
import { noPoolMessage } from '../common/suggest.js';
import { parseEach, type Parsed, type PathIssue } from '../common/parsed.js';
import type { FileParts } from '../parts.js';
import { nameOf, serversOf } from '../pools/checks.js';
import { serviceFields } from './schema.js';

type ServicePart = Parsed<typeof serviceFields>;

/** Runs every check of a `services:` list and appends what it finds to `issues`. */
export function checkServices(services: unknown, parts: FileParts, issues: PathIssue[]): void {
  const names = new Map<string, number>();
  const claimed: Array<{ index: number; vip: string; protocol: string; ports: number[] }> = [];
  parseEach(serviceFields, services).forEach((s, i) => {
    if (!s) return;
    const base: KeyPath = ['services', i];
    const { name, vip, port: ports, protocol } = s.fields;
    if (name !== undefined) {
      const first = names.get(name);
      if (first === undefined) names.set(name, i);
      else issues.push({ path: [...base, 'name'], message: `duplicate service name \`${name}\`: services[${first}] already uses it` });
    }
    checkModeKeys(s, base, issues);
    if (vip !== undefined && ports !== undefined && protocol !== undefined) {
      checkClaims({ index: i, vip, protocol, ports }, claimed, parts.listeners, issues);
      claimed.push({ index: i, vip, protocol, ports });
    }
    if (parts.pools && s.fields.pool !== undefined) checkPool(s, base, parts.pools, issues);
  });
}

/** snat and drain_time are NAT's; DSR needs the interface its hook sits on. */
function checkModeKeys(s: ServicePart, base: KeyPath, issues: PathIssue[]): void {
  if (s.fields.mode === 'dsr') {
    if (!s.given('interface')) {
      issues.push({ path: [...base, 'mode'], message: 'mode: dsr needs `interface`: the interface the clients\' packets arrive on, where the servers are on the same link (e.g. `interface: eth0`)' });
    }
    if (s.given('snat')) {
      issues.push({ path: [...base, 'snat'], at: 'key', message: 'in mode: dsr the balancer never sees the replies, so it cannot rewrite sources: remove `snat` (or use mode: nat)' });
    }
    if (s.given('drain_time')) {
      issues.push({ path: [...base, 'drain_time'], at: 'key', message: 'mode: dsr keeps no connection state on the balancer, so there is nothing to drain: remove `drain_time`' });
    }
  }
}

/** How messages name a service's VIP, protocol and ports: "203.0.113.10 tcp/80,443". */
function claimText(c: { vip: string; protocol: string; ports: number[] }): string {
  return `${c.vip} ${c.protocol}/${c.ports.join(',')}`;
}

/** Two services, or a service and a listener bound to its VIP, may not take the same packets. */
function checkClaims(c: { index: number; vip: string; protocol: string; ports: number[] }, earlier: typeof c[], listeners: FileParts['listeners'], issues: PathIssue[]): void {
  const path: KeyPath = ['services', c.index, 'port'];
  for (const e of earlier) {
    if (e.vip !== c.vip || e.protocol !== c.protocol) continue;
    const both = c.ports.filter((p) => e.ports.includes(p));
    if (both.length === 0) continue;
    issues.push({ path, message: `${c.vip} ${c.protocol}/${both.join(',')} is already taken by services[${e.index}] (${claimText(e)}): a packet can go to one service only` });
  }
  listeners.forEach((l, k) => {
    const bind = l?.fields.bind;
    if (!l || !bind || bind.host !== c.vip || !c.ports.includes(bind.port)) return;
    if ((l.fields.mode === 'udp') !== (c.protocol === 'udp')) return;
    issues.push({
      path,
      message: `listeners[${k}] binds ${String(l.raw.bind)}, and this service takes the same packets before they reach it (the kernel rewrites them on arrival): give one of them another address or port`,
    });
  });
}

/**
 * The pool's servers must be IPv4 addresses (the kernel rewrites packets to them), must
 * not expect a PROXY header (no one writes it), and, where the destination port is kept
 * (dsr, or several ports), must listen on one of the service's ports.
 */
function checkPool(s: ServicePart, base: KeyPath, pools: NonNullable<FileParts['pools']>, issues: PathIssue[]): void {
  const { vip, port: ports, pool: poolName = '' } = s.fields;
  const path: KeyPath = [...base, 'pool'];
  if (!pools.has(poolName)) {
    issues.push({ path, message: noPoolMessage(poolName, [...pools.keys()]) });
    return;
  }
  const pool = pools.get(poolName);
  if (!pool) return;
  if (pool.given('send_proxy')) {
    issues.push({ path, message: `pool \`${poolName}\` sends a PROXY protocol header, which a virtual service cannot write (the kernel forwards the client's own packets): give this service a pool without \`send_proxy\`` });
  }
  if (pool.given('protocol') && pool.fields.protocol !== 'http1') {
    issues.push({ path, message: `pool \`${poolName}\` speaks ${pool.fields.protocol} to its servers, and a virtual service forwards the client's own packets without reading HTTP: give this service a pool without \`protocol\`` });
  }
  const keepsPort = s.fields.mode === 'dsr' || (ports !== undefined && ports.length > 1);
  serversOf(pool).forEach((server, j) => {
    const address = server?.fields.address;
    if (!server || !address) return;
    const where = `server \`${nameOf(server, j) ?? String(server.raw.name)}\` of pool \`${poolName}\` (${String(server.raw.address)})`;
    if (!isIPv4(address.host)) {
      issues.push({ path, message: `${where} is not an IPv4 address: the kernel data plane sends packets to IPv4 addresses only, so write the server's address` });
      return;
    }
    if (vip !== undefined && address.host === vip) {
      issues.push({ path, message: `${where} is the service's own VIP: the kernel would send the packets back to the balancer; give the server's real address` });
      return;
    }
    if (keepsPort && ports !== undefined && !ports.includes(address.port)) {
      const why = s.fields.mode === 'dsr' ? 'in mode: dsr the packets reach the server unchanged, so it must listen on the port the client used' : 'with several ports the destination port is kept';
      issues.push({ path, message: `${where} listens on port ${address.port}, not one of the service's ports (${ports.join(', ')}): ${why} (the server's port is used for health checks)` });
    }
  });
}
