/**
 * BGP-4 messages on the wire (RFC 4271), with 4-octet AS numbers (RFC 6793),
 * multiprotocol IPv6 unicast (RFC 4760), route refresh (RFC 2918), communities
 * (RFC 1997) and large communities (RFC 8092). Pure functions: bytes in, values out, and
 * back. A malformed message throws `BgpError` carrying the NOTIFICATION it deserves.
 */

export const BGP_PORT = 179;
export const HEADER_LEN = 19;
export const MAX_MESSAGE = 4096;
/** The 2-octet AS number that stands for a 4-octet one (RFC 6793). */
export const AS_TRANS = 23456;

export const MSG = { OPEN: 1, UPDATE: 2, NOTIFICATION: 3, KEEPALIVE: 4, ROUTE_REFRESH: 5 } as const;

/** NOTIFICATION error codes and the subcodes Fulcrum sends. */
export const ERR = {
  HEADER: 1,
  OPEN: 2,
  UPDATE: 3,
  HOLD_TIMER: 4,
  FSM: 5,
  CEASE: 6,
  ROUTE_REFRESH: 7,
} as const;
export const SUB = {
  // header
  NOT_SYNCHRONIZED: 1,
  BAD_LENGTH: 2,
  BAD_TYPE: 3,
  // open
  UNSUPPORTED_VERSION: 1,
  BAD_PEER_AS: 2,
  BAD_BGP_ID: 3,
  UNSUPPORTED_PARAMETER: 4,
  UNACCEPTABLE_HOLD_TIME: 6,
  // update
  MALFORMED_ATTRIBUTES: 1,
  UNRECOGNIZED_WELL_KNOWN: 2,
  MISSING_WELL_KNOWN: 3,
  ATTRIBUTE_FLAGS: 4,
  ATTRIBUTE_LENGTH: 5,
  INVALID_ORIGIN: 6,
  INVALID_NEXT_HOP: 8,
  OPTIONAL_ATTRIBUTE: 9,
  INVALID_NETWORK: 10,
  MALFORMED_AS_PATH: 11,
  // cease (RFC 4486)
  ADMIN_SHUTDOWN: 2,
  PEER_DECONFIGURED: 3,
  ADMIN_RESET: 4,
  CONNECTION_REJECTED: 5,
  OTHER_CONFIG_CHANGE: 6,
  COLLISION: 7,
} as const;

export const ATTR = { ORIGIN: 1, AS_PATH: 2, NEXT_HOP: 3, MED: 4, LOCAL_PREF: 5, COMMUNITIES: 8, MP_REACH: 14, MP_UNREACH: 15, AS4_PATH: 17, LARGE_COMMUNITIES: 32 } as const;
const FLAG = { OPTIONAL: 0x80, TRANSITIVE: 0x40, PARTIAL: 0x20, EXTENDED: 0x10 } as const;
export const AFI = { IPV4: 1, IPV6: 2 } as const;
export const SAFI_UNICAST = 1;
const CAP = { MULTIPROTOCOL: 1, ROUTE_REFRESH: 2, AS4: 65 } as const;
/** RFC 8326: routes about to go, for the peer to prefer others meanwhile. */
export const GRACEFUL_SHUTDOWN = 0xffff0000;

/** A malformed message: the NOTIFICATION to send, and words for the log. */
export class BgpError extends Error {
  constructor(
    readonly code: number,
    readonly subcode: number,
    message: string,
    readonly data: Buffer = Buffer.alloc(0),
  ) {
    super(message);
  }
}

export interface OpenMessage {
  version: number;
  /** The 4-octet AS when the speaker sent the capability, else the 2-octet field. */
  asn: number;
  holdTime: number;
  /** Dotted quad. */
  routerId: string;
  as4: boolean;
  routeRefresh: boolean;
  /** "afi/safi" pairs announced with the multiprotocol capability. */
  families: string[];
}

/** An IP prefix: "203.0.113.10/32", "2001:db8::/64". */
export interface Prefix {
  family: 4 | 6;
  /** The address's bytes (4 or 16), host bits zero. */
  bytes: Buffer;
  length: number;
}

/** The attributes Fulcrum sends with its routes. */
export interface RouteAttributes {
  /** Sent first to last (the local AS first on eBGP, repeated for prepends). */
  asPath: number[];
  /** IPv4 next hop (NEXT_HOP), or the IPv6 one(s) in MP_REACH_NLRI. */
  nextHop: Buffer;
  med?: number;
  localPref?: number;
  communities: number[];
  /** [global admin, data 1, data 2]. */
  largeCommunities: Array<[number, number, number]>;
}

export interface UpdateMessage {
  withdrawn: Prefix[];
  nlri: Prefix[];
  /** From MP_REACH_NLRI / MP_UNREACH_NLRI. */
  mpReach: Prefix[];
  mpUnreach: Prefix[];
  /** Attribute type codes present. */
  attributes: number[];
}

function header(type: number, body: Buffer): Buffer {
  const len = HEADER_LEN + body.length;
  if (len > MAX_MESSAGE) throw new Error(`BGP message of ${len} bytes is over ${MAX_MESSAGE}`);
  const h = Buffer.alloc(HEADER_LEN, 0xff);
  h.writeUInt16BE(len, 16);
  h[18] = type;
  return Buffer.concat([h, body]);
}

export function encodeKeepalive(): Buffer {
  return header(MSG.KEEPALIVE, Buffer.alloc(0));
}

export function encodeNotification(code: number, subcode: number, data: Buffer = Buffer.alloc(0)): Buffer {
  return header(MSG.NOTIFICATION, Buffer.concat([Buffer.from([code, subcode]), data]));
}

export function encodeRouteRefresh(afi: number, safi: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt16BE(afi, 0);
  b[3] = safi;
  return header(MSG.ROUTE_REFRESH, b);
}

export function encodeOpen(o: { asn: number; holdTime: number; routerId: string; families: Array<[number, number]> }): Buffer {
  const caps: Buffer[] = [];
  for (const [afi, safi] of o.families) {
    const v = Buffer.alloc(4);
    v.writeUInt16BE(afi, 0);
    v[3] = safi;
    caps.push(cap(CAP.MULTIPROTOCOL, v));
  }
  caps.push(cap(CAP.ROUTE_REFRESH, Buffer.alloc(0)));
  const as4 = Buffer.alloc(4);
  as4.writeUInt32BE(o.asn, 0);
  caps.push(cap(CAP.AS4, as4));
  const capsBytes = Buffer.concat(caps);
  const params = Buffer.concat([Buffer.from([2, capsBytes.length]), capsBytes]);
  const b = Buffer.alloc(10);
  b[0] = 4;
  b.writeUInt16BE(o.asn > 0xffff ? AS_TRANS : o.asn, 1);
  b.writeUInt16BE(o.holdTime, 3);
  ipv4Bytes(o.routerId).copy(b, 5);
  b[9] = params.length;
  return header(MSG.OPEN, Buffer.concat([b, params]));
}

function cap(code: number, value: Buffer): Buffer {
  return Buffer.concat([Buffer.from([code, value.length]), value]);
}

/** Splits a message off the front of `buf`: its type and body, or null when it has not all arrived. Throws on a bad header. */
export function splitMessage(buf: Buffer): { type: number; body: Buffer; size: number } | null {
  if (buf.length < HEADER_LEN) return null;
  for (let i = 0; i < 16; i++) if (buf[i] !== 0xff) throw new BgpError(ERR.HEADER, SUB.NOT_SYNCHRONIZED, 'the message header\'s marker is not all ones');
  const len = buf.readUInt16BE(16);
  const type = buf[18]!;
  const lenData = buf.subarray(16, 18);
  if (len < HEADER_LEN || len > MAX_MESSAGE) throw new BgpError(ERR.HEADER, SUB.BAD_LENGTH, `message length ${len} is outside ${HEADER_LEN}..${MAX_MESSAGE}`, Buffer.from(lenData));
  const min = type === MSG.OPEN ? 29 : type === MSG.UPDATE ? 23 : type === MSG.NOTIFICATION ? 21 : type === MSG.ROUTE_REFRESH ? 23 : HEADER_LEN;
  if (type < MSG.OPEN || type > MSG.ROUTE_REFRESH) throw new BgpError(ERR.HEADER, SUB.BAD_TYPE, `unknown message type ${type}`, Buffer.from([type]));
  if (len < min || (type === MSG.KEEPALIVE && len !== HEADER_LEN) || (type === MSG.ROUTE_REFRESH && len !== 23)) {
    throw new BgpError(ERR.HEADER, SUB.BAD_LENGTH, `a message of type ${type} cannot be ${len} bytes long`, Buffer.from(lenData));
  }
  if (buf.length < len) return null;
  return { type, body: buf.subarray(HEADER_LEN, len), size: len };
}

export function decodeOpen(body: Buffer): OpenMessage {
  const version = body[0]!;
  if (version !== 4) {
    const data = Buffer.alloc(2);
    data.writeUInt16BE(4, 0);
    throw new BgpError(ERR.OPEN, SUB.UNSUPPORTED_VERSION, `the peer speaks BGP version ${version}, not 4`, data);
  }
  const as2 = body.readUInt16BE(1);
  const holdTime = body.readUInt16BE(3);
  const id = body.subarray(5, 9);
  const optLen = body[9]!;
  if (10 + optLen !== body.length) throw new BgpError(ERR.OPEN, 0, `the optional parameters' length ${optLen} does not match the message`);
  let as4: number | null = null;
  let routeRefresh = false;
  const families: string[] = [];
  let p = 10;
  while (p < body.length) {
    if (p + 2 > body.length) throw new BgpError(ERR.OPEN, 0, 'an optional parameter is cut short');
    const type = body[p]!;
    const len = body[p + 1]!;
    const value = body.subarray(p + 2, p + 2 + len);
    if (value.length !== len) throw new BgpError(ERR.OPEN, 0, 'an optional parameter is cut short');
    p += 2 + len;
    if (type !== 2) throw new BgpError(ERR.OPEN, SUB.UNSUPPORTED_PARAMETER, `unsupported optional parameter ${type}`);
    let q = 0;
    while (q < value.length) {
      if (q + 2 > value.length) throw new BgpError(ERR.OPEN, 0, 'a capability is cut short');
      const code = value[q]!;
      const clen = value[q + 1]!;
      const cv = value.subarray(q + 2, q + 2 + clen);
      if (cv.length !== clen) throw new BgpError(ERR.OPEN, 0, 'a capability is cut short');
      q += 2 + clen;
      if (code === CAP.AS4 && clen === 4) as4 = cv.readUInt32BE(0);
      else if (code === CAP.ROUTE_REFRESH) routeRefresh = true;
      else if (code === CAP.MULTIPROTOCOL && clen === 4) families.push(`${cv.readUInt16BE(0)}/${cv[3]}`);
    }
  }
  if (holdTime === 1 || holdTime === 2) throw new BgpError(ERR.OPEN, SUB.UNACCEPTABLE_HOLD_TIME, `hold time ${holdTime} s is not allowed (0 or at least 3)`);
  const routerId = [...id].join('.');
  if (id.readUInt32BE(0) === 0) throw new BgpError(ERR.OPEN, SUB.BAD_BGP_ID, 'the BGP identifier is 0.0.0.0');
  return { version, asn: as4 ?? as2, holdTime, routerId, as4: as4 !== null, routeRefresh, families: families.length === 0 ? ['1/1'] : families };
}

export function decodeNotification(body: Buffer): { code: number; subcode: number; data: Buffer } {
  return { code: body[0]!, subcode: body[1]!, data: body.subarray(2) };
}

/** Encodes one UPDATE announcing `prefixes` (all of one family) with `attrs`, or withdrawing them when `attrs` is null. */
export function encodeUpdate(prefixes: Prefix[], attrs: RouteAttributes | null, as4: boolean): Buffer {
  const family = prefixes[0]?.family ?? 4;
  if (attrs === null) {
    if (family === 4) {
      const w = Buffer.concat(prefixes.map(encodePrefix));
      return header(MSG.UPDATE, Buffer.concat([u16(w.length), w, u16(0)]));
    }
    const mp = Buffer.concat([u16(AFI.IPV6), Buffer.from([SAFI_UNICAST]), ...prefixes.map(encodePrefix)]);
    const a = attribute(FLAG.OPTIONAL, ATTR.MP_UNREACH, mp);
    return header(MSG.UPDATE, Buffer.concat([u16(0), u16(a.length), a]));
  }
  const list: Buffer[] = [attribute(FLAG.TRANSITIVE, ATTR.ORIGIN, Buffer.from([0]))];
  list.push(attribute(FLAG.TRANSITIVE, ATTR.AS_PATH, asPath(attrs.asPath, as4)));
  if (family === 4) list.push(attribute(FLAG.TRANSITIVE, ATTR.NEXT_HOP, attrs.nextHop));
  if (attrs.med !== undefined) list.push(attribute(FLAG.OPTIONAL, ATTR.MED, u32(attrs.med)));
  if (attrs.localPref !== undefined) list.push(attribute(FLAG.TRANSITIVE, ATTR.LOCAL_PREF, u32(attrs.localPref)));
  if (attrs.communities.length > 0) list.push(attribute(FLAG.OPTIONAL | FLAG.TRANSITIVE, ATTR.COMMUNITIES, Buffer.concat(attrs.communities.map(u32))));
  if (!as4 && attrs.asPath.some((a) => a > 0xffff)) list.push(attribute(FLAG.OPTIONAL | FLAG.TRANSITIVE, ATTR.AS4_PATH, asPath(attrs.asPath, true)));
  if (attrs.largeCommunities.length > 0) {
    list.push(attribute(FLAG.OPTIONAL | FLAG.TRANSITIVE, ATTR.LARGE_COMMUNITIES, Buffer.concat(attrs.largeCommunities.map(([g, a, b]) => Buffer.concat([u32(g), u32(a), u32(b)])))));
  }
  if (family === 6) {
    const nlri = Buffer.concat(prefixes.map(encodePrefix));
    list.push(attribute(FLAG.OPTIONAL, ATTR.MP_REACH, Buffer.concat([u16(AFI.IPV6), Buffer.from([SAFI_UNICAST, attrs.nextHop.length]), attrs.nextHop, Buffer.from([0]), nlri])));
    const a = Buffer.concat(list);
    return header(MSG.UPDATE, Buffer.concat([u16(0), u16(a.length), a]));
  }
  const a = Buffer.concat(list);
  return header(MSG.UPDATE, Buffer.concat([u16(0), u16(a.length), a, ...prefixes.map(encodePrefix)]));
}

function asPath(path: number[], as4: boolean): Buffer {
  if (path.length === 0) return Buffer.alloc(0);
  const out: Buffer[] = [];
  for (let i = 0; i < path.length; i += 255) {
    const seg = path.slice(i, i + 255);
    out.push(Buffer.from([2, seg.length]));
    for (const a of seg) out.push(as4 ? u32(a) : u16(a > 0xffff ? AS_TRANS : a));
  }
  return Buffer.concat(out);
}

function attribute(flags: number, type: number, value: Buffer): Buffer {
  if (value.length > 255) return Buffer.concat([Buffer.from([flags | FLAG.EXTENDED, type]), u16(value.length), value]);
  return Buffer.concat([Buffer.from([flags, type, value.length]), value]);
}

function encodePrefix(p: Prefix): Buffer {
  return Buffer.concat([Buffer.from([p.length]), p.bytes.subarray(0, Math.ceil(p.length / 8))]);
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n, 0);
  return b;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0, 0);
  return b;
}

/**
 * Decodes an UPDATE's structure (Fulcrum installs no routes, but checks what it is sent).
 * Errors of framing end the session (RFC 7606 keeps those as session resets); an
 * attribute that parses but holds a bad value is the caller's to treat as a withdrawal.
 */
export function decodeUpdate(body: Buffer, as4: boolean): UpdateMessage {
  const bad = (sub: number, why: string, data?: Buffer) => new BgpError(ERR.UPDATE, sub, why, data);
  if (body.length < 4) throw bad(SUB.MALFORMED_ATTRIBUTES, 'the UPDATE is too short');
  const wlen = body.readUInt16BE(0);
  if (2 + wlen + 2 > body.length) throw bad(SUB.MALFORMED_ATTRIBUTES, `withdrawn routes length ${wlen} runs past the message`);
  const withdrawn = decodePrefixes(body.subarray(2, 2 + wlen), 4);
  const alen = body.readUInt16BE(2 + wlen);
  const astart = 4 + wlen;
  if (astart + alen > body.length) throw bad(SUB.MALFORMED_ATTRIBUTES, `path attributes length ${alen} runs past the message`);
  const attrs = body.subarray(astart, astart + alen);
  const nlri = decodePrefixes(body.subarray(astart + alen), 4);
  const seen: number[] = [];
  const mpReach: Prefix[] = [];
  const mpUnreach: Prefix[] = [];
  let p = 0;
  while (p < attrs.length) {
    if (p + 3 > attrs.length) throw bad(SUB.MALFORMED_ATTRIBUTES, 'a path attribute is cut short');
    const flags = attrs[p]!;
    const type = attrs[p + 1]!;
    const ext = (flags & FLAG.EXTENDED) !== 0;
    if (ext && p + 4 > attrs.length) throw bad(SUB.MALFORMED_ATTRIBUTES, 'a path attribute is cut short');
    const len = ext ? attrs.readUInt16BE(p + 2) : attrs[p + 2]!;
    const vstart = p + (ext ? 4 : 3);
    if (vstart + len > attrs.length) throw bad(SUB.ATTRIBUTE_LENGTH, `attribute ${type}'s length ${len} runs past the attributes`);
    const value = attrs.subarray(vstart, vstart + len);
    p = vstart + len;
    if (seen.includes(type)) throw bad(SUB.MALFORMED_ATTRIBUTES, `attribute ${type} appears twice`);
    seen.push(type);
    const wellKnown = type === ATTR.ORIGIN || type === ATTR.AS_PATH || type === ATTR.NEXT_HOP || type === ATTR.LOCAL_PREF;
    if (wellKnown && (flags & FLAG.OPTIONAL) !== 0) throw bad(SUB.ATTRIBUTE_FLAGS, `well-known attribute ${type} is flagged optional`, attrs.subarray(p - len - (ext ? 4 : 3), p));
    if (type === ATTR.ORIGIN && len !== 1) throw bad(SUB.ATTRIBUTE_LENGTH, 'ORIGIN is not 1 byte');
    if (type === ATTR.ORIGIN && value[0]! > 2) throw bad(SUB.INVALID_ORIGIN, `ORIGIN ${value[0]} is not IGP, EGP or INCOMPLETE`);
    if (type === ATTR.NEXT_HOP && len !== 4) throw bad(SUB.ATTRIBUTE_LENGTH, 'NEXT_HOP is not 4 bytes');
    if ((type === ATTR.MED || type === ATTR.LOCAL_PREF) && len !== 4) throw bad(SUB.ATTRIBUTE_LENGTH, `attribute ${type} is not 4 bytes`);
    if (type === ATTR.AS_PATH) checkAsPath(value, as4);
    if (type === ATTR.MP_REACH) {
      if (len < 5) throw bad(SUB.OPTIONAL_ATTRIBUTE, 'MP_REACH_NLRI is too short');
      const afi = value.readUInt16BE(0);
      const nhLen = value[3]!;
      if (5 + nhLen > len) throw bad(SUB.OPTIONAL_ATTRIBUTE, 'MP_REACH_NLRI\'s next hop runs past it');
      if (afi === AFI.IPV4 || afi === AFI.IPV6) mpReach.push(...decodePrefixes(value.subarray(5 + nhLen), afi === AFI.IPV4 ? 4 : 6));
    }
    if (type === ATTR.MP_UNREACH) {
      if (len < 3) throw bad(SUB.OPTIONAL_ATTRIBUTE, 'MP_UNREACH_NLRI is too short');
      const afi = value.readUInt16BE(0);
      if (afi === AFI.IPV4 || afi === AFI.IPV6) mpUnreach.push(...decodePrefixes(value.subarray(3), afi === AFI.IPV4 ? 4 : 6));
    }
  }
  if (nlri.length > 0) {
    for (const need of [ATTR.ORIGIN, ATTR.AS_PATH, ATTR.NEXT_HOP]) {
      if (!seen.includes(need)) throw bad(SUB.MISSING_WELL_KNOWN, `the UPDATE announces routes without attribute ${need}`, Buffer.from([need]));
    }
  }
  return { withdrawn, nlri, mpReach, mpUnreach, attributes: seen };
}

function checkAsPath(v: Buffer, as4: boolean): void {
  const size = as4 ? 4 : 2;
  let p = 0;
  while (p < v.length) {
    if (p + 2 > v.length) throw new BgpError(ERR.UPDATE, SUB.MALFORMED_AS_PATH, 'an AS_PATH segment is cut short');
    const type = v[p]!;
    const count = v[p + 1]!;
    if (type < 1 || type > 4 || count === 0) throw new BgpError(ERR.UPDATE, SUB.MALFORMED_AS_PATH, `bad AS_PATH segment (type ${type}, ${count} ASes)`);
    p += 2 + count * size;
  }
  if (p !== v.length) throw new BgpError(ERR.UPDATE, SUB.MALFORMED_AS_PATH, 'the AS_PATH segments do not fill the attribute');
}

function decodePrefixes(b: Buffer, family: 4 | 6): Prefix[] {
  const out: Prefix[] = [];
  const max = family === 4 ? 32 : 128;
  let p = 0;
  while (p < b.length) {
    const length = b[p]!;
    const n = Math.ceil(length / 8);
    if (length > max || p + 1 + n > b.length) throw new BgpError(ERR.UPDATE, SUB.INVALID_NETWORK, `a prefix of length ${length} is invalid or cut short`);
    const bytes = Buffer.alloc(family === 4 ? 4 : 16);
    b.copy(bytes, 0, p + 1, p + 1 + n);
    out.push({ family, bytes, length });
    p += 1 + n;
  }
  return out;
}

export function ipv4Bytes(ip: string): Buffer {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((x) => !Number.isInteger(x) || x < 0 || x > 255)) throw new Error(`not an IPv4 address: ${ip}`);
  return Buffer.from(parts);
}

/** The bytes of an IPv6 address in text. */
export function ipv6Bytes(ip: string): Buffer {
  let text = ip;
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  let tail: number[] = [];
  if (v4 !== null) {
    tail = [...ipv4Bytes(v4[1]!)];
    text = text.slice(0, -v4[1]!.length) + '0:0';
  }
  const [head, rest] = text.split('::') as [string, string | undefined];
  const h = head === '' ? [] : head.split(':');
  const r = rest === undefined || rest === '' ? [] : rest.split(':');
  const fill = rest === undefined ? 0 : 8 - h.length - r.length;
  const groups = [...h, ...Array<string>(fill).fill('0'), ...r];
  if (groups.length !== 8) throw new Error(`not an IPv6 address: ${ip}`);
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), i * 2));
  if (tail.length === 4) Buffer.from(tail).copy(b, 12);
  return b;
}

/** "203.0.113.10/32" or "2001:db8::/32" as a Prefix (host bits must be zero). */
export function parsePrefix(text: string): Prefix {
  const [addr, len] = text.split('/') as [string, string | undefined];
  const family = addr.includes(':') ? 6 : 4;
  const bytes = family === 4 ? ipv4Bytes(addr) : ipv6Bytes(addr);
  const max = family === 4 ? 32 : 128;
  const length = len === undefined ? max : Number(len);
  if (!Number.isInteger(length) || length < 0 || length > max) throw new Error(`prefix length must be 0..${max}`);
  for (let bit = length; bit < max; bit++) if ((bytes[bit >> 3]! >> (7 - (bit & 7))) & 1) throw new Error(`${text} has host bits set`);
  return { family, bytes, length };
}

/** Text of a prefix. */
export function formatPrefix(p: Prefix): string {
  if (p.family === 4) return `${[...p.bytes].join('.')}/${p.length}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(p.bytes.readUInt16BE(i).toString(16));
  let best = [-1, 0];
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > best[1]! && j - i > 1) best = [i, j - i];
    i = j;
  }
  const text = best[0]! < 0 ? groups.join(':') : `${groups.slice(0, best[0]).join(':')}::${groups.slice(best[0]! + best[1]!).join(':')}`;
  return `${text}/${p.length}`;
}
