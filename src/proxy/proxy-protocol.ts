/**
 * The PROXY protocol (HAProxy, "The PROXY protocol", versions 1 and 2): a header a
 * balancer sends first on a connection to tell the next hop who the client was.
 * Encoding for servers behind us (pool `send_proxy`), and a strict, incremental parser
 * for balancers in front of us (listener `proxy_protocol`), shared by the TCP and HTTP
 * engines. Nothing here touches a socket.
 */
import { isIPv4, isIPv6 } from 'node:net';

/** One end of a proxied connection. For UNIX sockets `address` is the path and `port` 0. */
export interface ProxyAddress {
  address: string;
  port: number;
}

/**
 * What a header says. `source` and `destination` are null when the header carries no
 * usable addresses (v1 UNKNOWN, v2 LOCAL or UNSPEC): the receiver then uses the
 * connection's own endpoints, as the specification asks.
 */
export interface ProxyHeader {
  version: 1 | 2;
  /** local: a health check or similar from the balancer itself (v2 only); proxy: a relayed client. */
  command: 'local' | 'proxy';
  family: 'tcp4' | 'tcp6' | 'udp4' | 'udp6' | 'unix' | 'unix-dgram' | 'unknown';
  source: ProxyAddress | null;
  destination: ProxyAddress | null;
}

/**
 * Outcome of {@link parseProxyHeader}: malformed (`error` says why: close the
 * connection), incomplete (`done` false: read more and call again with all bytes so
 * far), or parsed (`consumed` bytes belong to the header; what follows is the client's
 * payload).
 */
export type ProxyParseResult =
  | { done: false; error: null }
  | ({ done: true; error: null; consumed: number } & ProxyHeader)
  | { done: false; error: string };

/** The 12-byte signature that opens every v2 header. */
export const PROXY_V2_SIGNATURE: Buffer = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

/** Longest v1 header, CRLF included (specification, section 2.1). */
export const PROXY_V1_MAX_LENGTH = 107;

/**
 * Longest v2 header accepted by default (16-byte preamble, addresses and TLVs): the
 * format allows 16 + 65535, but like HAProxy (whose headers must fit its 16 KiB
 * buffer) we refuse more, so a client cannot make us buffer 64 KiB before anything.
 */
export const PROXY_V2_DEFAULT_MAX_LENGTH = 16 * 1024;

const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
const V2_ADDR_LEN = { inet: 12, inet6: 36, unix: 216 } as const;
const NEED_MORE: ProxyParseResult = Object.freeze({ done: false, error: null }) as ProxyParseResult;

function fail(reason: string): ProxyParseResult {
  return { done: false, error: reason };
}

/** The bytes are a prefix of `full` (or the other way round, compared over the shorter length). */
function samePrefix(buf: Uint8Array, full: Uint8Array): boolean {
  const n = Math.min(buf.length, full.length);
  for (let i = 0; i < n; i++) if (buf[i] !== full[i]) return false;
  return true;
}

/**
 * Parses a PROXY header, v1 or v2, at the start of `buf`. Incremental: call it with all
 * the bytes received so far; it answers "need more" until the header is complete, and
 * reports an error as soon as the bytes cannot start a valid header (so plain traffic is
 * refused at its first byte, and a v1 line is refused past 107 bytes without CRLF).
 * Strict: v1 follows the specification's grammar exactly (single spaces, decimal ports
 * without leading zeros, addresses of the announced family, CRLF); v2 checks the
 * signature, version 2, command LOCAL or PROXY, family and transport, that the length
 * covers the addresses and stays within `maxV2Length`, and that the TLVs after the
 * addresses tile the rest exactly (they are skipped, not interpreted). O(header length),
 * no allocation beyond the result.
 */
export function parseProxyHeader(buf: Uint8Array, maxV2Length = PROXY_V2_DEFAULT_MAX_LENGTH): ProxyParseResult {
  if (buf.length === 0) return NEED_MORE;
  if (buf[0] === 0x50) {
    if (!samePrefix(buf, V1_PREFIX)) return fail('not a PROXY protocol header (bad v1 prefix)');
    return parseV1(buf);
  }
  if (buf[0] === 0x0d) {
    if (!samePrefix(buf, PROXY_V2_SIGNATURE)) return fail('not a PROXY protocol header (bad v2 signature)');
    return parseV2(buf, maxV2Length);
  }
  return fail('not a PROXY protocol header (expected "PROXY " or the v2 signature)');
}

function parseV1(buf: Uint8Array): ProxyParseResult {
  const limit = Math.min(buf.length, PROXY_V1_MAX_LENGTH);
  let cr = -1;
  for (let i = V1_PREFIX.length; i < limit; i++) {
    const c = buf[i]!;
    if (c === 0x0d) {
      cr = i;
      break;
    }
    // Only printable ASCII before the CRLF: a stray LF or NUL is an error now, not later.
    if (c < 0x20 || c > 0x7e) return fail(`v1 header: unexpected byte 0x${c.toString(16).padStart(2, '0')} at offset ${i}`);
  }
  if (cr < 0) {
    if (buf.length >= PROXY_V1_MAX_LENGTH) return fail(`v1 header: no CRLF within ${PROXY_V1_MAX_LENGTH} bytes`);
    return NEED_MORE;
  }
  if (cr + 1 >= buf.length) return NEED_MORE;
  if (buf[cr + 1] !== 0x0a) return fail('v1 header: CR not followed by LF');
  const consumed = cr + 2;
  const line = Buffer.from(buf.buffer, buf.byteOffset, cr).toString('latin1');
  const parts = line.split(' ');
  // parts[0] === 'PROXY'
  const proto = parts[1];
  if (proto === 'UNKNOWN') {
    // "the receiver must ignore anything presented before the CRLF is found"
    return { done: true, error: null, consumed, version: 1, command: 'proxy', family: 'unknown', source: null, destination: null };
  }
  if (proto !== 'TCP4' && proto !== 'TCP6') return fail(`v1 header: unknown protocol ${JSON.stringify(proto ?? '')} (expected TCP4, TCP6 or UNKNOWN)`);
  if (parts.length !== 6) return fail(`v1 header: expected "PROXY ${proto} SRC DST SPORT DPORT", got ${parts.length - 1} fields after PROXY`);
  const [, , src, dst, sport, dport] = parts as [string, string, string, string, string, string];
  const v4 = proto === 'TCP4';
  for (const [what, a] of [
    ['source', src],
    ['destination', dst],
  ] as const) {
    const ok = v4 ? isIPv4(a) : isIPv6(a) && !a.includes('%');
    if (!ok) return fail(`v1 header: ${what} address ${JSON.stringify(a)} is not a valid ${v4 ? 'IPv4' : 'IPv6'} address`);
  }
  const sp = v1Port(sport);
  if (sp < 0) return fail(`v1 header: source port ${JSON.stringify(sport)} is not a decimal number 0..65535 without leading zeros`);
  const dp = v1Port(dport);
  if (dp < 0) return fail(`v1 header: destination port ${JSON.stringify(dport)} is not a decimal number 0..65535 without leading zeros`);
  return {
    done: true,
    error: null,
    consumed,
    version: 1,
    command: 'proxy',
    family: v4 ? 'tcp4' : 'tcp6',
    source: { address: src, port: sp },
    destination: { address: dst, port: dp },
  };
}

/** A v1 port: 1..5 decimal digits, no leading zero (except "0"), at most 65535; -1 otherwise. */
function v1Port(s: string): number {
  if (s.length === 0 || s.length > 5) return -1;
  if (s.length > 1 && s.charCodeAt(0) === 0x30) return -1;
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const d = s.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n <= 65535 ? n : -1;
}

function parseV2(buf: Uint8Array, maxLength: number): ProxyParseResult {
  if (buf.length < 16) {
    // Check the fixed bytes as soon as they arrive.
    if (buf.length > 12 && buf[12]! >> 4 !== 2) return fail(`v2 header: version ${buf[12]! >> 4} (expected 2)`);
    return NEED_MORE;
  }
  const verCmd = buf[12]!;
  if (verCmd >> 4 !== 2) return fail(`v2 header: version ${verCmd >> 4} (expected 2)`);
  const cmd = verCmd & 0x0f;
  if (cmd > 1) return fail(`v2 header: unknown command ${cmd} (expected 0 LOCAL or 1 PROXY)`);
  const famProto = buf[13]!;
  const fam = famProto >> 4;
  const proto = famProto & 0x0f;
  if (fam > 3) return fail(`v2 header: unknown address family ${fam}`);
  if (proto > 2) return fail(`v2 header: unknown transport protocol ${proto}`);
  const len = (buf[14]! << 8) | buf[15]!;
  const total = 16 + len;
  if (total > maxLength) return fail(`v2 header: ${total} bytes exceeds the limit of ${maxLength}`);
  const addrLen = fam === 1 ? V2_ADDR_LEN.inet : fam === 2 ? V2_ADDR_LEN.inet6 : fam === 3 ? V2_ADDR_LEN.unix : 0;
  // LOCAL headers may carry anything (the receiver ignores it); PROXY must carry the
  // addresses of the family it announces.
  if (cmd === 1 && len < addrLen) return fail(`v2 header: length ${len} is too short for the announced family (needs ${addrLen})`);
  if (buf.length < total) return NEED_MORE;
  const b = Buffer.from(buf.buffer, buf.byteOffset, total);
  if (cmd === 1 && fam !== 0 && proto !== 0) {
    // TLVs follow the addresses: type (1), length (2), value; they must tile the rest.
    for (let off = 16 + addrLen; off < total; ) {
      if (total - off < 3) return fail(`v2 header: truncated TLV at offset ${off}`);
      const tlvLen = b.readUInt16BE(off + 1);
      off += 3 + tlvLen;
      if (off > total) return fail(`v2 header: TLV of ${tlvLen} bytes overruns the header`);
    }
  }
  if (cmd === 0 || fam === 0 || proto === 0) {
    // LOCAL, or PROXY with UNSPEC family or transport: no usable addresses.
    return { done: true, error: null, consumed: total, version: 2, command: cmd === 0 ? 'local' : 'proxy', family: 'unknown', source: null, destination: null };
  }
  const stream = proto === 1;
  let source: ProxyAddress;
  let destination: ProxyAddress;
  let family: ProxyHeader['family'];
  if (fam === 1) {
    source = { address: `${b[16]}.${b[17]}.${b[18]}.${b[19]}`, port: b.readUInt16BE(24) };
    destination = { address: `${b[20]}.${b[21]}.${b[22]}.${b[23]}`, port: b.readUInt16BE(26) };
    family = stream ? 'tcp4' : 'udp4';
  } else if (fam === 2) {
    source = { address: ipv6Text(b, 16), port: b.readUInt16BE(48) };
    destination = { address: ipv6Text(b, 32), port: b.readUInt16BE(50) };
    family = stream ? 'tcp6' : 'udp6';
  } else {
    source = { address: unixPath(b, 16), port: 0 };
    destination = { address: unixPath(b, 124), port: 0 };
    family = stream ? 'unix' : 'unix-dgram';
  }
  return { done: true, error: null, consumed: total, version: 2, command: 'proxy', family, source, destination };
}

/** RFC 5952 text of the 16 bytes at `off` (lower case, longest zero run compressed). */
function ipv6Text(b: Buffer, off: number): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(b.readUInt16BE(off + 2 * i));
  // IPv4-mapped addresses read best, and compare with Node's own, in dotted form.
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    return `::ffff:${b[off + 12]}.${b[off + 13]}.${b[off + 14]}.${b[off + 15]}`;
  }
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

function unixPath(b: Buffer, off: number): string {
  let end = off;
  while (end < off + 108 && b[end] !== 0) end++;
  return b.toString('utf8', off, end);
}

/** "::ffff:192.0.2.1" -> "192.0.2.1"; anything else unchanged. */
function unmapped(address: string): string {
  return address.startsWith('::ffff:') && isIPv4(address.slice(7)) ? address.slice(7) : address;
}

function checkPort(port: number): void {
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`PROXY header: port ${port} is not 0..65535`);
}

/**
 * A v1 header (text, CRLF-terminated) for a TCP connection from `src` to `dst`: TCP4
 * when both ends are IPv4 (IPv4-mapped IPv6 addresses count as IPv4), else TCP6 (an
 * IPv4 end written mapped). When either is null or not an IP address, the header is
 * "PROXY UNKNOWN\r\n" (the receiver then uses its own view of the connection). Throws RangeError on a bad
 * port. Called once per server connection.
 */
export function encodeV1(src: ProxyAddress | null, dst: ProxyAddress | null): Buffer {
  if (src === null || dst === null) return Buffer.from('PROXY UNKNOWN\r\n', 'latin1');
  const s = unmapped(src.address);
  const d = unmapped(dst.address);
  checkPort(src.port);
  checkPort(dst.port);
  if (isIPv4(s) && isIPv4(d)) return Buffer.from(`PROXY TCP4 ${s} ${d} ${src.port} ${dst.port}\r\n`, 'latin1');
  if (!isIpAddress(s) || !isIpAddress(d)) return Buffer.from('PROXY UNKNOWN\r\n', 'latin1');
  // one end IPv6: both go as IPv6, an IPv4 end mapped (::ffff:a.b.c.d)
  const v6 = (x: string) => (isIPv4(x) ? `::ffff:${x}` : x);
  return Buffer.from(`PROXY TCP6 ${v6(s)} ${v6(d)} ${src.port} ${dst.port}\r\n`, 'latin1');
}

/**
 * A v2 header (binary, command PROXY, transport STREAM, no TLVs) for a TCP connection
 * from `src` to `dst`: 28 bytes for IPv4, 52 for IPv6 (an IPv4 end is mapped into IPv6
 * when the other is IPv6). When either end is null or not an IP address, the header is
 * a 16-byte LOCAL one. Throws RangeError on a bad port.
 */
export function encodeV2(src: ProxyAddress | null, dst: ProxyAddress | null): Buffer {
  if (src === null || dst === null || !isIpAddress(src.address) || !isIpAddress(dst.address)) return encodeV2Local();
  checkPort(src.port);
  checkPort(dst.port);
  const s = unmapped(src.address);
  const d = unmapped(dst.address);
  if (isIPv4(s) && isIPv4(d)) {
    const out = Buffer.allocUnsafe(16 + 12);
    PROXY_V2_SIGNATURE.copy(out, 0);
    out[12] = 0x21;
    out[13] = 0x11;
    out.writeUInt16BE(12, 14);
    writeIPv4(out, 16, s);
    writeIPv4(out, 20, d);
    out.writeUInt16BE(src.port, 24);
    out.writeUInt16BE(dst.port, 26);
    return out;
  }
  const out = Buffer.alloc(16 + 36);
  PROXY_V2_SIGNATURE.copy(out, 0);
  out[12] = 0x21;
  out[13] = 0x21;
  out.writeUInt16BE(36, 14);
  writeIPv6(out, 16, s);
  writeIPv6(out, 32, d);
  out.writeUInt16BE(src.port, 48);
  out.writeUInt16BE(dst.port, 50);
  return out;
}

/** The 16-byte v2 LOCAL header: "not a relayed connection, use the real endpoints". */
export function encodeV2Local(): Buffer {
  const out = Buffer.alloc(16);
  PROXY_V2_SIGNATURE.copy(out, 0);
  out[12] = 0x20;
  out[13] = 0x00;
  return out;
}

function isIpAddress(a: string): boolean {
  return isIPv4(a) || (isIPv6(a) && !a.includes('%'));
}

function writeIPv4(out: Buffer, off: number, a: string): void {
  const p = a.split('.');
  for (let i = 0; i < 4; i++) out[off + i] = Number(p[i]);
}

/** Writes an IPv6 address (or an IPv4 one, mapped) as 16 bytes; `out` is zero-filled. */
function writeIPv6(out: Buffer, off: number, a: string): void {
  if (isIPv4(a)) {
    out.writeUInt16BE(0xffff, off + 10);
    writeIPv4(out, off + 12, a);
    return;
  }
  let text = a;
  const lastColon = text.lastIndexOf(':');
  if (text.indexOf('.', lastColon) > 0) {
    // an embedded IPv4 tail ("::ffff:192.0.2.1") becomes two hex groups
    const q = text.slice(lastColon + 1).split('.').map(Number);
    text = `${text.slice(0, lastColon + 1)}${((q[0]! << 8) | q[1]!).toString(16)}:${((q[2]! << 8) | q[3]!).toString(16)}`;
  }
  const hex = (part: string) => (part === '' ? [] : part.split(':').map((h) => parseInt(h, 16)));
  const gap = text.indexOf('::');
  const groups = gap < 0 ? hex(text) : [...hex(text.slice(0, gap)), ...hex(text.slice(gap + 2))];
  const head = gap < 0 ? 8 : hex(text.slice(0, gap)).length;
  const tailLen = groups.length - head;
  for (let i = 0; i < head; i++) out.writeUInt16BE(groups[i]!, off + 2 * i);
  for (let i = 0; i < tailLen; i++) out.writeUInt16BE(groups[head + i]!, off + 2 * (8 - tailLen + i));
}
