/**
 * HPACK's Huffman code (RFC 7541 section 5.2 and Appendix B). The code is canonical
 * (codes of one length are consecutive, in symbol order, after the shorter ones), so it
 * is fully described by each symbol's code length; the codes and a 4-bits-at-a-time
 * decoding automaton are built from those lengths once, at load.
 */

/** Code length of each symbol 0..256 (256 is EOS), one base-36 digit each (RFC 7541 Appendix B). */
const LENGTHS =
  'dnsssssssoussussssssssusssssssss6aacd68baa8b8666555666666678f6cad67777777777777777777777878djde6f56565666577666567655677777fbedskmkkmmmnmnnnnnonoomnonnnnlmnmnnomlkmmnnlnmmolmnnllmlnmnnkmmmnmmnqqkjmnmpqqqrrqopjlqrrqrollqqsrrrkoklmllnmmppooqnqrqqrrrrrsrrrrrqu';

/** Code of each symbol (right-aligned) and its length. */
export const CODES = new Uint32Array(257);
export const CODE_BITS = new Uint8Array(257);

/**
 * The decoding automaton: a state is a node of the code tree (0 the root); for each
 * state and input nibble, NEXT gives the state after it, EMIT the symbol decoded on the
 * way (+1; 0 none: codes are at least 5 bits long, so a nibble completes at most one),
 * and FAIL says the nibble decoded EOS or walked off the tree.
 */
let nodes = 1;
const left: number[] = [0];
const right: number[] = [0];
const leafSym: number[] = [-1];
const depth: number[] = [0];
const allOnes: boolean[] = [true];

{
  const order = Array.from({ length: 257 }, (_, s) => s);
  for (let s = 0; s < 257; s++) CODE_BITS[s] = parseInt(LENGTHS[s]!, 36);
  order.sort((a, b) => CODE_BITS[a]! - CODE_BITS[b]! || a - b);
  let code = 0;
  let prev = 0;
  for (const s of order) {
    const len = CODE_BITS[s]!;
    if (prev !== 0) code = (code + 1) * 2 ** (len - prev);
    prev = len;
    CODES[s] = code;
    // insert into the tree
    let n = 0;
    for (let b = len - 1; b >= 0; b--) {
      const bit = Math.floor(code / 2 ** b) & 1;
      const arr = bit === 0 ? left : right;
      if (arr[n] === 0) {
        arr[n] = nodes;
        left.push(0);
        right.push(0);
        leafSym.push(-1);
        depth.push(depth[n]! + 1);
        allOnes.push(allOnes[n]! && bit === 1);
        nodes++;
      }
      n = arr[n]!;
    }
    leafSym[n] = s;
  }
}

const NEXT = new Uint16Array(nodes * 16);
const EMIT = new Uint16Array(nodes * 16);
const FAIL = new Uint8Array(nodes * 16);
/** A state where the input may end: no bits pending, or at most 7 bits that are a prefix of EOS (all ones). */
const ACCEPT = new Uint8Array(nodes);

for (let n = 0; n < nodes; n++) {
  ACCEPT[n] = n === 0 || (allOnes[n]! && depth[n]! <= 7) ? 1 : 0;
  if (leafSym[n] !== -1) continue;
  for (let nib = 0; nib < 16; nib++) {
    let s = n;
    let emit = 0;
    let fail = 0;
    for (let b = 3; b >= 0; b--) {
      s = ((nib >> b) & 1) === 0 ? left[s]! : right[s]!;
      if (s === 0) {
        fail = 1;
        break;
      }
      const sym = leafSym[s]!;
      if (sym !== -1) {
        if (sym === 256) {
          fail = 1;
          break;
        }
        emit = sym + 1;
        s = 0;
      }
    }
    NEXT[n * 16 + nib] = s;
    EMIT[n * 16 + nib] = emit;
    FAIL[n * 16 + nib] = fail;
  }
}

/** Decodes Huffman-coded bytes [start, end) of `buf` into `out` from `at`; the new end in `out`, or -1 when the input is not a valid code (RFC 7541 section 5.2: EOS, or padding that is not a prefix of EOS, or 8 bits or more of it). */
export function huffmanDecode(buf: Uint8Array, start: number, end: number, out: Uint8Array, at: number): number {
  let s = 0;
  for (let i = start; i < end; i++) {
    const byte = buf[i]!;
    let k = s * 16 + (byte >> 4);
    if (FAIL[k] === 1) return -1;
    let e = EMIT[k]!;
    if (e !== 0) out[at++] = e - 1;
    s = NEXT[k]!;
    k = s * 16 + (byte & 15);
    if (FAIL[k] === 1) return -1;
    e = EMIT[k]!;
    if (e !== 0) out[at++] = e - 1;
    s = NEXT[k]!;
  }
  return ACCEPT[s] === 1 ? at : -1;
}

/** Length in bytes of `s` (latin1) Huffman-coded. */
export function huffmanLength(s: string): number {
  let bits = 0;
  for (let i = 0; i < s.length; i++) bits += CODE_BITS[s.charCodeAt(i) & 0xff]!;
  return (bits + 7) >> 3;
}

/** Writes `s` (latin1) Huffman-coded into `out` at `at`, padded with ones; returns the end. */
export function huffmanEncode(s: string, out: Uint8Array, at: number): number {
  let acc = 0;
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i) & 0xff;
    const len = CODE_BITS[c]!;
    const code = CODES[c]!;
    // feed at most 16 bits at a time so the accumulator stays within 32 bits
    let rest = len;
    while (rest > 0) {
      const take = rest > 16 ? rest - 16 : rest;
      const part = Math.floor(code / 2 ** (rest - take)) & ((1 << take) - 1);
      acc = ((acc << take) | part) >>> 0;
      n += take;
      rest -= take;
      while (n >= 8) {
        n -= 8;
        out[at++] = (acc >>> n) & 0xff;
      }
      acc &= (1 << n) - 1;
    }
  }
  if (n > 0) out[at++] = ((acc << (8 - n)) | ((1 << (8 - n)) - 1)) & 0xff;
  return at;
}
