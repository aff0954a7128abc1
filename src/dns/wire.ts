/**
 * DNS wire format: the query parser the responder runs on every packet, and the
 * encoding helpers (names with compression, records, OPT) it uses to build answers.
 *
 * Names inside the DNS code are kept in one form, a "name key": the uncompressed wire
 * form of the name, lower-cased (ASCII only, as DNS compares names), as a latin1 string,
 * terminal zero octet included. `www.example.com.` is "\x03www\x07example\x03com\x00".
 * A key's suffixes at label boundaries are the keys of its parent names, which makes zone
 * lookups and compression dictionaries cheap, and it can be built from packet bytes
 * without decoding labels.
 */

/** Record types the server knows by number. */
export const TYPE = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  OPT: 41,
  IXFR: 251,
  AXFR: 252,
  MAILB: 253,
  MAILA: 254,
  ANY: 255,
  CAA: 257,
} as const;

/** Classes. */
export const CLASS = { IN: 1, CH: 3, HS: 4, NONE: 254, ANY: 255 } as const;

/** Response codes; BADVERS is extended (its upper bits travel in the OPT record). */
export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5, BADVERS: 16 } as const;

/** EDNS option code of Client Subnet (RFC 7871). */
export const OPTION_ECS = 8;

/** Largest UDP payload we accept and advertise with EDNS (the DNS flag day 2020 figure). */
export const EDNS_UDP_MAX = 1232;
/** Largest UDP answer to a query without EDNS (RFC 1035). */
export const UDP_PLAIN_MAX = 512;
/** Largest DNS message over TCP (two-octet length prefix). */
export const TCP_MAX = 65535;

/**
 * What the parser decided about a packet: OK (a well-formed standard query: answer it),
 * DROP (shorter than a header, or a response: drop silently), FORMERR (malformed: answer
 * FORMERR, with the question when `questionEnd > 0`), NOTIMP (an opcode other than
 * QUERY), BADVERS (EDNS version above 0).
 */
export const ParseStatus = { OK: 0, DROP: 1, FORMERR: 2, NOTIMP: 3, BADVERS: 4 } as const;
/** One of the ParseStatus values. */
export type ParseStatus = (typeof ParseStatus)[keyof typeof ParseStatus];

/**
 * One parsed query. The responder keeps a single instance and re-fills it for every
 * packet (`parseQuery`), so parsing allocates only the name key string.
 */
export class ParsedQuery {
  id = 0;
  /** Header octets 2 and 3 as one number. */
  flags = 0;
  opcode = 0;
  qdcount = 0;
  /** Offset just past the question (0 when the question could not be read). */
  questionEnd = 0;
  /** Offset just past QNAME (the terminal zero octet). */
  qnameEnd = 0;
  qtype = 0;
  qclass = 0;
  /** The question name as a name key (lower-cased wire form, latin1). */
  qname = '';
  /** An OPT record was present and well formed. */
  edns = false;
  /** Requestor's UDP payload size (OPT CLASS), as sent. */
  udpSize = 0;
  ednsVersion = 0;
  /** The DO bit (RFC 3225), copied into the answer's OPT. */
  dnssecOk = false;
  /** A Client Subnet option was present and well formed. */
  ecs = false;
  /** ECS FAMILY: 1 IPv4, 2 IPv6. */
  ecsFamily = 0;
  ecsSourcePrefix = 0;
  /** Offset of the ECS option's data (FAMILY) in the packet and its length: echoed as is. */
  ecsOffset = 0;
  ecsLength = 0;
  /** The ECS ADDRESS, zero-padded to 4 or 16 octets, bits past SOURCE PREFIX-LENGTH cleared. */
  readonly ecsAddress = new Uint8Array(16);
  /** Why a packet was judged malformed (for tests and debugging). */
  error = '';
}

const scratch = Buffer.allocUnsafe(256);

/**
 * Reads a query into `q`. Cost: one pass over the question and the additional section;
 * the only allocation is the QNAME key string. Never throws on any input.
 *
 * Rules: shorter than 12 octets or QR=1 -> DROP. Opcode other than QUERY -> NOTIMP
 * (the question is still read when possible, for the echo). QDCOUNT other than 1,
 * ANCOUNT or NSCOUNT non-zero, a bad name (compression pointer, label over 63, name
 * over 255), truncated records, more than one OPT, an OPT not owned by the root, a
 * malformed option list, or a malformed ECS option (unknown FAMILY, SOURCE PREFIX-LENGTH
 * too long for the family, ADDRESS not exactly ceil(SOURCE/8) octets, non-zero bits past
 * SOURCE PREFIX-LENGTH, as RFC 7871 section 6 asks) -> FORMERR. EDNS version above 0 ->
 * BADVERS. Unknown EDNS options and other additional records are ignored.
 */
export function parseQuery(buf: Uint8Array, q: ParsedQuery): ParseStatus {
  const len = buf.length;
  q.questionEnd = 0;
  q.qnameEnd = 0;
  q.edns = false;
  q.ecs = false;
  q.dnssecOk = false;
  q.error = '';
  q.qname = '';
  if (len < 12) return ParseStatus.DROP;
  if ((buf[2]! & 0x80) !== 0) return ParseStatus.DROP;
  q.id = (buf[0]! << 8) | buf[1]!;
  q.flags = (buf[2]! << 8) | buf[3]!;
  q.opcode = (buf[2]! >> 3) & 0x0f;
  const qd = (buf[4]! << 8) | buf[5]!;
  const an = (buf[6]! << 8) | buf[7]!;
  const ns = (buf[8]! << 8) | buf[9]!;
  const ar = (buf[10]! << 8) | buf[11]!;
  q.qdcount = qd;
  if (qd !== 1) {
    q.error = `QDCOUNT ${qd}`;
    return q.opcode !== 0 ? ParseStatus.NOTIMP : ParseStatus.FORMERR;
  }
  // QNAME: labels, lower-cased into the scratch buffer for the key.
  let p = 12;
  let n = 0;
  for (;;) {
    if (p >= len) {
      q.error = 'truncated QNAME';
      return q.opcode !== 0 ? ParseStatus.NOTIMP : ParseStatus.FORMERR;
    }
    const l = buf[p]!;
    if (l === 0) {
      scratch[n++] = 0;
      p++;
      break;
    }
    if (l > 63) {
      q.error = l >= 0xc0 ? 'compression pointer in QNAME' : 'bad label type in QNAME';
      return q.opcode !== 0 ? ParseStatus.NOTIMP : ParseStatus.FORMERR;
    }
    if (n + l + 2 > 255 || p + 1 + l > len) {
      q.error = n + l + 2 > 255 ? 'QNAME longer than 255 octets' : 'truncated QNAME';
      return q.opcode !== 0 ? ParseStatus.NOTIMP : ParseStatus.FORMERR;
    }
    scratch[n++] = l;
    p++;
    for (let i = 0; i < l; i++) {
      const c = buf[p++]!;
      scratch[n++] = c >= 0x41 && c <= 0x5a ? c | 0x20 : c;
    }
  }
  if (p + 4 > len) {
    q.error = 'truncated question';
    return q.opcode !== 0 ? ParseStatus.NOTIMP : ParseStatus.FORMERR;
  }
  q.qnameEnd = p;
  q.qtype = (buf[p]! << 8) | buf[p + 1]!;
  q.qclass = (buf[p + 2]! << 8) | buf[p + 3]!;
  p += 4;
  q.questionEnd = p;
  q.qname = scratch.toString('latin1', 0, n);
  if (q.opcode !== 0) return ParseStatus.NOTIMP;
  if (an !== 0 || (ns !== 0 && q.qtype !== TYPE.IXFR)) {
    // IXFR queries carry the client's SOA in the authority section (RFC 1995).
    q.error = 'answer or authority records in a query';
    return ParseStatus.FORMERR;
  }
  for (let r = 0; r < ns; r++) {
    p = skipRecord(buf, p);
    if (p < 0) {
      q.error = 'truncated authority record';
      return ParseStatus.FORMERR;
    }
  }
  // Additional section: find the OPT record, skip anything else.
  let sawOpt = false;
  for (let r = 0; r < ar; r++) {
    const owner = p;
    const afterName = skipName(buf, p);
    if (afterName < 0 || afterName + 10 > len) {
      q.error = 'truncated additional record';
      return ParseStatus.FORMERR;
    }
    p = afterName;
    const type = (buf[p]! << 8) | buf[p + 1]!;
    const rdlen = (buf[p + 8]! << 8) | buf[p + 9]!;
    const rdata = p + 10;
    if (rdata + rdlen > len) {
      q.error = 'truncated additional record data';
      return ParseStatus.FORMERR;
    }
    if (type === TYPE.OPT) {
      if (sawOpt) {
        q.error = 'more than one OPT record';
        return ParseStatus.FORMERR;
      }
      sawOpt = true;
      if (afterName !== owner + 1 || buf[owner] !== 0) {
        q.error = 'OPT record not owned by the root';
        return ParseStatus.FORMERR;
      }
      q.udpSize = (buf[p + 2]! << 8) | buf[p + 3]!;
      q.ednsVersion = buf[p + 5]!;
      q.dnssecOk = (buf[p + 6]! & 0x80) !== 0;
      const st = parseOptions(buf, rdata, rdata + rdlen, q);
      if (st !== ParseStatus.OK) return st;
      q.edns = true;
    }
    p = rdata + rdlen;
  }
  if (q.edns && q.ednsVersion > 0) {
    // RFC 6891 6.1.3: answer BADVERS, without looking at the options' meaning.
    q.ecs = false;
    return ParseStatus.BADVERS;
  }
  return ParseStatus.OK;
}

/** Skips a possibly compressed name; returns the offset after it, or -1 when malformed. */
function skipName(buf: Uint8Array, p: number): number {
  const len = buf.length;
  let total = 0;
  for (;;) {
    if (p >= len) return -1;
    const l = buf[p]!;
    if (l === 0) return p + 1;
    if ((l & 0xc0) === 0xc0) return p + 2 <= len ? p + 2 : -1;
    if (l > 63) return -1;
    total += l + 1;
    if (total > 255) return -1;
    p += l + 1;
  }
}

/** Skips a whole resource record; returns the offset after it, or -1 when malformed. */
function skipRecord(buf: Uint8Array, p: number): number {
  const after = skipName(buf, p);
  if (after < 0 || after + 10 > buf.length) return -1;
  const end = after + 10 + ((buf[after + 8]! << 8) | buf[after + 9]!);
  return end <= buf.length ? end : -1;
}

/** OPT RDATA: the option list; fills the ECS fields. */
function parseOptions(buf: Uint8Array, p: number, end: number, q: ParsedQuery): ParseStatus {
  while (p < end) {
    if (p + 4 > end) {
      q.error = 'truncated EDNS option';
      return ParseStatus.FORMERR;
    }
    const code = (buf[p]! << 8) | buf[p + 1]!;
    const olen = (buf[p + 2]! << 8) | buf[p + 3]!;
    const data = p + 4;
    if (data + olen > end) {
      q.error = 'EDNS option longer than the OPT record';
      return ParseStatus.FORMERR;
    }
    if (code === OPTION_ECS) {
      if (q.ecs) {
        q.error = 'more than one Client Subnet option';
        return ParseStatus.FORMERR;
      }
      const st = parseEcs(buf, data, olen, q);
      if (st !== ParseStatus.OK) return st;
    }
    p = data + olen;
  }
  return ParseStatus.OK;
}

/** The Client Subnet option (RFC 7871 section 6). */
function parseEcs(buf: Uint8Array, p: number, olen: number, q: ParsedQuery): ParseStatus {
  if (olen < 4) {
    q.error = 'Client Subnet option shorter than 4 octets';
    return ParseStatus.FORMERR;
  }
  const family = (buf[p]! << 8) | buf[p + 1]!;
  const source = buf[p + 2]!;
  const max = family === 1 ? 32 : family === 2 ? 128 : -1;
  if (max < 0) {
    q.error = `Client Subnet FAMILY ${family}`;
    return ParseStatus.FORMERR;
  }
  if (source > max) {
    q.error = `Client Subnet SOURCE PREFIX-LENGTH ${source} > ${max}`;
    return ParseStatus.FORMERR;
  }
  const addrLen = olen - 4;
  if (addrLen !== (source + 7) >> 3) {
    q.error = `Client Subnet ADDRESS of ${addrLen} octets for /${source}`;
    return ParseStatus.FORMERR;
  }
  const a = q.ecsAddress;
  a.fill(0);
  for (let i = 0; i < addrLen; i++) a[i] = buf[p + 4 + i]!;
  const rem = source & 7;
  if (rem !== 0) {
    const last = addrLen - 1;
    const mask = (0xff << (8 - rem)) & 0xff;
    if ((a[last]! & ~mask & 0xff) !== 0) {
      q.error = `Client Subnet ADDRESS has bits set past /${source}`;
      return ParseStatus.FORMERR;
    }
    a[last] = a[last]! & mask; // already zero; kept so the key never depends on host bits
  }
  q.ecs = true;
  q.ecsFamily = family;
  q.ecsSourcePrefix = source;
  q.ecsOffset = p;
  q.ecsLength = olen;
  return ParseStatus.OK;
}

// ---- names -----------------------------------------------------------------------------

/**
 * "www.Example.com." (or without the final dot) -> name key. Throws on an empty label,
 * a label over 63 octets or a name over 255 octets. `\.` escapes a dot inside a label.
 * Called when zones are built, not per query.
 */
export function nameKey(dotted: string): string {
  if (dotted === '.' || dotted === '') return '\x00';
  const labels: string[] = [];
  let cur = '';
  for (let i = 0; i < dotted.length; i++) {
    const c = dotted[i]!;
    if (c === '\\' && i + 1 < dotted.length) {
      cur += dotted[++i]!;
    } else if (c === '.') {
      if (cur === '') throw new Error(`empty label in name ${JSON.stringify(dotted)}`);
      labels.push(cur);
      cur = '';
    } else {
      cur += c;
    }
  }
  if (cur !== '') labels.push(cur);
  let key = '';
  for (const l of labels) {
    const bytes = Buffer.from(l, 'utf8');
    if (bytes.length > 63) throw new Error(`label longer than 63 octets in ${JSON.stringify(dotted)}`);
    key += String.fromCharCode(bytes.length) + lowerAscii(bytes.toString('latin1'));
  }
  key += '\x00';
  if (key.length > 255) throw new Error(`name longer than 255 octets: ${JSON.stringify(dotted)}`);
  return key;
}

function lowerAscii(s: string): string {
  return s.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

/** Name key -> "www.example.com." (for logs and errors). */
export function keyToDotted(key: string): string {
  if (key === '\x00') return '.';
  let out = '';
  let p = 0;
  while (p < key.length) {
    const l = key.charCodeAt(p);
    if (l === 0) break;
    out += `${key.slice(p + 1, p + 1 + l).replace(/\./g, '\\.')}.`;
    p += l + 1;
  }
  return out;
}

/** The key of the parent name ("\x03www\x07example\x03com\x00" -> "\x07example\x03com\x00"); the root has none (null). */
export function parentKey(key: string): string | null {
  const l = key.charCodeAt(0);
  return l === 0 ? null : key.slice(l + 1);
}

/** True when `key` equals `zone` or lies below it (both name keys). */
export function isAtOrBelow(key: string, zone: string): boolean {
  if (key.length < zone.length || !key.endsWith(zone)) return false;
  // The suffix must start at a label boundary.
  let p = 0;
  const start = key.length - zone.length;
  while (p < start) p += key.charCodeAt(p) + 1;
  return p === start;
}

// ---- writing ---------------------------------------------------------------------------

/**
 * Builds (part of) a DNS message with name compression. The compression dictionary maps
 * name keys to message offsets; `seedQuestion` registers the question name at offset 12,
 * where every answer echoes it, so cached answer sections can point into a question that
 * is copied from each query (keeping the client's 0x20 letter case).
 */
export class MessageWriter {
  /** The message so far (grows as needed; only bytes before `pos` are meaningful). */
  buf: Buffer;
  /** Next write position, as an offset in the whole message. */
  pos: number;
  private readonly dict = new Map<string, number>();

  /** Starts writing at message offset `start` (the bytes before it are not kept). */
  constructor(start = 0, size = 512) {
    this.buf = Buffer.alloc(Math.max(size, start + 64));
    this.pos = start;
  }

  /** Registers the question name (a key) as written at offset 12. */
  seedQuestion(qname: string): void {
    let off = 12;
    let p = 0;
    while (qname.charCodeAt(p) !== 0 && p < qname.length) {
      const suffix = qname.slice(p);
      if (!this.dict.has(suffix)) this.dict.set(suffix, off + p);
      p += qname.charCodeAt(p) + 1;
    }
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.alloc(size);
    this.buf.copy(next);
    this.buf = next;
  }

  /** Writes one octet. */
  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v & 0xff;
  }

  /** Writes a 16-bit big-endian integer. */
  u16(v: number): void {
    this.ensure(2);
    this.buf.writeUInt16BE(v & 0xffff, this.pos);
    this.pos += 2;
  }

  /** Writes a 32-bit big-endian integer. */
  u32(v: number): void {
    this.ensure(4);
    this.buf.writeUInt32BE(v >>> 0, this.pos);
    this.pos += 4;
  }

  /** Writes octets as they are. */
  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** Writes a name key, compressed against earlier names unless `compress` is false (SRV targets, RFC 2782). */
  name(key: string, compress = true): void {
    let p = 0;
    while (key.charCodeAt(p) !== 0 && p < key.length) {
      const suffix = key.slice(p);
      const at = this.dict.get(suffix);
      if (at !== undefined && compress) {
        this.u16(0xc000 | at);
        return;
      }
      if (at === undefined && this.pos < 0x3fff) this.dict.set(suffix, this.pos);
      const l = key.charCodeAt(p);
      this.ensure(l + 1);
      this.buf.write(key.slice(p, p + l + 1), this.pos, 'latin1');
      this.pos += l + 1;
      p += l + 1;
    }
    this.u8(0);
  }

  /**
   * Writes one resource record: owner, type, class IN, TTL, then RDATA from `rdata`,
   * with RDLENGTH filled in afterwards.
   */
  record(owner: string, type: number, ttl: number, rdata: (w: MessageWriter) => void): void {
    this.name(owner);
    this.u16(type);
    this.u16(CLASS.IN);
    this.u32(ttl);
    const lenAt = this.pos;
    this.u16(0);
    rdata(this);
    this.buf.writeUInt16BE(this.pos - lenAt - 2, lenAt);
  }

  /** The bytes written from message offset `from` to the current position (a copy). */
  slice(from: number): Buffer {
    return Buffer.from(this.buf.subarray(from, this.pos));
  }
}

/** An IPv4 address string -> 4 octets; null when it is not a dotted quad. */
export function ipv4Bytes(s: string): Uint8Array | null {
  const parts = s.split('.');
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const t = parts[i]!;
    if (!/^\d{1,3}$/.test(t)) return null;
    const v = Number(t);
    if (v > 255) return null;
    out[i] = v;
  }
  return out;
}

/** An IPv6 address string (with "::" and an optional dotted IPv4 tail) -> 16 octets; null when malformed. */
export function ipv6Bytes(s: string): Uint8Array | null {
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  let tail: Uint8Array | null = null;
  const lastColon = s.lastIndexOf(':');
  if (s.indexOf('.', lastColon) > 0) {
    tail = ipv4Bytes(s.slice(lastColon + 1));
    if (tail === null) return null;
    s = `${s.slice(0, lastColon + 1)}0:0`;
  }
  const halves = s.split('::');
  if (halves.length > 2) return null;
  const parse = (part: string): number[] | null => {
    if (part === '') return [];
    const groups = part.split(':');
    const out: number[] = [];
    for (const g of groups) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const head = parse(halves[0]!);
  const rest = halves.length === 2 ? parse(halves[1]!) : [];
  if (head === null || rest === null) return null;
  const groups = halves.length === 2 ? [...head, ...new Array<number>(8 - head.length - rest.length).fill(0), ...rest] : head;
  if (groups.length !== 8 || head.length + rest.length > (halves.length === 2 ? 7 : 8)) return null;
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    out[2 * i] = groups[i]! >> 8;
    out[2 * i + 1] = groups[i]! & 0xff;
  }
  if (tail !== null) out.set(tail, 12);
  return out;
}
