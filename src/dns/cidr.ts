/**
 * A longest-prefix-match table of CIDR ranges (IPv4 and IPv6), as binary tries, that
 * also says how many leading address bits an answer depended on: the SCOPE
 * PREFIX-LENGTH of an EDNS Client Subnet reply (RFC 7871).
 */
import { ipv4Bytes, ipv6Bytes } from './wire.js';

interface TrieNode<T> {
  c0: TrieNode<T> | null;
  c1: TrieNode<T> | null;
  has: boolean;
  value: T | undefined;
  /** Depth of the shallowest entry strictly below this node (Infinity when none). */
  minBelow: number;
}

function node<T>(): TrieNode<T> {
  return { c0: null, c1: null, has: false, value: undefined, minBelow: Infinity };
}

/** The result of a lookup; one object is reused per table (read it before the next lookup). */
export interface CidrMatch<T> {
  /** The value of the most specific matching entry; undefined when none matched. */
  value: T | undefined;
  /** Prefix length of that entry (-1 when none matched). */
  prefix: number;
  /**
   * Leading bits of the address the result depended on: every address sharing this many
   * bits gets the same result. The matched prefix length, or more when a more specific
   * entry nearby had to be ruled out; 0 when the table has no entry for the family. It
   * may exceed `limit` (RFC 7871: the client's prefix was not specific enough), except
   * when `limit` is 0.
   */
  scope: number;
}

/** A CIDR string -> family, address octets (host bits cleared) and prefix length. Throws when malformed. */
export function parseCidrText(text: string): { family: 4 | 6; bytes: Uint8Array; prefix: number } {
  const slash = text.indexOf('/');
  const addr = slash < 0 ? text : text.slice(0, slash);
  const v4 = addr.includes(':') ? null : ipv4Bytes(addr);
  const bytes = v4 ?? (addr.includes(':') ? ipv6Bytes(addr) : null);
  if (bytes === null) throw new Error(`${JSON.stringify(text)} is not an IP address or CIDR range`);
  const max = bytes.length * 8;
  let prefix = max;
  if (slash >= 0) {
    const p = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p) || Number(p) > max) throw new Error(`${JSON.stringify(text)}: prefix length must be 0..${max}`);
    prefix = Number(p);
  }
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.max(0, Math.min(8, prefix - 8 * i));
    bytes[i] = bytes[i]! & ((0xff << (8 - keep)) & 0xff);
  }
  return { family: v4 !== null ? 4 : 6, bytes, prefix };
}

/**
 * CIDR -> value, most specific prefix wins. Build it with `add`, then query it with
 * `lookup`; tables are replaced whole when their source changes, never edited while in
 * use. A lookup walks at most 32 (IPv4) or 128 (IPv6) trie levels and allocates nothing.
 */
export class CidrTable<T> {
  private readonly v4 = node<T>();
  private readonly v6 = node<T>();
  private dirty = false;
  private readonly result: CidrMatch<T> = { value: undefined, prefix: -1, scope: 0 };
  /** Entries added (a repeated CIDR counts once). */
  size = 0;

  /** Adds (or replaces) an entry. Throws when `cidr` is malformed. */
  add(cidr: string, value: T): void {
    const { family, bytes, prefix } = parseCidrText(cidr);
    let n = family === 4 ? this.v4 : this.v6;
    for (let d = 0; d < prefix; d++) {
      const bit = (bytes[d >> 3]! >> (7 - (d & 7))) & 1;
      let next = bit === 0 ? n.c0 : n.c1;
      if (next === null) {
        next = node<T>();
        if (bit === 0) n.c0 = next;
        else n.c1 = next;
      }
      n = next;
    }
    if (!n.has) this.size++;
    n.has = true;
    n.value = value;
    this.dirty = true;
  }

  private finish(): void {
    const walk = (n: TrieNode<T>, depth: number): number => {
      let min = Infinity;
      for (const c of [n.c0, n.c1]) {
        if (c === null) continue;
        const below = walk(c, depth + 1);
        min = Math.min(min, c.has ? depth + 1 : Infinity, below);
      }
      n.minBelow = min;
      return min;
    };
    walk(this.v4, 0);
    walk(this.v6, 0);
    this.dirty = false;
  }

  /**
   * The most specific entry containing the first `limit` bits of `addr` (4 octets for
   * family 4, 16 for family 6); entries longer than `limit` are not considered. The
   * returned object is reused by the next lookup.
   */
  lookup(addr: Uint8Array, family: 4 | 6, limit: number): CidrMatch<T> {
    if (this.dirty) this.finish();
    let n = family === 4 ? this.v4 : this.v6;
    const r = this.result;
    r.value = n.has ? n.value : undefined;
    r.prefix = n.has ? 0 : -1;
    let depth = 0;
    while (depth < limit) {
      const bit = (addr[depth >> 3]! >> (7 - (depth & 7))) & 1;
      const next = bit === 0 ? n.c0 : n.c1;
      if (next === null) break;
      n = next;
      depth++;
      if (n.has) {
        r.value = n.value;
        r.prefix = depth;
      }
    }
    const deeper = n.c0 !== null || n.c1 !== null;
    if (!deeper) r.scope = depth;
    else if (depth < limit) r.scope = depth + 1;
    else r.scope = limit === 0 ? 0 : n.minBelow;
    return r;
  }
}
