/**
 * What the data plane needs to know about the host's links, asked with iproute2's JSON
 * output (`ip -j`): whether an interface exists and its MAC address, the local
 * addresses (is the VIP on the balancer?), the route to a server (is it on the link?),
 * the neighbour table (servers' MAC addresses), and sysctl values. Also nudges the
 * kernel to resolve a server's MAC address when the table has none.
 */
import dgram from 'node:dgram';
import { dataplaneError } from './driver.js';
import type { Host } from './host.js';

/** A neighbour entry that holds a usable MAC address (not FAILED or INCOMPLETE). */
const USABLE_STATES = new Set(['REACHABLE', 'STALE', 'DELAY', 'PROBE', 'PERMANENT', 'NOARP']);

async function ipJson(host: Host, args: string[]): Promise<{ ok: true; value: unknown[] } | { ok: false; error: string }> {
  let r;
  try {
    r = await host.run('ip', ['-j', ...args]);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw dataplaneError('ip (iproute2) is not installed: the data plane reads interfaces and neighbours with it (Debian: apt-get install iproute2)', err);
    throw err;
  }
  if (r.code !== 0) return { ok: false, error: (r.stderr || r.stdout).trim() };
  try {
    const v = JSON.parse(r.stdout || '[]') as unknown;
    return { ok: true, value: Array.isArray(v) ? v : [] };
  } catch {
    return { ok: false, error: `ip ${args.join(' ')} printed something other than JSON` };
  }
}

/** The interface's MAC address (lower-case), or null when there is no such interface. */
export async function interfaceMac(host: Host, iface: string): Promise<string | null> {
  const r = await ipJson(host, ['link', 'show', 'dev', iface]);
  if (!r.ok) return null;
  const link = r.value[0] as { address?: string; link_type?: string } | undefined;
  if (link === undefined) return null;
  return typeof link.address === 'string' ? link.address.toLowerCase() : '';
}

/** Whether the interface exists. */
export async function interfaceExists(host: Host, iface: string): Promise<boolean> {
  return (await interfaceMac(host, iface)) !== null;
}

/** Every IPv4 address configured on the host, with its interface. */
export async function localAddresses(host: Host): Promise<Array<{ address: string; iface: string }>> {
  const r = await ipJson(host, ['-4', 'addr', 'show']);
  if (!r.ok) throw dataplaneError(`cannot list the addresses of ${host.where}: ${r.error}`);
  const out: Array<{ address: string; iface: string }> = [];
  for (const link of r.value as Array<{ ifname?: string; addr_info?: Array<{ local?: string }> }>) {
    for (const a of link.addr_info ?? []) if (typeof a.local === 'string') out.push({ address: a.local, iface: link.ifname ?? '?' });
  }
  return out;
}

/** How the host reaches `ip`: the device, and the gateway when not on the link; null when it has no route. */
export async function routeTo(host: Host, ip: string): Promise<{ dev: string; gateway: string | null } | null> {
  const r = await ipJson(host, ['route', 'get', ip]);
  if (!r.ok) return null;
  const route = r.value[0] as { dev?: string; gateway?: string } | undefined;
  if (route?.dev === undefined) return null;
  return { dev: route.dev, gateway: route.gateway ?? null };
}

/** The neighbour table of an interface: IPv4 address -> MAC address, usable entries only. */
export async function neighbours(host: Host, iface: string): Promise<Map<string, string>> {
  const r = await ipJson(host, ['-4', 'neigh', 'show', 'dev', iface]);
  const out = new Map<string, string>();
  if (!r.ok) return out;
  for (const n of r.value as Array<{ dst?: string; lladdr?: string; state?: string[] }>) {
    if (typeof n.dst !== 'string' || typeof n.lladdr !== 'string') continue;
    if (!(n.state ?? []).some((s) => USABLE_STATES.has(s))) continue;
    out.set(n.dst, n.lladdr.toLowerCase());
  }
  return out;
}

/** A sysctl value under /proc/sys ("net.ipv4.ip_forward"), or null when it cannot be read. */
export async function sysctl(host: Host, key: string): Promise<string | null> {
  try {
    const r = await host.run('cat', [`/proc/sys/${key.replaceAll('.', '/')}`]);
    return r.code === 0 ? r.stdout.trim() : null;
  } catch {
    return null;
  }
}

/**
 * Makes the kernel resolve `ip`'s MAC address by sending it one empty UDP datagram to
 * the discard port (9): the neighbour table then learns the address from the ARP reply.
 * In a namespace of another process (tests) it does the same with bash's /dev/udp.
 */
export async function provokeNeighbour(host: Host, ip: string, inProcess: boolean): Promise<void> {
  if (!inProcess) {
    await host.run('bash', ['-c', `echo > /dev/udp/${ip}/9`]).catch(() => undefined);
    return;
  }
  await new Promise<void>((resolve) => {
    const sock = dgram.createSocket('udp4');
    const done = () => {
      sock.close();
      resolve();
    };
    sock.on('error', done);
    sock.send(Buffer.alloc(0), 9, ip, done);
  });
}
