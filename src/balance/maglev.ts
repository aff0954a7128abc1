import type { Server } from '../backend/server.js';
import type { Balancer, PickContext } from './balancer.js';
import { hashKey } from './hash.js';
import { acceptable } from './weighted.js';

export { hashBytes, hashKey } from './hash.js';

/** Seeds of the two name hashes behind each server's permutation (offset, skip). */
const SEED_OFFSET = 0x6d61676c;
const SEED_SKIP = 0x65762131;
/** Table entries a pick walks past an unacceptable server before scanning the pool. */
const WALK = 64;

function isPrime(m: number): boolean {
  if (m < 2) return false;
  if (m % 2 === 0) return m === 2;
  for (let d = 3; d * d <= m; d += 2) if (m % d === 0) return false;
  return true;
}

/**
 * The Maglev lookup table size for `n` servers: a prime above 100 x n, so a server's
 * share of the keys can follow its weight to within about 1%. 65537 while that is
 * enough (n <= 655); beyond, the first prime above the next power of two that is (131101,
 * 262147, ...), so the size, which every key's slot depends on, changes only when n
 * crosses one of these steps rather than with every server added or removed. 0 for n = 0.
 */
export function maglevTableSize(n: number): number {
  if (n <= 0) return 0;
  let m = 65537;
  for (let step = 1 << 17; m <= 100 * n; step *= 2) {
    m = step + 1;
    while (!isPrime(m)) m++;
  }
  return m;
}

/**
 * Maglev consistent hashing (Eisenbud et al., NSDI 2016): pick(ctx) returns the server
 * at `table[ctx.hash % M]`, so a key keeps its server while the pool is unchanged, and
 * when one of N servers leaves, the keys that move are about 1/N: those it held plus a
 * few (at most 10% more with N <= 100, see the conformance suite).
 *
 * update() fills a table of prime size M (maglevTableSize). As in Maglev, each server
 * walks its own permutation of the slots, offset + j x skip (mod M), with offset and skip
 * hashed from its NAME, and claims free slots as it goes, more often the heavier its
 * effectiveWeight. The order of the claims differs from the paper's to move fewer keys
 * (see populate): shares follow the weights to within a few percent rather than exactly,
 * and no server holds more than MAGLEV_SLACK above its share. Tables depend only on the
 * servers' names and weights: the same pool gives the same table in every process and
 * every instance, whatever the order of `eligible`.
 *
 * pick() is O(1) when the key's server is acceptable. When it is full or in `avoid`, the
 * pick walks forward through the table to the next acceptable server (at most WALK
 * entries, so the choice still depends only on the key and spreads a full server's keys
 * over the others by weight), and past that scans the pool from `hash % n`. It returns
 * undefined only when no server is acceptable.
 */
export class Maglev implements Balancer {
  private servers: Server[] = [];
  private lookup: Int32Array = new Int32Array(0);

  /** O(M log M), M >= 65537: about 5-15 ms once warm; called on pool changes only. */
  update(eligible: readonly Server[]): void {
    this.servers = eligible.slice();
    this.lookup = populate(this.servers);
  }

  /** O(1) unless the key's server is full or avoided; see the class comment. */
  pick(ctx: PickContext): Server | undefined {
    const m = this.lookup.length;
    if (m === 0) return undefined;
    const slot = (ctx.hash >>> 0) % m;
    const s = this.servers[this.lookup[slot]!]!;
    if (acceptable(s, ctx.avoid)) return s;
    return this.walk(slot, ctx);
  }

  private walk(slot: number, ctx: PickContext): Server | undefined {
    const table = this.lookup;
    const m = table.length;
    const avoid = ctx.avoid;
    let rejected = table[slot]!;
    for (let k = 0, p = slot; k < WALK; k++) {
      if (++p === m) p = 0;
      const i = table[p]!;
      if (i === rejected) continue;
      const s = this.servers[i]!;
      if (acceptable(s, avoid)) return s;
      rejected = i;
    }
    const list = this.servers;
    const n = list.length;
    const start = (ctx.hash >>> 0) % n;
    for (let k = 0; k < n; k++) {
      const s = list[(start + k) % n]!;
      if (s.effectiveWeight > 0 && acceptable(s, avoid)) return s;
    }
    return undefined;
  }

  /**
   * A copy of the lookup table: entry j is the index, in the `eligible` array passed to
   * the last update() (see `members`), of the server that keys with hash % M === j go to
   * when nothing is full or avoided. Length M (maglevTableSize), 0 for an empty pool.
   * O(M); for the kernel data plane and simulators, called after update().
   */
  table(): Int32Array {
    return this.lookup.slice();
  }

  /** The servers table() indexes into: the last `eligible`, in its order. */
  get members(): readonly Server[] {
    return this.servers;
  }
}

/** What a Maglev table is built from: the name its permutation is hashed from, and its weight. */
export interface MaglevMember {
  readonly name: string;
  readonly effectiveWeight: number;
}

/**
 * The Maglev lookup table of `members` (entries are indexes into it, -1 only when no
 * weight is positive), the one Maglev.update() builds, of `size` entries: a prime, by
 * default maglevTableSize(members with a positive weight). O(size log size). For the
 * kernel data plane, whose tables are smaller than the proxy's (see src/dataplane/).
 */
export function maglevLookup(members: readonly MaglevMember[], size?: number): Int32Array {
  return populate(members, size);
}

/** Share above its weight a server may hold (bounded loads): trades balance for less churn. */
export const MAGLEV_SLACK = 0.03;

let timesCache = new Float64Array(0);

/**
 * times[r] = -ln(1 - (r + 1) / (M + 1)): when, at weight 1, a server reaches the r-th slot
 * of its permutation. A slot's rank in a permutation is uniform, so the first visit to it
 * comes at an exponential time with rate = weight: the fastest wins with probability
 * weight / total.
 */
function visitTimes(m: number): Float64Array {
  if (timesCache.length !== m) {
    timesCache = new Float64Array(m);
    for (let r = 0; r < m; r++) timesCache[r] = -Math.log1p(-(r + 1) / (m + 1));
  }
  return timesCache;
}

/**
 * Fills the lookup table for `servers` (entries are indexes into it; none is left at -1
 * when some weight is positive).
 *
 * Each server walks its permutation of the slots on a common clock, reaching its r-th
 * slot at -ln(1 - (r + 1) / (M + 1)) / weight, and visits are processed in clock order
 * (ties: heavier first, then name order). A visit claims the slot if it is free and the
 * server holds fewer than its cap, ceil((1 + MAGLEV_SLACK) x its weighted share of M).
 * Without caps each slot would go to the server that reaches it first, a weighted
 * rendezvous hash in which removing a server moves only its own slots (the clock makes
 * the shares follow the weights); the caps bound any share at MAGLEV_SLACK above its
 * weight and bind only near the end of the fill, so they move few other slots.
 *
 * Classic Maglev lets every server take the next free slot of its permutation in turn:
 * exact shares, but more churn. Measured with M = 65537, one of N = 3, 5, 10, 100 equal
 * servers leaving moves 1.00, 1.01, 1.02, 1.60 x 1/N of the keys there, and 1.00, 1.00,
 * 1.01, 1.09 x 1/N here. The price is on the low side, which is not capped: the
 * lightest of 100 equal servers holds ~8% less than its share, and weight-1 servers among
 * 100 weighted 1..7 up to ~16% less.
 *
 * Servers of equal weight visit their r-th slots together, so the clock only has to
 * order the distinct weights (a small heap); cost O(M log M) visits.
 */
function populate(servers: readonly MaglevMember[], tableSize?: number): Int32Array {
  const members = servers
    .map((s, i) => ({ s, i }))
    .filter(({ s }) => s.effectiveWeight > 0 && Number.isFinite(s.effectiveWeight))
    .sort((a, b) => b.s.effectiveWeight - a.s.effectiveWeight || (a.s.name < b.s.name ? -1 : a.s.name > b.s.name ? 1 : a.i - b.i));
  const n = members.length;
  const m = tableSize ?? maglevTableSize(n);
  const table = new Int32Array(m).fill(-1);
  if (n === 0) return table;
  const times = visitTimes(m);
  let total = 0;
  for (const { s } of members) total += s.effectiveWeight;
  const index = Int32Array.from(members, ({ i }) => i);
  const cap = Int32Array.from(members, ({ s }) => Math.ceil(((1 + MAGLEV_SLACK) * m * s.effectiveWeight) / total));
  const skip = Int32Array.from(members, ({ s }) => (hashKey(s.name, SEED_SKIP) % (m - 1)) + 1);
  const pos = Int32Array.from(members, ({ s }) => hashKey(s.name, SEED_OFFSET) % m);
  const held = new Int32Array(n);

  // Groups of equal weight, heaviest first; members[] is sorted so each is a run
  // [start, start + len) of member ids, compacted as members reach their cap.
  const gWeight: number[] = [];
  const gStart: number[] = [];
  const gLen: number[] = [];
  for (let k = 0; k < n; k++) {
    const w = members[k]!.s.effectiveWeight;
    if (k === 0 || w !== gWeight[gWeight.length - 1]) {
      gWeight.push(w);
      gStart.push(k);
      gLen.push(0);
    }
    gLen[gLen.length - 1]!++;
  }
  const ids = Int32Array.from({ length: n }, (_, k) => k);
  const g = gWeight.length;
  const gRank = new Int32Array(g);
  // Min-heap of groups by (time of their next visit, group number = heavier first).
  const heapKey = Float64Array.from(gWeight, (w) => times[0]! / w);
  const heapGroup = Int32Array.from({ length: g }, (_, x) => x);
  let size = g;
  let filled = 0;
  while (filled < m && size > 0) {
    const x = heapGroup[0]!;
    const start = gStart[x]!;
    const end = start + gLen[x]!;
    let keep = start;
    for (let a = start; a < end && filled < m; a++) {
      const k = ids[a]!;
      const p = pos[k]!;
      if (table[p]! < 0) {
        table[p] = index[k]!;
        held[k]!++;
        filled++;
      }
      const q = p + skip[k]!;
      pos[k] = q >= m ? q - m : q;
      if (held[k]! < cap[k]!) ids[keep++] = k;
    }
    gLen[x] = keep - start;
    const r = ++gRank[x]!;
    let key: number;
    let id: number;
    if (keep > start && r < m) {
      key = times[r]! / gWeight[x]!;
      id = x;
    } else {
      size--;
      key = heapKey[size]!;
      id = heapGroup[size]!;
    }
    let i = 0;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= size) break;
      if (c + 1 < size && (heapKey[c + 1]! < heapKey[c]! || (heapKey[c + 1] === heapKey[c] && heapGroup[c + 1]! < heapGroup[c]!))) c++;
      if (heapKey[c]! < key || (heapKey[c] === key && heapGroup[c]! < id)) {
        heapKey[i] = heapKey[c]!;
        heapGroup[i] = heapGroup[c]!;
        i = c;
      } else break;
    }
    heapKey[i] = key;
    heapGroup[i] = id;
  }
  return table;
}
