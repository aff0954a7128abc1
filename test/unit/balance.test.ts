import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Server } from '../../src/backend/server.js';
import { createBalancer, ALGORITHMS } from '../../src/balance/index.js';

function servers(weights: number[]): Server[] {
  return weights.map((w, i) => new Server('p', { name: `s${i + 1}`, host: '127.0.0.1', port: 1000 + i, weight: w }));
}

test('round robin is smooth: weights 3:1 give s1 s1 s2 s1 patterns, never three of s1 then s2', () => {
  const b = createBalancer('round-robin');
  const list = servers([3, 1]);
  b.update(list);
  const seq = Array.from({ length: 8 }, () => b.pick({ avoid: null })!.name);
  assert.deepEqual(seq, ['s1', 's1', 's2', 's1', 's1', 's1', 's2', 's1']);
});

for (const alg of ALGORITHMS) {
  test(`${alg}: weighted shares within 2% over 100,000 picks, avoid honoured, empty pool picks nothing`, () => {
    const b = createBalancer(alg);
    const list = servers([1, 2, 5]);
    b.update(list);
    const counts = new Map<string, number>();
    for (let i = 0; i < 100_000; i++) {
      const s = b.pick({ avoid: null })!;
      if (alg === 'least-conn') {
        // hold one request open per pick, released in proportion so weights matter
        s.active++;
        if (i % 8 === 7) for (const x of list) x.active = 0;
      }
      counts.set(s.name, (counts.get(s.name) ?? 0) + 1);
    }
    const total = 8;
    for (const [i, s] of list.entries()) {
      const share = (counts.get(s.name) ?? 0) / 100_000;
      assert.ok(Math.abs(share - [1, 2, 5][i]! / total) < 0.02, `${alg} ${s.name} share ${share}`);
    }
    const avoid = new Set([list[2]!]);
    for (let i = 0; i < 100; i++) assert.notEqual(b.pick({ avoid })!.name, 's3');
    assert.equal(b.pick({ avoid: new Set(list) }), undefined);
    b.update([]);
    assert.equal(b.pick({ avoid: null }), undefined);
  });
}
