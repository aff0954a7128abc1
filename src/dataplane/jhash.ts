/**
 * The kernel's flow hash, reproduced in TypeScript so that `fulcrum dataplane which` and
 * the tests can say which table entry a flow hits without asking the kernel: nftables'
 * `jhash EXPR mod M seed S` is Bob Jenkins' lookup3 hash as Linux has it
 * (include/linux/jhash.h, `jhash()`), over the registers the expression loaded, scaled to
 * 0..M-1 with reciprocal_scale (the high 32 bits of hash x M), as net/netfilter/nft_hash.c
 * does. Checked against the kernel by test/privileged/dataplane-*.test.ts.
 */

const INITVAL = 0xdeadbeef;

function rol(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

function u32le(k: Uint8Array, i: number): number {
  return k[i]! | (k[i + 1]! << 8) | (k[i + 2]! << 16) | (k[i + 3]! << 24);
}

/** Linux `jhash(key, length, initval)` on a little-endian CPU: an unsigned 32-bit integer. */
export function jhash(key: Uint8Array, length: number, initval: number): number {
  let a = (INITVAL + length + initval) | 0;
  let b = a;
  let c = a;
  let o = 0;
  while (length > 12) {
    a = (a + u32le(key, o)) | 0;
    b = (b + u32le(key, o + 4)) | 0;
    c = (c + u32le(key, o + 8)) | 0;
    a = (a - c) | 0; a ^= rol(c, 4); c = (c + b) | 0;
    b = (b - a) | 0; b ^= rol(a, 6); a = (a + c) | 0;
    c = (c - b) | 0; c ^= rol(b, 8); b = (b + a) | 0;
    a = (a - c) | 0; a ^= rol(c, 16); c = (c + b) | 0;
    b = (b - a) | 0; b ^= rol(a, 19); a = (a + c) | 0;
    c = (c - b) | 0; c ^= rol(b, 4); b = (b + a) | 0;
    length -= 12;
    o += 12;
  }
  if (length === 0) return c >>> 0;
  // The tail: bytes 8..11 go to c, 4..7 to b, 0..3 to a (the switch's fall-through).
  for (let i = length - 1; i >= 0; i--) {
    const v = key[o + i]! << (8 * (i & 3));
    if (i >= 8) c = (c + v) | 0;
    else if (i >= 4) b = (b + v) | 0;
    else a = (a + v) | 0;
  }
  c ^= b; c = (c - rol(b, 14)) | 0;
  a ^= c; a = (a - rol(c, 11)) | 0;
  b ^= a; b = (b - rol(a, 25)) | 0;
  c ^= b; c = (c - rol(b, 16)) | 0;
  a ^= c; a = (a - rol(c, 4)) | 0;
  b ^= a; b = (b - rol(a, 14)) | 0;
  c ^= b; c = (c - rol(b, 24)) | 0;
  return c >>> 0;
}

/** reciprocal_scale(hash, m): hash x m / 2^32, in 0..m-1. */
export function scale(hash: number, m: number): number {
  return Math.floor((hash * m) / 4294967296);
}

/** What the data plane hashes: `flow` is the 4-tuple, `client` the source address alone. */
export type HashInput = 'flow' | 'client';

/** A flow as the balancer sees its first packet: IPv4 dotted quads and ports. */
export interface Flow {
  saddr: string;
  sport: number;
  daddr: string;
  dport: number;
}

function putAddress(out: Uint8Array, at: number, ip: string): void {
  const parts = ip.split('.');
  for (let i = 0; i < 4; i++) out[at + i] = Number(parts[i]);
}

/**
 * The registers `jhash ip saddr . th sport . ip daddr . th dport` (flow) or `jhash ip
 * saddr` (client) reads: each field in network byte order, a 2-byte port padded to a
 * 4-byte register with zeros, as nft_payload leaves it.
 */
export function flowKey(flow: Flow, input: HashInput): Uint8Array {
  if (input === 'client') {
    const key = new Uint8Array(4);
    putAddress(key, 0, flow.saddr);
    return key;
  }
  const key = new Uint8Array(16);
  putAddress(key, 0, flow.saddr);
  key[4] = flow.sport >>> 8;
  key[5] = flow.sport & 0xff;
  putAddress(key, 8, flow.daddr);
  key[12] = flow.dport >>> 8;
  key[13] = flow.dport & 0xff;
  return key;
}

/** The table entry (0..size-1) the kernel's `jhash ... mod size seed seed` gives this flow. */
export function flowSlot(flow: Flow, input: HashInput, size: number, seed: number): number {
  const key = flowKey(flow, input);
  return scale(jhash(key, key.length, seed), size);
}
