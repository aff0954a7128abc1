/**
 * Zone data built once from the configuration: names (as name keys, see wire.ts), their
 * static record sets with ready-to-run RDATA encoders, the pool-backed names, and the
 * empty non-terminals between them and the apex. Immutable after construction.
 */
import type { DnsPoolNameConfig, DnsRecordConfig, ZoneConfig } from '../config/types.js';
import { ipv4Bytes, ipv6Bytes, isAtOrBelow, keyToDotted, nameKey, parentKey, TYPE, type MessageWriter } from './wire.js';

/** Writes one record's RDATA. */
export type RdataWriter = (w: MessageWriter) => void;

/** Records of one name and type. */
export interface RRset {
  readonly type: number;
  readonly ttl: number;
  readonly rdata: RdataWriter[];
  /** For CNAME: the target's name key. */
  readonly target?: string;
}

/** One name of a zone: its records, or none (an empty non-terminal). */
export class NameNode {
  /** Static record sets by type. */
  readonly rrsets = new Map<number, RRset>();
  /** Set when A/AAAA answers come from a pool. */
  pool: DnsPoolNameConfig | null = null;
  /** The responder's per-type answer cache for this name (it owns the contents). */
  readonly answers = new Map<number, unknown>();

  constructor(
    /** Name key. */
    readonly key: string,
    readonly zone: Zone,
  ) {}

  /** No records and no pool: a name that exists only because names below it do. */
  get emptyNonTerminal(): boolean {
    return this.rrsets.size === 0 && this.pool === null;
  }
}

/** The A/AAAA RDATA of an address string, or null when it is neither. */
export function addressRdata(host: string): { type: number; bytes: Uint8Array } | null {
  const v4 = ipv4Bytes(host);
  if (v4 !== null) return { type: TYPE.A, bytes: v4 };
  const v6 = host.includes(':') ? ipv6Bytes(host) : null;
  if (v6 !== null) return { type: TYPE.AAAA, bytes: v6 };
  return null;
}

function charStrings(w: MessageWriter, s: string): void {
  const b = Buffer.from(s, 'utf8');
  if (b.length === 0) {
    w.u8(0);
    return;
  }
  for (let i = 0; i < b.length; i += 255) {
    const part = b.subarray(i, i + 255);
    w.u8(part.length);
    w.bytes(part);
  }
}

function field<T>(data: unknown, key: string, check: (v: unknown) => v is T, what: string): T {
  const v = typeof data === 'object' && data !== null ? (data as Record<string, unknown>)[key] : undefined;
  if (!check(v)) throw new Error(`${key} must be ${what}`);
  return v;
}

const isU16 = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffff;
const isU8 = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xff;
const isStr = (v: unknown): v is string => typeof v === 'string';

/** Builds the RDATA writer of one configured record; throws with a readable reason when its data is wrong. */
export function rdataFor(rec: DnsRecordConfig): { type: number; write: RdataWriter; target?: string } {
  const d = rec.data;
  switch (rec.type) {
    case 'A': {
      const b = typeof d === 'string' ? ipv4Bytes(d) : null;
      if (b === null) throw new Error(`A data must be an IPv4 address, not ${JSON.stringify(d)}`);
      return { type: TYPE.A, write: (w) => w.bytes(b) };
    }
    case 'AAAA': {
      const b = typeof d === 'string' ? ipv6Bytes(d) : null;
      if (b === null) throw new Error(`AAAA data must be an IPv6 address, not ${JSON.stringify(d)}`);
      return { type: TYPE.AAAA, write: (w) => w.bytes(b) };
    }
    case 'CNAME':
    case 'NS': {
      if (typeof d !== 'string') throw new Error(`${rec.type} data must be a name`);
      const k = nameKey(d);
      return { type: rec.type === 'NS' ? TYPE.NS : TYPE.CNAME, write: (w) => w.name(k), target: k };
    }
    case 'TXT': {
      const parts = typeof d === 'string' ? [d] : Array.isArray(d) && d.every(isStr) ? (d as string[]) : null;
      if (parts === null) throw new Error('TXT data must be a string or a list of strings');
      return { type: TYPE.TXT, write: (w) => (parts.length === 0 ? w.u8(0) : parts.forEach((s) => charStrings(w, s))) };
    }
    case 'MX': {
      const pref = field(d, 'preference', isU16, 'an integer 0..65535');
      const ex = nameKey(field(d, 'exchange', isStr, 'a name'));
      return {
        type: TYPE.MX,
        write: (w) => {
          w.u16(pref);
          w.name(ex);
        },
      };
    }
    case 'SRV': {
      const prio = field(d, 'priority', isU16, 'an integer 0..65535');
      const weight = field(d, 'weight', isU16, 'an integer 0..65535');
      const port = field(d, 'port', isU16, 'an integer 0..65535');
      const target = nameKey(field(d, 'target', isStr, 'a name'));
      return {
        type: TYPE.SRV,
        write: (w) => {
          w.u16(prio);
          w.u16(weight);
          w.u16(port);
          w.name(target, false);
        },
      };
    }
    case 'CAA': {
      const flags = field(d, 'flags', isU8, 'an integer 0..255');
      const tag = Buffer.from(field(d, 'tag', isStr, 'a string'), 'ascii');
      const value = Buffer.from(field(d, 'value', isStr, 'a string'), 'utf8');
      if (tag.length === 0 || tag.length > 255) throw new Error('CAA tag must be 1..255 characters');
      return {
        type: TYPE.CAA,
        write: (w) => {
          w.u8(flags);
          w.u8(tag.length);
          w.bytes(tag);
          w.bytes(value);
        },
      };
    }
  }
}

/**
 * One zone: the apex (with its SOA), every configured name, and the empty
 * non-terminals. Throws on names outside the zone, a CNAME beside other data, or
 * malformed record data, naming the record.
 */
export class Zone {
  /** Name key of the apex. */
  readonly origin: string;
  readonly nodes = new Map<string, NameNode>();
  readonly apex: NameNode;
  /** RFC 2308: the TTL of the SOA in negative answers, min(SOA TTL, SOA MINIMUM). */
  readonly negativeTtl: number;
  /** Writes the SOA RDATA. */
  readonly soaRdata: RdataWriter;

  constructor(readonly config: ZoneConfig) {
    this.origin = nameKey(config.origin);
    this.apex = this.ensure(this.origin);
    const s = config.soa;
    const mname = nameKey(s.mname);
    const rname = nameKey(s.rname);
    this.soaRdata = (w) => {
      w.name(mname);
      w.name(rname);
      w.u32(s.serial);
      w.u32(s.refresh);
      w.u32(s.retry);
      w.u32(s.expire);
      w.u32(s.minimum);
    };
    this.negativeTtl = Math.min(s.ttl, s.minimum);
    this.apex.rrsets.set(TYPE.SOA, { type: TYPE.SOA, ttl: s.ttl, rdata: [this.soaRdata] });

    for (const rec of config.records) {
      const where = `zone ${config.origin}: ${rec.type} record ${rec.name}`;
      let key: string;
      let rd: ReturnType<typeof rdataFor>;
      try {
        key = nameKey(rec.name);
        rd = rdataFor(rec);
      } catch (err) {
        throw new Error(`${where}: ${(err as Error).message}`);
      }
      if (!isAtOrBelow(key, this.origin)) throw new Error(`${where}: the name is outside the zone`);
      const n = this.ensure(key);
      const set = n.rrsets.get(rd.type);
      if (set === undefined) n.rrsets.set(rd.type, { type: rd.type, ttl: rec.ttl, rdata: [rd.write], target: rd.target });
      else {
        if (rd.type === TYPE.CNAME) throw new Error(`${where}: a name has at most one CNAME`);
        // One TTL per RRset (RFC 2181 5.2): the lowest wins.
        n.rrsets.set(rd.type, { ...set, ttl: Math.min(set.ttl, rec.ttl), rdata: [...set.rdata, rd.write] });
      }
    }
    for (const p of config.pools) {
      const where = `zone ${config.origin}: pool-backed name ${p.name}`;
      const key = nameKey(p.name);
      if (!isAtOrBelow(key, this.origin)) throw new Error(`${where}: the name is outside the zone`);
      const n = this.ensure(key);
      if (n.pool !== null) throw new Error(`${where}: the name is already backed by pool ${n.pool.pool}`);
      n.pool = p;
    }
    for (const n of this.nodes.values()) {
      if (n.rrsets.has(TYPE.CNAME) && (n.rrsets.size > 1 || n.pool !== null)) {
        throw new Error(`zone ${config.origin}: ${keyToDotted(n.key)} has a CNAME and other data (RFC 1034 3.6.2)`);
      }
    }
  }

  /** The node of `key`, created (with empty non-terminals up to the apex) when missing. */
  private ensure(key: string): NameNode {
    let n = this.nodes.get(key);
    if (n !== undefined) return n;
    n = new NameNode(key, this);
    this.nodes.set(key, n);
    const parent = key === this.origin ? null : parentKey(key);
    if (parent !== null) this.ensure(parent);
    return n;
  }

  /** Every static record and pool-backed name in a stable order, apex first (for AXFR). */
  *walk(): Generator<NameNode> {
    yield this.apex;
    for (const n of this.nodes.values()) if (n !== this.apex) yield n;
  }
}

/** Every zone, with one lookup table of all names; the most specific zone owns a name. */
export class ZoneSet {
  readonly zones: Zone[];
  private readonly byOrigin = new Map<string, Zone>();
  private readonly names = new Map<string, NameNode>();

  /** Builds every zone; throws (with the zone and record named) on bad data or a zone listed twice. */
  constructor(configs: readonly ZoneConfig[]) {
    this.zones = configs.map((c) => new Zone(c));
    for (const z of this.zones) {
      if (this.byOrigin.has(z.origin)) throw new Error(`zone ${z.config.origin} is listed twice`);
      this.byOrigin.set(z.origin, z);
    }
    // Deeper zones last, so that they own the names they share with a parent zone.
    const byDepth = [...this.zones].sort((a, b) => a.origin.length - b.origin.length);
    for (const z of byDepth) for (const [k, n] of z.nodes) this.names.set(k, n);
  }

  /** The node of a name key in any zone, or undefined. One map lookup. */
  node(key: string): NameNode | undefined {
    return this.names.get(key);
  }

  /** The most specific zone containing `key` (at or below its apex), or undefined. */
  zoneOf(key: string): Zone | undefined {
    let k: string | null = key;
    while (k !== null) {
      const z = this.byOrigin.get(k);
      if (z !== undefined) return z;
      k = parentKey(k);
    }
    return undefined;
  }
}
