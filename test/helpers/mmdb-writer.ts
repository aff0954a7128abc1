/**
 * A minimal MaxMind DB (MMDB, binary format 2.0) writer, for tests: there is no GeoLite2
 * database in the test environment and none may be downloaded. It writes what the
 * `maxmind` reader needs (https://maxmind.github.io/MaxMind-DB/):
 *
 *   search tree | 16 zero octets | data section | "\xAB\xCD\xEFMaxMind.com" | metadata map
 *
 * The tree is a binary trie over the 128 bits of an IPv6 address (ip_version 6), IPv4
 * networks at ::a.b.c.d/(96 + prefix) as MaxMind's databases store them, with 24-bit
 * records: a record below node_count names a node, node_count means "no data", and
 * node_count + 16 + offset points into the data section. Data values are maps, arrays,
 * UTF-8 strings, unsigned integers (uint16/uint32/uint64), doubles and booleans; equal
 * values are written once.
 */
import { parseCidrText } from '../../src/dns/cidr.js';

/** A number written with an explicit MMDB type (plain numbers are written as uint32, or double when not integral). */
export class Typed {
  constructor(
    readonly type: 'uint16' | 'uint32' | 'uint64' | 'double',
    readonly value: number | bigint,
  ) {}
}

export const u16 = (n: number) => new Typed('uint16', n);
export const u64 = (n: number | bigint) => new Typed('uint64', n);

/** A value of the data section. */
export type MmdbValue = string | number | boolean | Typed | MmdbValue[] | { [key: string]: MmdbValue };

/** One network of the database: a CIDR (IPv4 or IPv6) and the record its addresses map to. */
export interface MmdbNetwork {
  cidr: string;
  data: MmdbValue;
}

export interface MmdbOptions {
  databaseType?: string;
  description?: string;
  languages?: string[];
  /** Seconds since the epoch (default: now). */
  buildEpoch?: number;
}

/** The record a GeoIP2-Country lookup returns, for the given codes (either may be omitted). */
export function countryRecord(country: string | null, continent: string | null): MmdbValue {
  const out: { [key: string]: MmdbValue } = {};
  if (continent !== null) out.continent = { code: continent, geoname_id: 6_255_148, names: { en: `continent ${continent}` } };
  if (country !== null) out.country = { iso_code: country, geoname_id: 2_921_044, names: { en: `country ${country}` } };
  return out;
}

// ---- data section encoding ----------------------------------------------------------

const T = { pointer: 1, string: 2, double: 3, bytes: 4, uint16: 5, uint32: 6, map: 7, int32: 8, uint64: 9, uint128: 10, array: 11, boolean: 14, float: 15 } as const;

/** Control byte(s) for a field of `type` and `size`: type in the top 3 bits (or an extended type byte), size in the low 5 bits plus up to 3 octets. */
function control(type: number, size: number): Buffer {
  let sizeBits: number;
  let extra: number[] = [];
  if (size < 29) sizeBits = size;
  else if (size < 29 + 256) {
    sizeBits = 29;
    extra = [size - 29];
  } else if (size < 285 + 65_536) {
    sizeBits = 30;
    const v = size - 285;
    extra = [v >> 8, v & 0xff];
  } else {
    sizeBits = 31;
    const v = size - 65_821;
    extra = [(v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff];
  }
  if (type <= 7) return Buffer.from([(type << 5) | sizeBits, ...extra]);
  return Buffer.from([sizeBits, type - 7, ...extra]);
}

/** Minimal big-endian octets of an unsigned integer (none for 0). */
function uintBytes(v: bigint, max: number): Buffer {
  if (v < 0n) throw new Error(`mmdb-writer: negative unsigned integer ${v}`);
  const out: number[] = [];
  while (v > 0n) {
    out.unshift(Number(v & 0xffn));
    v >>= 8n;
  }
  if (out.length > max) throw new Error(`mmdb-writer: integer too large for ${max} octets`);
  return Buffer.from(out);
}

/** Encodes one value (no pointers: every value is written in full). */
export function encodeValue(v: MmdbValue): Buffer {
  if (v instanceof Typed) {
    if (v.type === 'double') {
      const b = Buffer.alloc(8);
      b.writeDoubleBE(Number(v.value));
      return Buffer.concat([control(T.double, 8), b]);
    }
    const max = v.type === 'uint16' ? 2 : v.type === 'uint32' ? 4 : 8;
    const b = uintBytes(BigInt(v.value), max);
    return Buffer.concat([control(T[v.type], b.length), b]);
  }
  if (typeof v === 'string') {
    const b = Buffer.from(v, 'utf8');
    return Buffer.concat([control(T.string, b.length), b]);
  }
  if (typeof v === 'number') return encodeValue(Number.isInteger(v) && v >= 0 && v < 2 ** 32 ? new Typed('uint32', v) : new Typed('double', v));
  if (typeof v === 'boolean') return control(T.boolean, v ? 1 : 0);
  if (Array.isArray(v)) return Buffer.concat([control(T.array, v.length), ...v.map(encodeValue)]);
  const entries = Object.entries(v);
  return Buffer.concat([control(T.map, entries.length), ...entries.flatMap(([k, x]) => [encodeValue(k), encodeValue(x)])]);
}

// ---- search tree --------------------------------------------------------------------

interface Node {
  c: [Node | number | null, Node | number | null]; // child node, data offset, or nothing
  id: number;
}

const newNode = (): Node => ({ c: [null, null], id: -1 });

/** 16 octets and a prefix length out of 128 for a CIDR (IPv4 as ::a.b.c.d/96+p). */
function tree128(cidr: string): { bytes: Uint8Array; prefix: number } {
  const { family, bytes, prefix } = parseCidrText(cidr);
  if (family === 6) return { bytes, prefix };
  const b = new Uint8Array(16);
  b.set(bytes, 12);
  return { bytes: b, prefix: prefix + 96 };
}

/** Writes an MMDB file's bytes for `networks` (later entries win where networks overlap exactly; a longer prefix inside a shorter one wins for its addresses). */
export function writeMmdb(networks: readonly MmdbNetwork[], opts: MmdbOptions = {}): Buffer {
  // Data section: each distinct value once.
  const offsets = new Map<string, number>();
  const chunks: Buffer[] = [];
  let dataSize = 0;
  const dataOffset = (v: MmdbValue): number => {
    const enc = encodeValue(v);
    const key = enc.toString('hex');
    let off = offsets.get(key);
    if (off === undefined) {
      off = dataSize;
      offsets.set(key, off);
      chunks.push(enc);
      dataSize += enc.length;
    }
    return off;
  };

  // Sort by prefix so shorter networks are placed first and longer ones split them.
  const sorted = networks.map((n) => ({ ...tree128(n.cidr), off: dataOffset(n.data) })).sort((a, b) => a.prefix - b.prefix);
  const root = newNode();
  for (const n of sorted) {
    if (n.prefix === 0) throw new Error('mmdb-writer: a /0 network is not supported');
    let cur = root;
    for (let d = 0; d < n.prefix - 1; d++) {
      const bit = (n.bytes[d >> 3]! >> (7 - (d & 7))) & 1;
      const child = cur.c[bit];
      if (typeof child === 'object' && child !== null) {
        cur = child;
        continue;
      }
      // Nothing or a data leaf here: a node whose halves both keep what was there.
      const split = newNode();
      split.c = [child, child];
      cur.c[bit] = split;
      cur = split;
    }
    const last = n.prefix - 1;
    cur.c[(n.bytes[last >> 3]! >> (7 - (last & 7))) & 1] = n.off;
  }

  // Number the nodes breadth first (root 0).
  const order: Node[] = [];
  const queue: Node[] = [root];
  while (queue.length > 0) {
    const n = queue.shift()!;
    n.id = order.length;
    order.push(n);
    for (const c of n.c) if (typeof c === 'object' && c !== null) queue.push(c);
  }
  const nodeCount = order.length;
  if (nodeCount + 16 + dataSize >= 2 ** 24) throw new Error('mmdb-writer: too large for 24-bit records');
  const tree = Buffer.alloc(nodeCount * 6);
  const record = (c: Node | number | null): number => (c === null ? nodeCount : typeof c === 'number' ? nodeCount + 16 + c : c.id);
  for (const n of order) {
    tree.writeUIntBE(record(n.c[0]), n.id * 6, 3);
    tree.writeUIntBE(record(n.c[1]), n.id * 6 + 3, 3);
  }

  const metadata = encodeValue({
    binary_format_major_version: u16(2),
    binary_format_minor_version: u16(0),
    build_epoch: u64(opts.buildEpoch ?? Math.floor(Date.now() / 1000)),
    database_type: opts.databaseType ?? 'Fulcrum-Test-Country',
    description: { en: opts.description ?? 'Fulcrum test database' },
    ip_version: u16(6),
    languages: opts.languages ?? ['en'],
    node_count: new Typed('uint32', nodeCount),
    record_size: u16(24),
  });
  return Buffer.concat([tree, Buffer.alloc(16), ...chunks, Buffer.from('\xAB\xCD\xEFMaxMind.com', 'latin1'), metadata]);
}

/** The networks of the tests: 192.0.2.0/25 DE/EU, 198.51.100.0/24 US/NA, 203.0.113.0/24 continent OC only, 2001:db8:1::/48 DE/EU. */
export const SAMPLE_NETWORKS: readonly MmdbNetwork[] = [
  { cidr: '192.0.2.0/25', data: countryRecord('DE', 'EU') },
  { cidr: '198.51.100.0/24', data: countryRecord('US', 'NA') },
  { cidr: '203.0.113.0/24', data: countryRecord(null, 'OC') },
  { cidr: '2001:db8:1::/48', data: countryRecord('DE', 'EU') },
];
