/**
 * The balancer conformance suite: every algorithm createBalancer() knows runs it. Each
 * case declares its capabilities (like HAProxy's lb algorithm properties) and the suite
 * checks each declared property, so an algorithm never passes by being skipped: a
 * property it does not have is checked in its declared alternative form (fills in order
 * instead of weighted shares, ignores load instead of levelling it).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Server } from '../../src/backend/server.js';
import type { Balancer, PickContext } from '../../src/balance/balancer.js';
import { ALGORITHMS, ALGORITHM_TRAITS, createBalancer, type StickyFallback } from '../../src/balance/index.js';
import { Maglev } from '../../src/balance/maglev.js';
import type { BalanceAlgorithm } from '../../src/config/types.js';

interface Capabilities {
  /** What an idle pool's picks follow: the weights, or configuration order up to max_conn. */
  spread: 'weights' | 'fill';
  /** What pick() reads besides `avoid`: the suite feeds random 32-bit hashes for 'hash'. */
  input: 'none' | 'hash' | 'sticky';
  /**
   * Work held open (never released) shapes later picks: 'exact' keeps active/weight level
   * to within one request, 'approx' to within 10%, 'ignores' picks as if idle, 'fills'
   * moves to the next server only at max_conn.
   */
  load: 'exact' | 'approx' | 'ignores' | 'fills';
  /** Same key -> same server, minimal disruption, same tables across instances. */
  consistent: boolean;
  /** Two instances with the same pool and inputs pick the same sequence. */
  deterministic: boolean;
  /** sticky only: with ctx.sticky null it picks as this algorithm does. */
  fallback?: StickyFallback;
}

interface Case extends Capabilities {
  label: string;
  alg: BalanceAlgorithm;
}

const CASES: Case[] = [
  { label: 'round-robin', alg: 'round-robin', spread: 'weights', input: 'none', load: 'ignores', consistent: false, deterministic: true },
  { label: 'random (p2c)', alg: 'random', spread: 'weights', input: 'none', load: 'approx', consistent: false, deterministic: false },
  { label: 'least-conn', alg: 'least-conn', spread: 'weights', input: 'none', load: 'exact', consistent: false, deterministic: true },
  { label: 'maglev', alg: 'maglev', spread: 'weights', input: 'hash', load: 'ignores', consistent: true, deterministic: true },
  {
    label: 'sticky -> round-robin',
    alg: 'sticky',
    fallback: 'round-robin',
    spread: 'weights',
    input: 'sticky',
    load: 'ignores',
    consistent: false,
    deterministic: true,
  },
  {
    label: 'sticky -> least-conn',
    alg: 'sticky',
    fallback: 'least-conn',
    spread: 'weights',
    input: 'sticky',
    load: 'exact',
    consistent: false,
    deterministic: true,
  },
  {
    label: 'sticky -> random',
    alg: 'sticky',
    fallback: 'random',
    spread: 'weights',
    input: 'sticky',
    load: 'approx',
    consistent: false,
    deterministic: false,
  },
  { label: 'first', alg: 'first', spread: 'fill', input: 'none', load: 'fills', consistent: false, deterministic: true },
];

let port = 10_000;
function servers(weights: readonly number[], opts: { maxConn?: number; prefix?: string } = {}): Server[] {
  return weights.map(
    (w, i) =>
      new Server('p', {
        name: `${opts.prefix ?? 's'}${i + 1}`,
        host: '127.0.0.1',
        port: port++,
        weight: w,
        backup: false,
        maxConn: opts.maxConn ?? 0,
        checkHost: '127.0.0.1',
        checkPort: port,
        url: `http://127.0.0.1:${port}`,
      }),
  );
}

/** mulberry32: reproducible 32-bit hashes for the suite. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

function make(c: Case): Balancer {
  return createBalancer(c.alg, c.fallback);
}

/** A context source for the case: a fresh random hash per pick when the case hashes. */
function contexts(c: Case, seed = 1): (avoid?: ReadonlySet<Server> | null) => PickContext {
  const next = rng(seed);
  return (avoid = null) => ({ avoid, hash: c.input === 'hash' ? next() : 0, sticky: null });
}

function counts(b: Balancer, ctx: () => PickContext, picks: number): Map<Server, number> {
  const m = new Map<Server, number>();
  for (let i = 0; i < picks; i++) {
    const s = b.pick(ctx());
    assert.ok(s !== undefined, 'picked nothing from a non-empty pool');
    m.set(s, (m.get(s) ?? 0) + 1);
  }
  return m;
}

function assertShares(label: string, list: readonly Server[], got: Map<Server, number>, picks: number, tolerance = 0.02): void {
  const total = list.reduce((a, s) => a + s.effectiveWeight, 0);
  for (const s of list) {
    const share = (got.get(s) ?? 0) / picks;
    const want = s.effectiveWeight / total;
    assert.ok(Math.abs(share - want) <= tolerance, `${label}: ${s.name} share ${share.toFixed(4)}, want ${want.toFixed(4)} +- ${tolerance}`);
  }
}

const WEIGHT_SETS: Array<[string, number[]]> = [
  ['1:2:5', [1, 2, 5]],
  ['3:1', [3, 1]],
  ['20 servers, weights 1..10', Array.from({ length: 20 }, (_, i) => (i % 10) + 1)],
  ['256:1:64 (extremes)', [256, 1, 64]],
];

test('every algorithm has at least one conformance case, and cases agree with ALGORITHM_TRAITS', () => {
  for (const alg of ALGORITHMS) assert.ok(CASES.some((c) => c.alg === alg), `no conformance case for ${alg}`);
  for (const c of CASES) {
    assert.equal(c.input, ALGORITHM_TRAITS[c.alg].input, `${c.label}: input`);
    assert.equal(c.spread === 'weights', ALGORITHM_TRAITS[c.alg].weights === 'proportional', `${c.label}: weights`);
    if (c.load === 'exact' || c.load === 'approx' || c.load === 'fills') assert.ok(ALGORITHM_TRAITS[c.alg].readsActive, `${c.label}: readsActive`);
  }
});

for (const c of CASES) {
  describe(`conformance: ${c.label}`, () => {
    if (c.spread === 'weights') {
      for (const [name, weights] of WEIGHT_SETS) {
        test(`idle pool: shares follow weights ${name} within 2% over 100,000 picks`, () => {
          const b = make(c);
          const list = servers(weights);
          b.update(list);
          assertShares(c.label, list, counts(b, contexts(c), 100_000), 100_000);
        });
      }
      test('fractional effective weights (slow start) still set the shares', () => {
        const b = make(c);
        const list = servers([4, 4, 4]);
        list[0]!.effectiveWeight = 0.2;
        list[1]!.effectiveWeight = 2.6;
        b.update(list);
        assertShares(c.label, list, counts(b, contexts(c), 100_000), 100_000);
      });
    } else {
      test('fills servers in configuration order up to max_conn, then the next; weights ignored', () => {
        const b = make(c);
        const list = servers([1, 5, 1, 9], { maxConn: 3 });
        b.update(list);
        const ctx = contexts(c);
        const seq: string[] = [];
        for (let i = 0; i < 12; i++) {
          const s = b.pick(ctx())!;
          s.active++;
          seq.push(s.name);
        }
        assert.deepEqual(seq, ['s1', 's1', 's1', 's2', 's2', 's2', 's3', 's3', 's3', 's4', 's4', 's4']);
        assert.equal(b.pick(ctx()), undefined, 'every server is full');
        list[1]!.active--;
        assert.equal(b.pick(ctx())!.name, 's2', 'room on s2 again');
        list[0]!.active = 0;
        assert.equal(b.pick(ctx())!.name, 's1', 'room on s1 again comes first');
      });
      test('without max_conn every pick is the first server', () => {
        const b = make(c);
        const list = servers([1, 10]);
        b.update(list);
        const ctx = contexts(c);
        for (let i = 0; i < 1000; i++) {
          const s = b.pick(ctx())!;
          s.active++;
          assert.equal(s.name, 's1');
        }
      });
    }

    test('avoid is honoured: never an avoided server; undefined when all are avoided', () => {
      const b = make(c);
      const list = servers([1, 2, 5, 3]);
      b.update(list);
      const ctx = contexts(c);
      for (const x of list) {
        const avoid = new Set([x]);
        for (let i = 0; i < 2000; i++) {
          const s = b.pick(ctx(avoid));
          assert.ok(s !== undefined && s !== x, `${c.label} picked avoided ${x.name}`);
        }
      }
      const allButOne = new Set(list.slice(1));
      for (let i = 0; i < 2000; i++) assert.equal(b.pick(ctx(allButOne)), list[0]);
      assert.equal(b.pick(ctx(new Set(list))), undefined);
    });

    test('full servers (active >= max_conn) are never picked; undefined when all are full', () => {
      const b = make(c);
      const list = servers([1, 2, 5, 3], { maxConn: 2 });
      b.update(list);
      const ctx = contexts(c);
      for (const x of list) {
        x.active = 2;
        for (let i = 0; i < 2000; i++) {
          const s = b.pick(ctx());
          assert.ok(s !== undefined && s !== x, `${c.label} picked full ${x.name}`);
        }
        x.active = 0;
      }
      for (const x of list) x.active = 2;
      assert.equal(b.pick(ctx()), undefined);
      list[2]!.active = 1;
      for (let i = 0; i < 100; i++) assert.equal(b.pick(ctx()), list[2], 'the only server with room');
      // full and avoided together
      list[2]!.active = 0;
      list[3]!.active = 0;
      for (let i = 0; i < 1000; i++) assert.equal(b.pick(ctx(new Set([list[2]!]))), list[3]);
    });

    test('empty pool: nothing is picked before update, after update([]), or with avoid', () => {
      const b = make(c);
      const ctx = contexts(c);
      assert.equal(b.pick(ctx()), undefined);
      b.update([]);
      assert.equal(b.pick(ctx()), undefined);
      const list = servers([1, 1]);
      b.update(list);
      assert.ok(b.pick(ctx()) !== undefined);
      b.update([]);
      assert.equal(b.pick(ctx()), undefined);
      assert.equal(b.pick(ctx(new Set(list))), undefined);
    });

    test('update() replaces the set; servers with effective weight 0 are never picked', () => {
      const b = make(c);
      const old = servers([1, 1, 1], { prefix: 'old' });
      b.update(old);
      const fresh = servers([0, 3, 2, 0], { prefix: 'new' });
      b.update(fresh);
      const ctx = contexts(c);
      for (let i = 0; i < 5000; i++) {
        const s = b.pick(ctx())!;
        assert.ok(s === fresh[1] || s === fresh[2], `${c.label} picked ${s?.name}`);
      }
      const drained = servers([2, 2]);
      drained[0]!.effectiveWeight = 0;
      b.update(drained);
      for (let i = 0; i < 1000; i++) assert.equal(b.pick(ctx()), drained[1]);
      drained[1]!.effectiveWeight = 0;
      b.update(drained);
      assert.equal(b.pick(ctx()), undefined);
    });

    if (c.load === 'exact' || c.load === 'approx') {
      for (const weights of [
        [1, 2, 5],
        Array.from({ length: 40 }, (_, i) => (i % 10) + 1),
      ]) {
        test(`work held open keeps active/weight level (${c.load}) over ${weights.length} servers, reading active live`, () => {
          const b = make(c);
          const list = servers(weights);
          b.update(list);
          const ctx = contexts(c);
          const total = weights.reduce((a, w) => a + w, 0);
          const picks = total * (c.load === 'exact' ? 100 : 1000);
          for (let i = 0; i < picks; i++) b.pick(ctx())!.active++;
          for (const s of list) {
            const want = (picks * s.effectiveWeight) / total;
            if (c.load === 'exact') assert.ok(Math.abs(s.active - want) <= 1, `${s.name} active ${s.active}, want ${want}`);
            else assert.ok(Math.abs(s.active / want - 1) <= 0.1, `${s.name} active ${s.active}, want ~${want}`);
          }
          // a heavy server whose work finished is preferred from then on: every pick (exact),
          // or whenever it is one of the two draws (approx)
          const heavy = list[list.length - 1]!;
          heavy.active = 0;
          const rounds = c.load === 'exact' ? 100 : 1000;
          let got = 0;
          for (let i = 0; i < rounds; i++) {
            const s = b.pick(ctx())!;
            s.active++;
            if (s === heavy) got++;
          }
          const p = heavy.effectiveWeight / total;
          const want = c.load === 'exact' ? 0.6 * rounds : 0.6 * rounds * (1 - (1 - p) ** 2);
          assert.ok(got >= want, `${c.label}: the idle server got ${got}/${rounds}, want >= ${want.toFixed(0)}`);
        });
      }
    } else if (c.load === 'ignores') {
      test('work held open does not change the picks (the algorithm ignores load)', () => {
        const b = make(c);
        const list = servers([1, 2, 5]);
        b.update(list);
        const ctx = contexts(c);
        const got = new Map<Server, number>();
        for (let i = 0; i < 80_000; i++) {
          const s = b.pick(ctx())!;
          s.active++;
          got.set(s, (got.get(s) ?? 0) + 1);
        }
        assertShares(c.label, list, got, 80_000);
      });
    }

    if (c.deterministic) {
      test('two instances with the same pool and inputs pick the same sequence', () => {
        const a = make(c);
        const b = make(c);
        const list = servers([3, 1, 2]);
        a.update(list);
        b.update(list);
        const ca = contexts(c, 7);
        const cb = contexts(c, 7);
        for (let i = 0; i < 5000; i++) assert.equal(a.pick(ca()), b.pick(cb()));
      });
    }

    if (c.input === 'sticky') {
      test('ctx.sticky names a server: that one, unless avoided, full or unknown (then the fallback)', () => {
        const b = make(c);
        const list = servers([1, 1, 1], { maxConn: 1 });
        b.update(list);
        const pick = (sticky: string | null, avoid: ReadonlySet<Server> | null = null) => b.pick({ avoid, hash: 0, sticky });
        for (let i = 0; i < 100; i++) assert.equal(pick('s2'), list[1]);
        for (let i = 0; i < 100; i++) assert.notEqual(pick('s2', new Set([list[1]!])), list[1]);
        list[1]!.active = 1;
        for (let i = 0; i < 100; i++) assert.notEqual(pick('s2'), list[1]);
        list[1]!.active = 0;
        for (let i = 0; i < 100; i++) assert.ok(pick('nope') !== undefined);
        list[0]!.active = 1;
        list[2]!.active = 1;
        for (let i = 0; i < 10; i++) assert.equal(pick('s1'), list[1], 'named server full: the fallback finds the one with room');
      });
      test(`with ctx.sticky null it picks exactly as its fallback (${c.fallback})`, () => {
        const b = make(c);
        const list = servers([1, 2, 5]);
        b.update(list);
        if (c.deterministic) {
          const f = createBalancer(c.fallback!);
          f.update(list);
          for (let i = 0; i < 5000; i++) {
            const ctx = { avoid: null, hash: 0, sticky: null };
            const s = b.pick(ctx)!;
            assert.equal(s, f.pick(ctx));
            s.active++;
            if (i % 10 === 9) for (const x of list) x.active = 0;
          }
        } else {
          assertShares(c.label, list, counts(b, contexts(c), 100_000), 100_000);
        }
      });
    }

    if (c.consistent) {
      const maglev = (): Maglev => {
        const b = make(c);
        assert.ok(b instanceof Maglev, `${c.label}: consistent cases expose table()`);
        return b;
      };
      test('same key, same server: while the pool is unchanged and after an identical update', () => {
        const b = make(c);
        const list = servers([1, 2, 5, 3]);
        b.update(list);
        const keys = Array.from({ length: 2000 }, rng(3));
        const first = keys.map((hash) => b.pick({ avoid: null, hash, sticky: null }));
        b.update(list.slice().reverse());
        keys.forEach((hash, i) => assert.equal(b.pick({ avoid: null, hash, sticky: null }), first[i]));
      });

      test('same names and weights give identical tables in two instances, whatever the order', () => {
        const a = maglev();
        const b = maglev();
        const listA = servers([1, 2, 5, 3, 1]);
        const listB = servers([1, 2, 5, 3, 1]).reverse();
        a.update(listA);
        b.update(listB);
        const ta = a.table();
        const tb = b.table();
        assert.equal(ta.length, tb.length);
        const namesA = Array.from(ta, (i) => a.members[i]!.name);
        const namesB = Array.from(tb, (i) => b.members[i]!.name);
        assert.deepEqual(namesA, namesB);
        const c2 = maglev();
        c2.update(servers([1, 2, 5, 3, 1]));
        assert.deepEqual(c2.table(), ta, 'same names in the same order: identical index tables');
      });

      for (const n of [3, 5, 10, 100]) {
        test(`one of ${n} servers leaving moves at most 1.2 x 1/${n} of the keys`, () => {
          const names = servers(new Array<number>(n).fill(1));
          const before = maglev();
          before.update(names);
          const tb = before.table();
          const removals = n <= 10 ? names.map((_, i) => i) : [0, 1, 17, 42, 50, 63, 77, 98, 99];
          for (const r of removals) {
            const after = maglev();
            after.update(names.filter((_, i) => i !== r));
            const ta = after.table();
            assert.equal(ta.length, tb.length, 'table size unchanged');
            let moved = 0;
            for (let j = 0; j < tb.length; j++) if (before.members[tb[j]!] !== after.members[ta[j]!]) moved++;
            const share = moved / tb.length;
            assert.ok(share <= 1.2 / n, `removing ${names[r]!.name} of ${n} moved ${(share * 100).toFixed(3)}% of keys, limit ${(120 / n).toFixed(3)}%`);
          }
        });
      }
    }
  });
}
