/**
 * Algorithm-specific checks. What every balancer must do is in
 * balance-conformance.test.ts; this file pins down each algorithm's own sequence,
 * data structure and helpers.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Server } from '../../src/backend/server.js';
import type { PickContext } from '../../src/balance/balancer.js';
import { First } from '../../src/balance/first.js';
import { hashBytes, hashKey } from '../../src/balance/hash.js';
import { ALGORITHMS, createBalancer } from '../../src/balance/index.js';
import { LeastConn } from '../../src/balance/least-conn.js';
import { Maglev, MAGLEV_SLACK, maglevTableSize } from '../../src/balance/maglev.js';
import { PowerOfTwoChoices } from '../../src/balance/p2c.js';
import { RoundRobin } from '../../src/balance/round-robin.js';
import { Sticky } from '../../src/balance/sticky.js';
import { AliasTable, SCHEDULE_MAX_LENGTH, smoothSchedule } from '../../src/balance/weighted.js';

let port = 20_000;
function servers(weights: readonly number[], maxConn = 0): Server[] {
  return weights.map(
    (w, i) =>
      new Server('p', {
        name: `s${i + 1}`,
        host: '127.0.0.1',
        port: port++,
        weight: w,
        backup: false,
        maxConn,
        checkHost: '127.0.0.1',
        checkPort: port,
        url: `http://127.0.0.1:${port}`,
      }),
  );
}

const IDLE: PickContext = { avoid: null, hash: 0, sticky: null };
const names = (list: readonly (Server | undefined)[]) => list.map((s) => s?.name ?? '-');
const seq = (b: { pick(ctx: PickContext): Server | undefined }, n: number, ctx = IDLE) => names(Array.from({ length: n }, () => b.pick(ctx)));

/** nginx's loop, written plainly: the reference the schedule must reproduce. */
function nginxSequence(weights: readonly number[], n: number): number[] {
  const cur = weights.map(() => 0);
  const total = weights.reduce((a, b) => a + b, 0);
  const out: number[] = [];
  for (let t = 0; t < n; t++) {
    let best = -1;
    for (let i = 0; i < weights.length; i++) {
      cur[i]! += weights[i]!;
      if (best < 0 || cur[i]! > cur[best]!) best = i;
    }
    cur[best]! -= total;
    out.push(best);
  }
  return out;
}

describe('createBalancer', () => {
  test('knows all six algorithms and builds the documented classes', () => {
    assert.deepEqual([...ALGORITHMS].sort(), ['first', 'least-conn', 'maglev', 'random', 'round-robin', 'sticky']);
    assert.ok(createBalancer('round-robin') instanceof RoundRobin);
    assert.ok(createBalancer('random') instanceof PowerOfTwoChoices);
    assert.ok(createBalancer('least-conn') instanceof LeastConn);
    assert.ok(createBalancer('maglev') instanceof Maglev);
    assert.ok(createBalancer('first') instanceof First);
    const sticky = createBalancer('sticky');
    assert.ok(sticky instanceof Sticky && sticky.fallback instanceof RoundRobin, 'sticky falls back to round-robin by default');
    const lc = createBalancer('sticky', 'least-conn');
    assert.ok(lc instanceof Sticky && lc.fallback instanceof LeastConn);
    const rnd = createBalancer('sticky', 'random');
    assert.ok(rnd instanceof Sticky && rnd.fallback instanceof PowerOfTwoChoices);
  });
});

describe('smooth weighted round robin', () => {
  test("nginx's sequences: 3:1 gives s1 s1 s2 s1; 5:1:1 gives a a b a c a a", () => {
    const b = new RoundRobin();
    b.update(servers([3, 1]));
    assert.deepEqual(seq(b, 8), ['s1', 's1', 's2', 's1', 's1', 's1', 's2', 's1']);
    b.update(servers([5, 1, 1]));
    assert.deepEqual(seq(b, 7), ['s1', 's1', 's2', 's1', 's3', 's1', 's1']);
  });

  test('the precomputed schedule is exactly nginx’s loop, period after period', () => {
    let x = 12345;
    const rand = () => (x = (Math.imul(x, 1103515245) + 12345) >>> 0) / 2 ** 32;
    for (let trial = 0; trial < 30; trial++) {
      const weights = Array.from({ length: 1 + Math.floor(rand() * 12) }, () => 1 + Math.floor(rand() * (trial < 15 ? 10 : 256)));
      const total = weights.reduce((a, b) => a + b, 0);
      const b = new RoundRobin();
      const list = servers(weights);
      b.update(list);
      const want = nginxSequence(weights, Math.min(3 * total, 20_000)).map((i) => list[i]!.name);
      assert.deepEqual(seq(b, want.length), want, `weights ${weights.join(':')}`);
    }
  });

  test('smoothSchedule: divides by the gcd, refuses fractions and oversized periods', () => {
    assert.deepEqual(Array.from(smoothSchedule([6, 2])!), [0, 0, 1, 0]);
    assert.deepEqual(Array.from(smoothSchedule([0, 2, 0, 2])!), [1, 3]);
    assert.equal(smoothSchedule([])?.length, 0);
    assert.equal(smoothSchedule([1.5, 1]), null);
    assert.equal(smoothSchedule([SCHEDULE_MAX_LENGTH, 1]), null);
  });

  test('fractional weights run the live loop with the same sequence (1.5:0.5 like 3:1)', () => {
    const b = new RoundRobin();
    const list = servers([4, 4]);
    list[0]!.effectiveWeight = 1.5;
    list[1]!.effectiveWeight = 0.5;
    b.update(list);
    assert.deepEqual(seq(b, 8), ['s1', 's1', 's2', 's1', 's1', 's1', 's2', 's1']);
  });

  test('a full server loses its turns and the others keep their order; update() restarts', () => {
    const b = new RoundRobin();
    const list = servers([2, 1, 1], 1);
    b.update(list);
    list[0]!.active = 1;
    assert.deepEqual(seq(b, 4), ['s2', 's3', 's2', 's3']);
    list[0]!.active = 0;
    b.update(list);
    assert.deepEqual(seq(b, 4), ['s1', 's2', 's3', 's1']);
  });

  test('mostly-full pools fall back to the live scan, which still finds the one with room', () => {
    const b = new RoundRobin();
    const list = servers(Array.from({ length: 50 }, () => 1), 1);
    b.update(list);
    for (const s of list) s.active = 1;
    list[37]!.active = 0;
    for (let i = 0; i < 20; i++) assert.equal(b.pick(IDLE), list[37]);
  });
});

describe('least-conn', () => {
  test('an idle pool follows the smooth round-robin sequence', () => {
    const b = new LeastConn();
    b.update(servers([3, 1]));
    assert.deepEqual(seq(b, 8), ['s1', 's1', 's2', 's1', 's1', 's1', 's2', 's1']);
  });

  test('lowest active/weight wins: 4 active on weight 4 beats 2 active on weight 1', () => {
    const b = new LeastConn();
    const list = servers([4, 1]);
    b.update(list);
    list[0]!.active = 4;
    list[1]!.active = 2;
    for (let i = 0; i < 10; i++) assert.equal(b.pick(IDLE), list[0]);
  });

  test('equal ratios tie and the tie rotates by weight', () => {
    const b = new LeastConn();
    const list = servers([2, 1]);
    b.update(list);
    list[0]!.active = 2;
    list[1]!.active = 1;
    assert.deepEqual(seq(b, 3), ['s1', 's2', 's1']);
  });
});

describe('power of two choices', () => {
  test('of two draws the less loaded wins: a busy server is rarely picked', () => {
    const b = new PowerOfTwoChoices();
    const list = servers([1, 1, 1, 1]);
    b.update(list);
    list[0]!.active = 100;
    let busy = 0;
    for (let i = 0; i < 40_000; i++) if (b.pick(IDLE) === list[0]) busy++;
    // picked only when both draws are s1: 1/16
    assert.ok(Math.abs(busy / 40_000 - 1 / 16) < 0.01, `busy share ${busy / 40_000}`);
  });

  test('AliasTable draws in proportion to the weights and never draws weight 0', () => {
    const t = new AliasTable([0, 1, 0, 3, 6]);
    assert.equal(t.size, 3);
    const got = [0, 0, 0, 0, 0];
    for (let i = 0; i < 200_000; i++) got[t.sample()]!++;
    assert.equal(got[0], 0);
    assert.equal(got[2], 0);
    assert.ok(Math.abs(got[1]! / 200_000 - 0.1) < 0.005);
    assert.ok(Math.abs(got[3]! / 200_000 - 0.3) < 0.005);
    assert.equal(new AliasTable([0, 0]).size, 0);
  });
});

describe('maglev', () => {
  test('hashKey is MurmurHash3_x86_32 over UTF-8 (reference vectors)', () => {
    assert.equal(hashKey(''), 0);
    assert.equal(hashKey('', 1), 0x514e28b7);
    assert.equal(hashKey('', 0xffffffff), 0x81f16f39);
    assert.equal(hashKey('hello'), 0x248bfa47);
    assert.equal(hashKey('Hello, world!', 1234), 0xfaf6cdb3);
    assert.equal(hashKey('The quick brown fox jumps over the lazy dog'), 0x2e4ff723);
    for (const s of ['', 'a', 'ab', 'abc', 'abcd', 'abcde', '203.0.113.7', 'héllo wörld', '日本語', '😀x']) {
      assert.equal(hashKey(s, 42), hashBytes(Buffer.from(s, 'utf8'), 42), s);
    }
    const buf = Buffer.from('xx203.0.113.7yy');
    assert.equal(hashBytes(buf, 0, 2, buf.length - 2), hashKey('203.0.113.7'));
  });

  test('table size: 65537 up to 655 servers, then a prime above 100 x n that changes only at steps', () => {
    assert.equal(maglevTableSize(0), 0);
    assert.equal(maglevTableSize(1), 65537);
    assert.equal(maglevTableSize(655), 65537);
    assert.equal(maglevTableSize(656), 131101);
    assert.equal(maglevTableSize(1000), maglevTableSize(999));
    assert.ok(maglevTableSize(1311) > 131100);
  });

  test('table(): M entries, every one an index of a positive-weight server, returned as a copy', () => {
    const b = new Maglev();
    const list = servers([1, 0, 2]);
    b.update(list);
    const t = b.table();
    assert.equal(t.length, 65537);
    assert.ok(t.every((i) => i === 0 || i === 2));
    assert.equal(b.members[2], list[2]);
    t.fill(0);
    assert.ok(b.table().some((i) => i === 2), 'the copy does not alias the table');
    b.update([]);
    assert.equal(b.table().length, 0);
  });

  test(`no server holds more than ${MAGLEV_SLACK * 100}% above its weighted share, nor 20% below`, () => {
    const b = new Maglev();
    const list = servers(Array.from({ length: 100 }, (_, i) => 1 + (i % 7)));
    b.update(list);
    const t = b.table();
    const got = new Array<number>(100).fill(0);
    for (const i of t) got[i]!++;
    const total = list.reduce((a, s) => a + s.weight, 0);
    for (const [i, s] of list.entries()) {
      const fair = (t.length * s.weight) / total;
      assert.ok(got[i]! <= Math.ceil(fair * (1 + MAGLEV_SLACK)), `${s.name}: ${got[i]} > cap for ${fair.toFixed(1)}`);
      // The low side is not capped: light servers among 100 land up to ~16% below.
      assert.ok(got[i]! >= fair * 0.8, `${s.name}: ${got[i]} far below ${fair.toFixed(1)}`);
    }
  });

  test("a full server's keys go, each consistently, to the next servers in the table, spread over them", () => {
    const b = new Maglev();
    const list = servers([1, 1, 1, 1], 1);
    b.update(list);
    const keys = Array.from({ length: 4000 }, (_, i) => hashKey(`client-${i}`));
    const home = keys.map((hash) => b.pick({ avoid: null, hash, sticky: null })!);
    list[0]!.active = 1;
    const moved = new Map<Server, number>();
    keys.forEach((hash, i) => {
      const s = b.pick({ avoid: null, hash, sticky: null })!;
      if (home[i] !== list[0]) assert.equal(s, home[i], 'keys of other servers stay');
      else {
        assert.notEqual(s, list[0]);
        assert.equal(b.pick({ avoid: null, hash, sticky: null }), s, 'the same key lands on the same fallback');
        moved.set(s, (moved.get(s) ?? 0) + 1);
      }
    });
    const n = [...moved.values()];
    assert.equal(n.length, 3);
    assert.ok(Math.min(...n) > Math.max(...n) / 2, `fallbacks spread ${n.join(' ')}`);
  });

  test('a server that holds no slot (tiny weight) and the only one with room is still found', () => {
    const b = new Maglev();
    const list = servers(Array.from({ length: 300 }, (_, i) => (i === 0 ? 1 : 256)), 1);
    list[0]!.effectiveWeight = 0.0001;
    b.update(list);
    assert.ok(!b.table().includes(0), 'precondition: s1 holds no slot');
    for (const s of list) s.active = 1;
    list[0]!.active = 0;
    assert.equal(b.pick({ avoid: null, hash: 12345, sticky: null }), list[0]);
  });
});

describe('sticky', () => {
  test('update() forwards to the fallback, and the sticky server does not disturb its sequence', () => {
    const b = new Sticky(new RoundRobin());
    const list = servers([3, 1]);
    b.update(list);
    assert.equal(b.pick({ avoid: null, hash: 0, sticky: 's2' }), list[1]);
    assert.deepEqual(seq(b, 4), ['s1', 's1', 's2', 's1']);
  });
});

describe('first', () => {
  test('configuration order, not name order or weight', () => {
    const b = new First();
    const list = servers([1, 100, 1], 1).reverse();
    b.update(list);
    assert.equal(b.pick(IDLE), list[0]);
    list[0]!.active = 1;
    assert.equal(b.pick(IDLE), list[1]);
  });
});

describe('least-conn shortlist (pools above 8 servers)', () => {
  const minRatio = (list: readonly Server[]) => Math.min(...list.map((s) => s.active / s.effectiveWeight));

  test('with work only added, every pick is a global minimum of active/weight', () => {
    const b = new LeastConn();
    const list = servers(Array.from({ length: 50 }, (_, i) => 1 + ((i * 7) % 10)));
    b.update(list);
    for (let i = 0; i < 5000; i++) {
      const s = b.pick(IDLE)!;
      assert.ok(s.active / s.effectiveWeight <= minRatio(list) + 1e-12, `pick ${i}: ${s.name} is not least loaded`);
      s.active++;
    }
  });

  test('work finishing on any server is seen within 32 picks', () => {
    const b = new LeastConn();
    const list = servers(new Array<number>(50).fill(1));
    b.update(list);
    for (const s of list) s.active = 10;
    for (let i = 0; i < 3; i++) b.pick(IDLE)!.active++;
    for (const victim of [list[7]!, list[31]!, list[49]!]) {
      victim.active = 2;
      let seen = -1;
      for (let i = 0; i < 40 && seen < 0; i++) {
        const s = b.pick(IDLE)!;
        s.active++;
        if (s === victim) seen = i;
      }
      assert.ok(seen >= 0 && seen < 32, `${victim.name} picked after ${seen}`);
      victim.active = 100;
    }
  });

  test('full and avoided servers on the shortlist are passed over; the exact scan backs it up', () => {
    const b = new LeastConn();
    const list = servers(new Array<number>(20).fill(1), 5);
    b.update(list);
    for (const s of list) s.active = 5;
    list[13]!.active = 4;
    list[17]!.active = 3;
    assert.equal(b.pick({ avoid: new Set([list[17]!]), hash: 0, sticky: null }), list[13]);
    assert.equal(b.pick(IDLE), list[17]);
  });
});
