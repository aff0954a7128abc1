import net from 'node:net';

/**
 * A set of networks (CIDRs or addresses) asked whether a client address is in one of
 * them: built once, read per connection or request. Backed by node's net.BlockList;
 * an IPv4-mapped IPv6 address counts as IPv4.
 */
export class CidrSet {
  private readonly list = new net.BlockList();
  /** No network at all: `has` answers false without asking BlockList (whose check allocates). */
  readonly empty: boolean;

  constructor(cidrs: readonly string[]) {
    this.empty = cidrs.length === 0;
    for (const cidr of cidrs) {
      const [addr, len] = cidr.split('/');
      const family = addr!.includes(':') ? 'ipv6' : 'ipv4';
      this.list.addSubnet(addr!, Number(len ?? (family === 'ipv6' ? 128 : 32)), family);
    }
  }

  /** Whether `ip` ("192.0.2.7", "2001:db8::1", "::ffff:192.0.2.7") lies in one of the networks. */
  has(ip: string): boolean {
    if (this.empty || ip === '') return false;
    const v4 = ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
    return this.list.check(v4, v4.includes(':') ? 'ipv6' : 'ipv4');
  }
}
