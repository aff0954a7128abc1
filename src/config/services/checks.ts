/**
 * Cross-checks of the `services:` section that no single field can make: unique names,
 * pools that exist and that the kernel can reach (IPv4 addresses, no PROXY header), keys
 * that go with the service's mode, server ports the mode can deliver to, and VIP, port
 * and protocol combinations claimed twice (by two services, or by a service and a
 * listener). Like validate.ts they run on the raw data and skip values the schema
 * rejects, so each problem is reported once.
 */
import { isIPv4 } from 'node:net';
import { parseBind, parseServerAddress } from '../common/address.js';
import { defaultServerName } from '../defaults.js';
import type { KeyPath } from '../locate.js';
import { parsePorts, parseVip } from './parse.js';
import { noPoolMessage } from '../common/suggest.js';
import { attempt, isObj, list, type Obj, type PathIssue } from '../validate.js';

/** Runs every check of a `services:` list (raw data) and appends what it finds to `issues`. */
export function checkServices(services: unknown, pools: Obj | undefined, listeners: unknown[], issues: PathIssue[]): void {
  const names = new Map<string, number>();
  const claimed: Array<{ index: number; vip: string; protocol: string; ports: number[] }> = [];
  list(services).forEach((s, i) => {
    if (!isObj(s)) return;
    const base: KeyPath = ['services', i];
    if (typeof s.name === 'string') {
      const first = names.get(s.name);
      if (first === undefined) names.set(s.name, i);
      else issues.push({ path: [...base, 'name'], message: `duplicate service name \`${s.name}\`: services[${first}] already uses it` });
    }
    checkModeKeys(s, base, issues);
    const vip = attempt(() => parseVip(s.vip));
    const ports = attempt(() => parsePorts(s.port));
    const protocol = s.protocol === undefined ? 'tcp' : s.protocol;
    if (vip !== undefined && ports !== undefined && (protocol === 'tcp' || protocol === 'udp')) {
      checkClaims({ index: i, vip, protocol, ports }, claimed, listeners, issues);
      claimed.push({ index: i, vip, protocol, ports });
    }
    if (pools && typeof s.pool === 'string') checkPool(s, base, vip, ports, pools, issues);
  });
}

/** snat and drain_time are NAT's; DSR needs the interface its hook sits on. */
function checkModeKeys(s: Obj, base: KeyPath, issues: PathIssue[]): void {
  if (s.mode === 'dsr') {
    if (s.interface === undefined) {
      issues.push({ path: [...base, 'mode'], message: 'mode: dsr needs `interface`: the interface the clients\' packets arrive on, where the servers are on the same link (e.g. `interface: eth0`)' });
    }
    if (s.snat !== undefined) {
      issues.push({ path: [...base, 'snat'], at: 'key', message: 'in mode: dsr the balancer never sees the replies, so it cannot rewrite sources: remove `snat` (or use mode: nat)' });
    }
    if (s.drain_time !== undefined) {
      issues.push({ path: [...base, 'drain_time'], at: 'key', message: 'mode: dsr keeps no connection state on the balancer, so there is nothing to drain: remove `drain_time`' });
    }
  }
}

/** How messages name a service's VIP, protocol and ports: "203.0.113.10 tcp/80,443". */
function claimText(c: { vip: string; protocol: string; ports: number[] }): string {
  return `${c.vip} ${c.protocol}/${c.ports.join(',')}`;
}

/** Two services, or a service and a listener bound to its VIP, may not take the same packets. */
function checkClaims(c: { index: number; vip: string; protocol: string; ports: number[] }, earlier: typeof c[], listeners: unknown[], issues: PathIssue[]): void {
  const path: KeyPath = ['services', c.index, 'port'];
  for (const e of earlier) {
    if (e.vip !== c.vip || e.protocol !== c.protocol) continue;
    const both = c.ports.filter((p) => e.ports.includes(p));
    if (both.length === 0) continue;
    issues.push({ path, message: `${c.vip} ${c.protocol}/${both.join(',')} is already taken by services[${e.index}] (${claimText(e)}): a packet can go to one service only` });
  }
  listeners.forEach((l, k) => {
    if (!isObj(l) || typeof l.bind !== 'string') return;
    const bind = attempt(() => parseBind(l.bind as string));
    if (!bind || bind.host !== c.vip || !c.ports.includes(bind.port)) return;
    if ((l.mode === 'udp') !== (c.protocol === 'udp')) return;
    issues.push({
      path,
      message: `listeners[${k}] binds ${l.bind as string}, and this service takes the same packets before they reach it (the kernel rewrites them on arrival): give one of them another address or port`,
    });
  });
}

/**
 * The pool's servers must be IPv4 addresses (the kernel rewrites packets to them), must
 * not expect a PROXY header (no one writes it), and, where the destination port is kept
 * (dsr, or several ports), must listen on one of the service's ports.
 */
function checkPool(s: Obj, base: KeyPath, vip: string | undefined, ports: number[] | undefined, pools: Obj, issues: PathIssue[]): void {
  const poolName = s.pool as string;
  const path: KeyPath = [...base, 'pool'];
  if (!Object.hasOwn(pools, poolName)) {
    issues.push({ path, message: noPoolMessage(poolName, Object.keys(pools)) });
    return;
  }
  const pool = pools[poolName];
  if (!isObj(pool)) return;
  if (pool.send_proxy !== undefined) {
    issues.push({ path, message: `pool \`${poolName}\` sends a PROXY protocol header, which a virtual service cannot write (the kernel forwards the client's own packets): give this service a pool without \`send_proxy\`` });
  }
  const keepsPort = s.mode === 'dsr' || (ports !== undefined && ports.length > 1);
  list(pool.servers).forEach((server, j) => {
    if (!isObj(server) || typeof server.address !== 'string') return;
    const address = attempt(() => parseServerAddress(server.address as string));
    if (!address) return;
    const name = typeof server.name === 'string' ? server.name : defaultServerName(j);
    const where = `server \`${name}\` of pool \`${poolName}\` (${server.address})`;
    if (!isIPv4(address.host)) {
      issues.push({ path, message: `${where} is not an IPv4 address: the kernel data plane sends packets to IPv4 addresses only, so write the server's address` });
      return;
    }
    if (vip !== undefined && address.host === vip) {
      issues.push({ path, message: `${where} is the service's own VIP: the kernel would send the packets back to the balancer; give the server's real address` });
      return;
    }
    if (keepsPort && ports !== undefined && !ports.includes(address.port)) {
      const why = s.mode === 'dsr' ? 'in mode: dsr the packets reach the server unchanged, so it must listen on the port the client used' : 'with several ports the destination port is kept';
      issues.push({ path, message: `${where} listens on port ${address.port}, not one of the service's ports (${ports.join(', ')}): ${why} (the server's port is used for health checks)` });
    }
  });
}
