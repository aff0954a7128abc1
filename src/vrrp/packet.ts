/**
 * VRRPv3 advertisements for IPv4 (RFC 5798 section 5): encoding, decoding and the
 * checksum. The checksum covers an IPv4 pseudo-header (source, destination, zero,
 * protocol 112, VRRP length) and the VRRP message, as RFC 5798 5.2.8 says and as
 * keepalived computes and checks it for version 3. Pure functions, no I/O.
 */
import { parseIpv4 } from '../core/ipv4.js';

/** IP protocol number of VRRP. */
export const VRRP_PROTOCOL = 112;
/** The IPv4 multicast group of VRRP (RFC 5798 5.1.1.2). */
export const VRRP_GROUP = '224.0.0.18';
/** Every VRRP packet is sent with TTL 255 and one with any other TTL is dropped (RFC 5798 5.1.1.3). */
export const VRRP_TTL = 255;
const VRRP_VERSION = 3;
const TYPE_ADVERTISEMENT = 1;
const VRRP_HEADER = 8;
const IPV4_MIN_HEADER = 20;

/** The fields of one advertisement. */
export interface Advert {
  vrid: number;
  /** 0 (the master resigns) .. 255 (the address owner). */
  priority: number;
  /** Max Advertise Interval in centiseconds (12 bits: 1..4095). */
  intervalCs: number;
  /** The virtual addresses, dotted quads. */
  addresses: string[];
}

/** An advertisement as received, with the IPv4 fields that matter. */
export interface ReceivedAdvert extends Advert {
  source: string;
  destination: string;
}

/** Why a received packet was dropped; each has its own counter. */
export type DropReason = 'truncated' | 'not-ipv4' | 'ttl' | 'version' | 'type' | 'checksum' | 'vrid' | 'peer' | 'own';

/** Counts of packets dropped, by reason. */
export type DropCounts = Record<DropReason, number>;

/** A fresh set of zero counts. */
export function zeroDrops(): DropCounts {
  return { truncated: 0, 'not-ipv4': 0, ttl: 0, version: 0, type: 0, checksum: 0, vrid: 0, peer: 0, own: 0 };
}

/** The result of decoding: an advertisement, or the reason it was dropped. */
export type DecodeResult = { ok: true; advert: ReceivedAdvert } | { ok: false; reason: DropReason };

/** "192.0.2.1" -> 0xc0000201 (unsigned). Throws on anything that is not a dotted quad. */
export function ipv4ToInt(addr: string): number {
  const n = parseIpv4(addr);
  if (n < 0) throw new Error(`not an IPv4 address: ${addr}`);
  return n;
}

/** 0xc0000201 -> "192.0.2.1". */
export function intToIpv4(n: number): string {
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
}

function sum16(buf: Buffer, start: number, end: number, acc: number): number {
  let i = start;
  for (; i + 1 < end; i += 2) acc += (buf[i]! << 8) | buf[i + 1]!;
  if (i < end) acc += buf[i]! << 8;
  return acc;
}

function fold(acc: number): number {
  while (acc > 0xffff) acc = (acc & 0xffff) + (acc >>> 16);
  return acc;
}

/**
 * The VRRPv3 checksum of `vrrp` (the checksum field taken as it is: zero it before
 * computing, or leave it in place to verify, where a correct packet gives 0).
 */
export function vrrpChecksum(source: string, destination: string, vrrp: Buffer): number {
  let acc = 0;
  const s = ipv4ToInt(source);
  const d = ipv4ToInt(destination);
  acc += (s >>> 16) + (s & 0xffff) + (d >>> 16) + (d & 0xffff);
  acc += VRRP_PROTOCOL + vrrp.length;
  acc = sum16(vrrp, 0, vrrp.length, acc);
  return ~fold(acc) & 0xffff;
}

/** The VRRP message (no IP header) of an advertisement sent from `source` to `destination`. */
export function encodeAdvert(a: Advert, source: string, destination: string): Buffer {
  const buf = Buffer.alloc(VRRP_HEADER + 4 * a.addresses.length);
  buf[0] = (VRRP_VERSION << 4) | TYPE_ADVERTISEMENT;
  buf[1] = a.vrid;
  buf[2] = a.priority;
  buf[3] = a.addresses.length;
  buf.writeUInt16BE(a.intervalCs & 0x0fff, 4);
  a.addresses.forEach((addr, i) => buf.writeUInt32BE(ipv4ToInt(addr), VRRP_HEADER + 4 * i));
  buf.writeUInt16BE(vrrpChecksum(source, destination, buf), 6);
  return buf;
}

/**
 * A whole IPv4 packet around a VRRP message, for a raw socket with IP_HDRINCL: TTL 255,
 * protocol 112, DSCP CS6 as keepalived sends; the kernel fills in the identification and
 * the header checksum.
 */
export function encodeIpv4(vrrp: Buffer, source: string, destination: string): Buffer {
  const buf = Buffer.alloc(IPV4_MIN_HEADER + vrrp.length);
  buf[0] = 0x45;
  buf[1] = 0xc0;
  buf.writeUInt16BE(buf.length, 2);
  buf[8] = VRRP_TTL;
  buf[9] = VRRP_PROTOCOL;
  buf.writeUInt32BE(ipv4ToInt(source), 12);
  buf.writeUInt32BE(ipv4ToInt(destination), 16);
  vrrp.copy(buf, IPV4_MIN_HEADER);
  return buf;
}

/**
 * Decodes a whole IPv4 packet as read from a raw socket. Checks, in order: an IPv4
 * header that fits, protocol 112, TTL 255, a VRRP header and as many addresses as it
 * announces, version 3, type advertisement, the checksum. Never throws: anything else
 * comes back as a drop reason.
 */
export function decodeIpv4Advert(pkt: Buffer): DecodeResult {
  if (pkt.length < IPV4_MIN_HEADER) return { ok: false, reason: 'truncated' };
  if (pkt[0]! >> 4 !== 4) return { ok: false, reason: 'not-ipv4' };
  const ihl = (pkt[0]! & 0x0f) * 4;
  if (ihl < IPV4_MIN_HEADER || pkt.length < ihl) return { ok: false, reason: 'truncated' };
  if (pkt[9] !== VRRP_PROTOCOL) return { ok: false, reason: 'not-ipv4' };
  // The kernel hands raw sockets the whole datagram; trust the smaller of both lengths.
  const total = Math.min(pkt.readUInt16BE(2), pkt.length);
  if (total < ihl) return { ok: false, reason: 'truncated' };
  const source = intToIpv4(pkt.readUInt32BE(12));
  const destination = intToIpv4(pkt.readUInt32BE(16));
  if (pkt[8] !== VRRP_TTL) return { ok: false, reason: 'ttl' };
  return decodeAdvert(pkt.subarray(ihl, total), source, destination);
}

/** Decodes the VRRP message of a packet from `source` to `destination` (see decodeIpv4Advert). */
export function decodeAdvert(vrrp: Buffer, source: string, destination: string): DecodeResult {
  if (vrrp.length < VRRP_HEADER) return { ok: false, reason: 'truncated' };
  if (vrrp[0]! >> 4 !== VRRP_VERSION) return { ok: false, reason: 'version' };
  if ((vrrp[0]! & 0x0f) !== TYPE_ADVERTISEMENT) return { ok: false, reason: 'type' };
  const count = vrrp[3]!;
  const len = VRRP_HEADER + 4 * count;
  if (vrrp.length < len) return { ok: false, reason: 'truncated' };
  const msg = vrrp.subarray(0, len);
  // over the entire VRRP message (RFC 9568 section 5.2.8), not just the part the count
  // announces: a count changed in transit must not leave a packet that still checks
  if (vrrpChecksum(source, destination, vrrp) !== 0) return { ok: false, reason: 'checksum' };
  const addresses: string[] = [];
  for (let i = 0; i < count; i++) addresses.push(intToIpv4(msg.readUInt32BE(VRRP_HEADER + 4 * i)));
  return {
    ok: true,
    advert: { vrid: msg[1]!, priority: msg[2]!, intervalCs: msg.readUInt16BE(4) & 0x0fff, addresses, source, destination },
  };
}
