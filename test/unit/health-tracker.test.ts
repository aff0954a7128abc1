/**
 * The pure rise/fall tracker, driven by result sequences: each case lists the results
 * ('P' pass, 'F' fail) and the expected state after each one ('U' up, 'D' down, lower
 * case while changing), and where the transitions fall.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { changing, initialHealth, recordResult } from '../../src/health/tracker.js';

interface Case {
  name: string;
  initial: 'up' | 'down';
  rise: number;
  fall: number;
  results: string;
  /** After each result: U/D settled, u/d up/down but changing. */
  states: string;
  /** Indices (0-based) of the results that flip the state. */
  changes: number[];
}

const CASES: Case[] = [
  { name: 'fall 3 from up', initial: 'up', rise: 2, fall: 3, results: 'FFF', states: 'uuD', changes: [2] },
  { name: 'a pass while falling resets the failures', initial: 'up', rise: 2, fall: 3, results: 'FFPFFF', states: 'uuUuuD', changes: [5] },
  { name: 'rise 2 from down', initial: 'down', rise: 2, fall: 3, results: 'PP', states: 'dU', changes: [1] },
  { name: 'a failure while rising resets the passes', initial: 'down', rise: 2, fall: 3, results: 'PFPFPP', states: 'dDdDdU', changes: [5] },
  { name: 'agreeing results change nothing', initial: 'up', rise: 2, fall: 3, results: 'PPPP', states: 'UUUU', changes: [] },
  { name: 'down stays down on failures', initial: 'down', rise: 2, fall: 3, results: 'FFFF', states: 'DDDD', changes: [] },
  { name: 'full cycle down, up, down', initial: 'up', rise: 2, fall: 2, results: 'FFPPFF', states: 'uDdUuD', changes: [1, 3, 5] },
  { name: 'rise 1 and fall 1 flip on every disagreeing result', initial: 'up', rise: 1, fall: 1, results: 'FPPFF', states: 'DUUDD', changes: [0, 1, 3] },
  { name: 'thresholds below 1 count as 1', initial: 'up', rise: 0, fall: 0, results: 'FP', states: 'DU', changes: [0, 1] },
  { name: 'after flipping, the count starts again', initial: 'up', rise: 3, fall: 2, results: 'FFPPFPPP', states: 'uDddDddU', changes: [1, 7] },
];

for (const c of CASES) {
  test(`tracker: ${c.name} (${c.initial}, rise ${c.rise}, fall ${c.fall}: ${c.results})`, () => {
    let state = initialHealth(c.initial);
    assert.equal(state.up, c.initial === 'up');
    assert.equal(changing(state), false);
    const seen: string[] = [];
    const changes: number[] = [];
    for (let i = 0; i < c.results.length; i++) {
      const before = state;
      const r = recordResult(state, c.results[i] === 'P', c.rise, c.fall);
      assert.equal(r.changed, r.state.up !== before.up, `result ${i}: changed agrees with up`);
      if (r.changed) changes.push(i);
      state = r.state;
      const letter = state.up ? 'u' : 'd';
      seen.push(changing(state) ? letter : letter.toUpperCase());
    }
    assert.equal(seen.join(''), c.states);
    assert.deepEqual(changes, c.changes);
  });
}

test('tracker: recordResult is pure (the input state is not modified)', () => {
  const s0 = initialHealth('up');
  const s1 = recordResult(s0, false, 2, 3).state;
  assert.deepEqual(s0, { up: true, streak: 0 });
  assert.deepEqual(s1, { up: true, streak: 1 });
  const s2 = recordResult(s1, false, 2, 3).state;
  assert.deepEqual(s1, { up: true, streak: 1 });
  assert.deepEqual(s2, { up: true, streak: 2 });
  assert.equal(Object.isFrozen(s0), true);
});

test('tracker: changing() is true exactly while a disagreeing run is open', () => {
  assert.equal(changing(initialHealth('down')), false);
  const rising = recordResult(initialHealth('down'), true, 3, 3).state;
  assert.equal(changing(rising), true);
  assert.equal(changing(recordResult(rising, false, 3, 3).state), false);
});
