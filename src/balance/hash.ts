/**
 * MurmurHash3 (x86, 32-bit), the hash behind Maglev's permutations and callers' request
 * keys. Fast on short keys, good avalanche (names such as "s1" and "s2" land far apart),
 * and stable across processes and machines, so every worker and the kernel data plane
 * build the same tables.
 */

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

function mixK(k: number): number {
  k = Math.imul(k, C1);
  k = (k << 15) | (k >>> 17);
  return Math.imul(k, C2);
}

function mixH(h: number, k: number): number {
  h ^= mixK(k);
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function finish(h: number, tail: number, tailLen: number, len: number): number {
  if (tailLen > 0) h ^= mixK(tail);
  h ^= len;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * MurmurHash3_x86_32 of `bytes[start, end)` with `seed`: an unsigned 32-bit integer.
 * O(length), no allocation. Use it on a key that is already in a Buffer.
 */
export function hashBytes(bytes: Uint8Array, seed = 0, start = 0, end = bytes.length): number {
  let h = seed | 0;
  let i = start;
  const blocks = start + ((end - start) & ~3);
  for (; i < blocks; i += 4) {
    h = mixH(h, bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24));
  }
  let tail = 0;
  const tailLen = end - i;
  for (let b = 0; b < tailLen; b++) tail |= bytes[i + b]! << (8 * b);
  return finish(h, tail, tailLen, end - start);
}

/**
 * MurmurHash3_x86_32 of the UTF-8 bytes of `s` with `seed` (so hashKey(s) ===
 * hashBytes(Buffer.from(s))): an unsigned 32-bit integer for PickContext.hash. O(length);
 * allocates only for non-ASCII strings. Called per request by the proxy for maglev pools.
 */
export function hashKey(s: string, seed = 0): number {
  const len = s.length;
  let h = seed | 0;
  let seen = 0;
  let i = 0;
  const blocks = len & ~3;
  for (; i < blocks; i += 4) {
    const c0 = s.charCodeAt(i);
    const c1 = s.charCodeAt(i + 1);
    const c2 = s.charCodeAt(i + 2);
    const c3 = s.charCodeAt(i + 3);
    seen |= c0 | c1 | c2 | c3;
    h = mixH(h, c0 | (c1 << 8) | (c2 << 16) | (c3 << 24));
  }
  let tail = 0;
  for (let b = 0; i + b < len; b++) {
    const c = s.charCodeAt(i + b);
    seen |= c;
    tail |= c << (8 * b);
  }
  if (seen > 0x7f) return hashBytes(Buffer.from(s, 'utf8'), seed);
  return finish(h, tail, len - i, len);
}
