/**
 * Reads the server name (SNI, RFC 6066) from a TLS ClientHello without terminating TLS,
 * for TLS passthrough routing. Strict and bounded: every length is checked against its
 * container, and the handshake may be split over several TLS records (RFC 8446 §5.1)
 * and over any number of TCP segments, up to {@link CLIENT_HELLO_MAX_BYTES}.
 */

/** Most bytes of TLS records buffered while waiting for a complete ClientHello. */
export const CLIENT_HELLO_MAX_BYTES = 16 * 1024;

/**
 * Outcome of {@link parseClientHello}:
 * - `done` false, `error` null: incomplete, call again with more bytes;
 * - `error` set: the bytes start like TLS but are not a valid ClientHello (close);
 * - `done` true: `tls` says whether the bytes are TLS at all (false: the first byte is
 *   not a TLS handshake record, so route as "no SNI"), `serverName` is the lower-cased
 *   host_name or null when the ClientHello has none.
 */
export type ClientHelloResult =
  | { done: false; error: null }
  | { done: true; error: null; tls: boolean; serverName: string | null }
  | { done: false; error: string };

const NEED_MORE: ClientHelloResult = Object.freeze({ done: false, error: null }) as ClientHelloResult;
const NOT_TLS: ClientHelloResult = Object.freeze({ done: true, error: null, tls: false, serverName: null }) as ClientHelloResult;

const RECORD_HANDSHAKE = 0x16;
const HANDSHAKE_CLIENT_HELLO = 0x01;
const EXT_SERVER_NAME = 0x0000;
const NAME_TYPE_HOST = 0x00;
/** TLS record payloads are at most 2^14 bytes (RFC 8446 §5.1). */
const MAX_RECORD = 16384;

function fail(reason: string): ClientHelloResult {
  return { done: false, error: reason };
}

/**
 * Parses the TLS ClientHello at the start of `buf` (all bytes the client sent so far)
 * and returns its server name. Call again with the grown buffer while it answers
 * "incomplete"; the caller should give up (and close) once CLIENT_HELLO_MAX_BYTES have
 * arrived without an answer, which this function also reports as an error. Does not
 * consume anything: the caller forwards `buf` unchanged to the server. O(bytes), one
 * small allocation for the reassembled handshake when it spans records.
 */
export function parseClientHello(buf: Uint8Array, maxBytes = CLIENT_HELLO_MAX_BYTES): ClientHelloResult {
  if (buf.length === 0) return NEED_MORE;
  if (buf[0] !== RECORD_HANDSHAKE) return NOT_TLS;
  // Reassemble handshake bytes from consecutive handshake records until the
  // ClientHello's own length is covered.
  const parts: Uint8Array[] = [];
  let have = 0;
  let need = -1; // total handshake message bytes (4-byte header + body), once known
  let off = 0;
  while (need < 0 || have < need) {
    if (off >= maxBytes) return fail(`no complete ClientHello within ${maxBytes} bytes`);
    if (buf.length - off < 5) {
      if (buf.length - off >= 1 && buf[off] !== RECORD_HANDSHAKE) return fail(`record of type ${buf[off]} inside the ClientHello (expected handshake, 22)`);
      if (buf.length - off >= 2 && buf[off + 1] !== 0x03) return fail(`record version ${buf[off + 1]}.x (expected 3.x)`);
      return buf.length >= maxBytes ? fail(`no complete ClientHello within ${maxBytes} bytes`) : NEED_MORE;
    }
    if (buf[off] !== RECORD_HANDSHAKE) return fail(`record of type ${buf[off]} inside the ClientHello (expected handshake, 22)`);
    if (buf[off + 1] !== 0x03) return fail(`record version ${buf[off + 1]}.${buf[off + 2]} (expected 3.x)`);
    const recLen = (buf[off + 3]! << 8) | buf[off + 4]!;
    if (recLen === 0) return fail('empty handshake record');
    if (recLen > MAX_RECORD) return fail(`record of ${recLen} bytes exceeds 16384`);
    if (off + 5 + recLen > maxBytes) return fail(`no complete ClientHello within ${maxBytes} bytes`);
    if (buf.length < off + 5 + recLen) {
      // The record is incomplete, but its first bytes can already be checked.
      return checkPartial(buf, off, have);
    }
    const frag = buf.subarray(off + 5, off + 5 + recLen);
    parts.push(frag);
    have += recLen;
    off += 5 + recLen;
    if (need < 0 && have >= 4) {
      const hs = concatPrefix(parts, 4);
      if (hs[0] !== HANDSHAKE_CLIENT_HELLO) return fail(`handshake message type ${hs[0]} (expected ClientHello, 1)`);
      const bodyLen = (hs[1]! << 16) | (hs[2]! << 8) | hs[3]!;
      need = 4 + bodyLen;
      if (need > maxBytes) return fail(`ClientHello of ${need} bytes exceeds the limit of ${maxBytes}`);
    }
  }
  // A record may not carry the ClientHello and the start of another message.
  if (have !== need) return fail('handshake record carries bytes past the ClientHello');
  const msg = parts.length === 1 ? parts[0]! : concatPrefix(parts, have);
  return parseBody(msg, 4, need);
}

/** Early checks on an incomplete first record: the handshake type, as soon as it is there. */
function checkPartial(buf: Uint8Array, off: number, have: number): ClientHelloResult {
  if (have === 0 && buf.length > off + 5 && buf[off + 5] !== HANDSHAKE_CLIENT_HELLO) {
    return fail(`handshake message type ${buf[off + 5]} (expected ClientHello, 1)`);
  }
  return NEED_MORE;
}

function concatPrefix(parts: readonly Uint8Array[], n: number): Uint8Array {
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    const take = Math.min(p.length, n - o);
    out.set(p.subarray(0, take), o);
    o += take;
    if (o === n) break;
  }
  return out;
}

/** Parses the ClientHello body m[start, end) (RFC 8446 §4.1.2, RFC 5246 §7.4.1.2). */
function parseBody(m: Uint8Array, start: number, end: number): ClientHelloResult {
  let p = start;
  const u8 = () => m[p++]!;
  const u16 = () => {
    const v = (m[p]! << 8) | m[p + 1]!;
    p += 2;
    return v;
  };
  if (end - p < 2 + 32 + 1) return fail('ClientHello too short for version, random and session id');
  const major = u8();
  u8(); // minor: any 3.x
  if (major !== 3) return fail(`ClientHello version ${major}.x (expected 3.x)`);
  p += 32; // random
  const sidLen = u8();
  if (sidLen > 32) return fail(`session id of ${sidLen} bytes (at most 32)`);
  if (end - p < sidLen + 2) return fail('ClientHello truncated in the session id');
  p += sidLen;
  const csLen = u16();
  if (csLen < 2 || csLen % 2 !== 0) return fail(`cipher suites length ${csLen} (must be even and at least 2)`);
  if (end - p < csLen + 1) return fail('ClientHello truncated in the cipher suites');
  p += csLen;
  const cmLen = u8();
  if (cmLen < 1) return fail('no compression methods');
  if (end - p < cmLen) return fail('ClientHello truncated in the compression methods');
  p += cmLen;
  if (p === end) return { done: true, error: null, tls: true, serverName: null }; // no extensions
  if (end - p < 2) return fail('ClientHello truncated before the extensions length');
  const extLen = u16();
  if (extLen !== end - p) return fail(`extensions length ${extLen} does not match the ${end - p} bytes left`);
  const seen = new Set<number>();
  let serverName: string | null = null;
  while (p < end) {
    if (end - p < 4) return fail('truncated extension header');
    const type = u16();
    const len = u16();
    if (len > end - p) return fail(`extension ${type} of ${len} bytes overruns the ClientHello`);
    if (seen.has(type)) return fail(`extension ${type} appears twice`);
    seen.add(type);
    if (type === EXT_SERVER_NAME) {
      const r = parseServerName(m, p, p + len);
      if (typeof r !== 'string' && r !== null) return r;
      serverName = r;
    }
    p += len;
  }
  return { done: true, error: null, tls: true, serverName };
}

/** The host_name of a server_name extension body m[p, end), null when empty, or an error. */
function parseServerName(m: Uint8Array, p: number, end: number): string | null | ClientHelloResult {
  // A server may send an empty server_name extension; a client never should, but an
  // empty list is unambiguous: no name.
  if (end === p) return null;
  if (end - p < 2) return fail('server_name extension truncated');
  const listLen = (m[p]! << 8) | m[p + 1]!;
  p += 2;
  if (listLen !== end - p) return fail(`server_name list length ${listLen} does not match the ${end - p} bytes left`);
  let host: string | null = null;
  while (p < end) {
    if (end - p < 3) return fail('server_name entry truncated');
    const type = m[p]!;
    const len = (m[p + 1]! << 8) | m[p + 2]!;
    p += 3;
    if (len > end - p) return fail('server_name entry overruns the extension');
    if (type === NAME_TYPE_HOST) {
      if (host !== null) return fail('more than one host_name in server_name'); // RFC 6066 §3
      const name = hostName(m, p, p + len);
      if (name === null) return fail('server_name host_name is not a valid DNS name');
      host = name;
    }
    p += len;
  }
  return host;
}

/**
 * The lower-cased ASCII host name in m[p, end), or null when it is not one: 1..253
 * bytes of letters, digits, '-', '_' and '.', labels of 1..63 bytes, no trailing dot
 * (RFC 6066 §3: "HostName ... without a trailing dot").
 */
function hostName(m: Uint8Array, p: number, end: number): string | null {
  const len = end - p;
  if (len < 1 || len > 253) return null;
  let label = 0;
  let out = '';
  for (let i = p; i < end; i++) {
    let c = m[i]!;
    if (c === 0x2e) {
      if (label === 0) return null;
      label = 0;
    } else {
      const ok = (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x5f;
      if (!ok) return null;
      if (++label > 63) return null;
      if (c >= 0x41 && c <= 0x5a) c += 0x20;
    }
    out += String.fromCharCode(c);
  }
  if (label === 0) return null; // trailing dot
  return out;
}
