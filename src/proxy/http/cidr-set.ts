import { CidrTable, parseCidrText } from '../../dns/cidr.js';

/** A set of networks (CIDRs) asked whether an address is in one of them; built once, read per request. */
export class CidrSet {
  private readonly table = new CidrTable<true>();

  constructor(cidrs: readonly string[]) {
    for (const c of cidrs) this.table.add(c, true);
  }

  /** Whether `ip` ("192.0.2.7", "2001:db8::1", "::ffff:192.0.2.7") lies in one of the networks. */
  has(ip: string): boolean {
    let text = ip;
    if (text.startsWith('::ffff:') && text.includes('.')) text = text.slice(7);
    let a: { family: 4 | 6; bytes: Uint8Array };
    try {
      a = parseCidrText(text);
    } catch {
      return false;
    }
    return this.table.lookup(a.bytes, a.family, a.family === 4 ? 32 : 128).value === true;
  }
}
