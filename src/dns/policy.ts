/**
 * Answer policies of pool-backed names: which of a pool's servers a given A or AAAA
 * answer names (all, a rotating or weighted-random subset, one by weight, the first
 * failover group with a usable server), which pool answers (CIDR steering, then GeoIP),
 * and what is said when nothing is usable. A selection is reduced to a small integer
 * key, so the responder can cache one encoded answer per (pool, pool version, key).
 */
import type { Pool } from '../backend/pool.js';
import type { Server } from '../backend/server.js';
import type { DnsPoolNameConfig } from '../config/types.js';
import type { GeoIpSteering } from './geoip.js';
import type { SteeringTable } from './steering.js';
import { ipv6Bytes } from './wire.js';
import { addressRdata } from './zone.js';

/** Address family of an answer: 4 for A, 6 for AAAA. */
export type Family = 4 | 6;

/**
 * Where a query came from, read only as far as its answer needs: as octets for CIDR
 * steering, as text for GeoIP. A responder refills one per query.
 */
export interface QueryClient {
  /** Writes the address into `out` (16 octets; IPv4, and IPv4-mapped IPv6, in the first 4); its family, 0 when unreadable. */
  octets(out: Uint8Array): Family | 0;
  /** The address as a socket reports it ('' when unknown). */
  text(): string;
}

/** A QueryClient from the address text a socket reported. */
export class TextClient implements QueryClient {
  constructor(public address = '') {}

  octets(out: Uint8Array): Family | 0 {
    return clientAddress(this.address, out);
  }

  text(): string {
    return this.address;
  }
}

/**
 * A pool's servers split by address family, recomputed when `pool.version` moves.
 * Servers whose host is not an IP address are left out (DNS can only name addresses).
 */
export class PoolView {
  version = -1;
  usable4: Server[] = [];
  usable6: Server[] = [];
  /** Every server of the family with weight > 0 that the operator has `ready` (or every one, when none is): the "nothing usable: answer all" set. */
  all4: Server[] = [];
  all6: Server[] = [];
  /** Cumulative effective weights of usable4 / usable6, for weighted picks. */
  cum4: Float64Array = new Float64Array(0);
  cum6: Float64Array = new Float64Array(0);
  private readonly family = new Map<Server, Family | 0>();
  private readonly rdata = new Map<Server, Uint8Array>();

  constructor(readonly pool: Pool) {
    for (const s of pool.servers) {
      const a = addressRdata(s.host);
      this.family.set(s, a === null ? 0 : a.bytes.length === 4 ? 4 : 6);
      if (a !== null) this.rdata.set(s, a.bytes);
    }
  }

  /** Brings the view up to date with the pool; O(servers) when the version moved, O(1) otherwise. */
  refresh(): this {
    const pool = this.pool;
    if (pool.version === this.version) return this;
    this.version = pool.version;
    const fam = this.family;
    this.usable4 = pool.usable.filter((s) => fam.get(s) === 4);
    this.usable6 = pool.usable.filter((s) => fam.get(s) === 6);
    const all = (f: Family) => {
      const list = pool.servers.filter((s) => fam.get(s) === f);
      const live = list.filter((s) => s.weight > 0 && s.adminState === 'ready');
      return live.length > 0 ? live : list;
    };
    this.all4 = all(4);
    this.all6 = all(6);
    this.cum4 = cumulative(this.usable4);
    this.cum6 = cumulative(this.usable6);
    return this;
  }

  /** The 4 or 16 octets of a server's address. */
  address(s: Server): Uint8Array {
    return this.rdata.get(s)!;
  }
}

function cumulative(list: readonly Server[]): Float64Array {
  const out = new Float64Array(list.length);
  let sum = 0;
  for (let i = 0; i < list.length; i++) {
    sum += Math.max(list[i]!.effectiveWeight, 0);
    out[i] = sum;
  }
  return out;
}

/** Index in `cum` (cumulative weights) of the weight interval holding r * total; -1 when total is 0. */
function pickIndex(cum: Float64Array, r: number): number {
  const n = cum.length;
  if (n === 0 || cum[n - 1]! <= 0) return -1;
  const x = r * cum[n - 1]!;
  let lo = 0;
  let hi = n - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cum[mid]! > x) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** Variant key of "nothing usable: answer every server". */
const KEY_ALL_SERVERS = 0xffffff;
/** Variant key of "nothing usable: answer nothing". */
const KEY_NONE = 0xfffffe;
/** Largest variant key that names a selection. */
const MAX_VARIANT = 0xfffffd;

/**
 * The outcome of one selection. One object per PoolAnswer, reused: read it (and call
 * `servers()`) before the next `select()`.
 */
export class Selection {
  view!: PoolView;
  family: Family = 4;
  /** Index of the answering pool among the name's pools (0: the configured pool). */
  poolIndex = 0;
  /** Identifies the servers named (with poolIndex and the pool version); -1: not cacheable. */
  key = 0;
  /** ECS SCOPE PREFIX-LENGTH the choice depended on (0 without steering, GeoIP or ECS). */
  scope = 0;
  /** Servers chosen as indices into the view's usable list (subset and weighted policies). */
  readonly picks: number[] = [];
  /** How `servers()` reads the picks. */
  mode: 'usable' | 'window' | 'picks' | 'group' | 'all' | 'none' = 'usable';
  /** window: first index and size; group: index into groups. */
  start = 0;
  count = 0;
  groups: ReadonlyArray<ReadonlySet<string>> = [];

  /** The servers the answer names, in answer order. Allocates; call it only to build an answer that is not cached. */
  servers(): Server[] {
    const v = this.view;
    const usable = this.family === 4 ? v.usable4 : v.usable6;
    switch (this.mode) {
      case 'usable':
        return [...usable];
      case 'window': {
        const out: Server[] = [];
        for (let i = 0; i < this.count; i++) out.push(usable[(this.start + i) % usable.length]!);
        return out;
      }
      case 'picks':
        return this.picks.map((i) => usable[i]!);
      case 'group': {
        const g = this.groups[this.start]!;
        return usable.filter((s) => g.has(s.name));
      }
      case 'all':
        return [...(this.family === 4 ? v.all4 : v.all6)];
      case 'none':
        return [];
    }
  }
}

/**
 * The runtime of one pool-backed name: its pools (the configured one first, then every
 * pool its steering table names), its policy state (rotation counters) and its steering.
 * `select` is called per query: it allocates nothing and costs O(1) for `all`, `subset`
 * rotate and `failover` (with few groups), O(log n) for `weighted`, O(N log n) for a
 * weighted-random subset of N.
 */
export class PoolAnswer {
  private readonly views: PoolView[];
  private readonly index = new Map<string, number>();
  private readonly groups: Array<ReadonlySet<string>>;
  private readonly rotation = [0, 0];
  private readonly sel = new Selection();
  private readonly clientBytes = new Uint8Array(16);

  /**
   * `viewOf` shares one PoolView per pool between names. Throws when the configured pool
   * (or a pool the inline steering names) does not exist.
   */
  constructor(
    readonly config: DnsPoolNameConfig,
    viewOf: (name: string) => PoolView | undefined,
    readonly steering: SteeringTable | null,
    allPools: ReadonlyMap<string, Pool>,
    private readonly random: () => number = Math.random,
    readonly geoip: GeoIpSteering | null = null,
  ) {
    const first = viewOf(config.pool);
    if (first === undefined) throw new Error(`pool-backed name ${config.name}: no pool named ${JSON.stringify(config.pool)}`);
    this.views = [first];
    this.index.set(config.pool, 0);
    // Every pool could be named by a steering file later: index them all now, configured one first.
    for (const name of allPools.keys()) {
      if (this.index.has(name)) continue;
      const v = viewOf(name);
      if (v === undefined) continue;
      this.index.set(name, this.views.length);
      this.views.push(v);
    }
    this.groups = config.groups.map((g) => new Set(g));
  }

  /**
   * Chooses the servers of one A (family 4) or AAAA (family 6) answer for a client: its
   * ECS subnet (`ecs` with `ecsPrefix` bits of `ecsAddr`, family 1 or 2), or else its
   * address `client`. Steering picks the preferred pool,
   * else GeoIP (country, then continent; its SCOPE is the prefix of the database network
   * the subnet fell in, or the steering table's when that is longer); when that pool has
   * no usable server of the family the configured pool answers; when neither has one,
   * `whenNoneUsable` decides.
   */
  select(family: Family, ecs: boolean, ecsFamily: number, ecsAddr: Uint8Array, ecsPrefix: number, client: QueryClient): Selection {
    const sel = this.sel;
    sel.family = family;
    sel.scope = 0;
    let idx = 0;
    let steered = false;
    const st = this.steering;
    if (st !== null && st.table.size > 0) {
      let m;
      if (ecs) {
        m = st.table.lookup(ecsAddr, ecsFamily === 1 ? 4 : 6, ecsPrefix);
        sel.scope = m.scope;
      } else {
        const fam = client.octets(this.clientBytes);
        m = fam === 0 ? undefined : st.table.lookup(this.clientBytes, fam, fam === 4 ? 32 : 128);
      }
      if (m !== undefined && m.value !== undefined) {
        idx = this.index.get(m.value) ?? 0;
        steered = true;
      }
    }
    const geo = this.geoip;
    if (!steered && geo !== null) {
      // The CIDR table did not match: the database decides (the cache key follows, as
      // poolIndex names the pool it chose).
      const g = geo.match(ecs, ecsFamily, ecsAddr, ecsPrefix, client);
      if (ecs && g.prefix > sel.scope) sel.scope = g.prefix;
      if (g.pool !== undefined) idx = this.index.get(g.pool) ?? 0;
    }
    let view = this.views[idx]!.refresh();
    if ((family === 4 ? view.usable4 : view.usable6).length === 0 && idx !== 0) {
      idx = 0;
      view = this.views[0]!.refresh();
    }
    sel.view = view;
    sel.poolIndex = idx;
    const usable = family === 4 ? view.usable4 : view.usable6;
    const m = usable.length;
    const cfg = this.config;
    if (m === 0) return this.noneUsable(sel);
    switch (cfg.policy) {
      case 'all':
        sel.mode = 'usable';
        sel.key = 0;
        return sel;
      case 'subset': {
        const n = Math.min(Math.max(cfg.subsetSize, 1), m);
        if (cfg.subsetMode === 'rotate') {
          const r = family === 4 ? 0 : 1;
          const start = this.rotation[r]! % m;
          this.rotation[r] = (start + 1) % m;
          sel.mode = 'window';
          sel.start = start;
          sel.count = n;
          sel.key = start;
          return sel;
        }
        return this.weightedSubset(sel, usable, family === 4 ? view.cum4 : view.cum6, n);
      }
      case 'weighted': {
        const i = pickIndex(family === 4 ? view.cum4 : view.cum6, this.random());
        sel.mode = 'picks';
        sel.picks.length = 0;
        sel.picks.push(i < 0 ? 0 : i);
        sel.key = sel.picks[0]!;
        return sel;
      }
      case 'failover': {
        for (let g = 0; g < this.groups.length; g++) {
          const names = this.groups[g]!;
          for (let i = 0; i < m; i++) {
            if (names.has(usable[i]!.name)) {
              sel.mode = 'group';
              sel.groups = this.groups;
              sel.start = g;
              sel.key = g;
              return sel;
            }
          }
        }
        return this.noneUsable(sel);
      }
    }
  }

  private noneUsable(sel: Selection): Selection {
    // Nothing usable in the answering pool: report from the configured pool.
    const view = this.views[0]!.refresh();
    sel.view = view;
    sel.poolIndex = 0;
    if (this.config.whenNoneUsable === 'all') {
      sel.mode = 'all';
      sel.key = KEY_ALL_SERVERS;
    } else {
      sel.mode = 'none';
      sel.key = KEY_NONE;
    }
    return sel;
  }

  /** N distinct servers drawn by effective weight, without replacement. */
  private weightedSubset(sel: Selection, usable: readonly Server[], cum: Float64Array, n: number): Selection {
    const picks = sel.picks;
    picks.length = 0;
    const m = usable.length;
    let total = cum[m - 1]!;
    for (let k = 0; k < n; k++) {
      let chosen = -1;
      if (total > 0) {
        let x = this.random() * total;
        for (let i = 0; i < m; i++) {
          if (picks.includes(i)) continue;
          const w = Math.max(usable[i]!.effectiveWeight, 0);
          if (x < w) {
            chosen = i;
            break;
          }
          x -= w;
        }
      }
      if (chosen < 0) for (let i = 0; i < m && chosen < 0; i++) if (!picks.includes(i)) chosen = i;
      picks.push(chosen);
      total -= Math.max(usable[chosen]!.effectiveWeight, 0);
    }
    sel.mode = 'picks';
    let key = 0;
    for (const i of picks) key = key * m + i;
    sel.key = m ** n <= MAX_VARIANT ? key : -1;
    return sel;
  }
}

/** Reads a socket address string into `out` (16 octets; IPv4 in the first 4); returns the family, 0 when unreadable. IPv4-mapped IPv6 counts as IPv4. */
export function clientAddress(address: string, out: Uint8Array): Family | 0 {
  if (address.startsWith('::ffff:') && address.includes('.')) address = address.slice(7);
  if (!address.includes(':')) {
    // Fast dotted-quad parse (sockets always report canonical text).
    let part = 0;
    let v = 0;
    let digits = 0;
    for (let i = 0; i < address.length; i++) {
      const c = address.charCodeAt(i);
      if (c === 46) {
        if (digits === 0 || part > 2) return 0;
        out[part++] = v;
        v = 0;
        digits = 0;
      } else if (c >= 48 && c <= 57 && digits < 3) {
        v = v * 10 + (c - 48);
        digits++;
        if (v > 255) return 0;
      } else return 0;
    }
    if (part !== 3 || digits === 0) return 0;
    out[3] = v;
    return 4;
  }
  const b = ipv6Bytes(address);
  if (b === null) return 0;
  out.set(b);
  return 6;
}
