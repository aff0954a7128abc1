import net from 'node:net';
import { parseIpv4 } from '../../core/ipv4.js';

/**
 * A set of networks (CIDRs or addresses) asked whether a client address is in one of
 * them: built once, read per connection or request. IPv4 networks are kept as masked
 * numbers per prefix length and an IPv4 address is parsed by hand, without allocating
 * (net.BlockList.check costs about 2 µs a call, which the per-request allow lists and
 * route `client` tests cannot afford); IPv6 networks go to net.BlockList. An
 * IPv4-mapped IPv6 address counts as IPv4.
 */
export class CidrSet {
  /** IPv6 networks, or null when there are none. */
  private readonly list: net.BlockList | null = null;
  /** IPv4 networks by prefix length, longest first: the mask and the masked network numbers. */
  private readonly v4: Array<{ mask: number; nets: Set<number> }> = [];
  /** No network at all: `has` answers false at once. */
  readonly empty: boolean;

  constructor(cidrs: readonly string[]) {
    this.empty = cidrs.length === 0;
    const byLength = new Map<number, Set<number>>();
    for (const cidr of cidrs) {
      const [addr, len] = cidr.split('/');
      if (!addr!.includes(':')) {
        const bits = Number(len ?? 32);
        const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
        const nets = byLength.get(bits) ?? byLength.set(bits, new Set()).get(bits)!;
        nets.add((parseIpv4(addr!) & mask) >>> 0);
        continue;
      }
      this.list ??= new net.BlockList();
      this.list.addSubnet(addr!, Number(len ?? 128), 'ipv6');
    }
    for (const bits of [...byLength.keys()].sort((a, b) => b - a)) {
      this.v4.push({ mask: bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0, nets: byLength.get(bits)! });
    }
  }

  /** Whether `ip` ("192.0.2.7", "2001:db8::1", "::ffff:192.0.2.7") lies in one of the networks. */
  has(ip: string): boolean {
    if (this.empty || ip === '') return false;
    const v4 = ip.charCodeAt(0) === 0x3a && ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
    const n = parseIpv4(v4);
    if (n >= 0) {
      for (const g of this.v4) if (g.nets.has((n & g.mask) >>> 0)) return true;
      return false;
    }
    return this.list !== null && v4.includes(':') && this.list.check(v4, 'ipv6');
  }
}
