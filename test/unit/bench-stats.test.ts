import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pairedRatio } from '../../bench/lib/stats.js';

const run = (round: number, rps?: number) => ({ round, rps });

test('pairedRatio: ratios within each round, then their median', () => {
  // the host slows down in round 2: each contestant's median alone would pair 100 with 60
  const a = [run(1, 90), run(2, 60), run(3, 95)];
  const b = [run(1, 100), run(2, 70), run(3, 100)];
  const r = pairedRatio(a, b, (x) => x.rps);
  assert.deepEqual(
    r.perRound.map((x) => Math.round(x * 1000) / 1000),
    [0.9, 0.857, 0.95],
  );
  assert.equal(r.median, 0.9);
});

test('pairedRatio: rounds where either side has no figure are left out, in round order', () => {
  const a = [run(3, 50), run(1, 10), run(2)];
  const b = [run(1, 20), run(2, 20), run(4, 20)];
  const r = pairedRatio(a, b, (x) => x.rps);
  assert.deepEqual(r.perRound, [0.5]);
  assert.equal(r.median, 0.5);
  assert.equal(pairedRatio([run(1, 1)], [], (x) => x.rps).median, undefined);
  assert.equal(pairedRatio([run(1, 1)], [run(1, 0)], (x) => x.rps).median, undefined);
});
