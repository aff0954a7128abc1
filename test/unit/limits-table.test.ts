/** The limits' table: GCRA rates and connection counts, in shared memory (the addon) and in a Map (without it). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nativeAddon } from '../../src/io/addon.js';
import { LocalTable, limitId } from '../../src/limits/table.js';
import { parseRate, formatRate } from '../../src/config/listeners/rate.js';

const SECOND = 1e9;

test('rates as written', () => {
  assert.equal(parseRate('10/s'), 10);
  assert.equal(parseRate('600/m'), 10);
  assert.equal(parseRate('36/h'), 0.01);
  assert.equal(parseRate(2.5), 2.5);
  assert.throws(() => parseRate('10/week'), /expected a rate such as/);
  assert.throws(() => parseRate(0), /above 0/);
  assert.equal(formatRate(10), '10/s');
  assert.equal(formatRate(0.5), '30/m');
});

test('LocalTable: a burst, then one per interval; connections up to max, released', () => {
  const t = new LocalTable();
  const id = limitId('test');
  // 1/s with a burst of 3: three pass, the fourth waits about a second
  const took = [0, 1, 2, 3].map(() => t.take(id, 'a', SECOND, 2 * SECOND));
  assert.deepEqual(took.slice(0, 3), [0, 0, 0]);
  assert.ok(took[3]! > 900 && took[3]! <= 1000, `waits ${took[3]} ms`);
  assert.equal(t.take(id, 'b', SECOND, 0), 0, 'another key has its own bucket');
  assert.ok(t.acquire(id, 'a', 2) && t.acquire(id, 'a', 2));
  assert.equal(t.acquire(id, 'a', 2), false);
  t.release(id, 'a');
  assert.equal(t.count(id, 'a'), 1);
  assert.ok(t.acquire(id, 'a', 2));
});

test('the shared table (native/limits.c): the same arithmetic; a dead worker\'s column is cleared', { skip: nativeAddon() === null && 'the native addon is not built' }, () => {
  const addon = nativeAddon()!;
  const fd = addon.limitsCreate();
  assert.ok(fd >= 0, `limitsCreate: ${fd}`);
  const id = limitId('shared test');
  const took = [0, 1, 2, 3].map(() => addon.limitsTake(id, 'a', SECOND, 2 * SECOND));
  assert.deepEqual(took.slice(0, 3), [0, 0, 0]);
  assert.ok(took[3]! > 900 && took[3]! <= 1000, `waits ${took[3]} ms`);
  // two workers' columns count towards one max
  assert.equal(addon.limitsAcquire(id, 'c', 3, 0), 1);
  assert.equal(addon.limitsAcquire(id, 'c', 3, 1), 1);
  assert.equal(addon.limitsAcquire(id, 'c', 3, 1), 1);
  assert.equal(addon.limitsAcquire(id, 'c', 3, 0), 0, 'three across two columns is the max');
  addon.limitsClearColumn(1);
  assert.equal(addon.limitsCount(id, 'c'), 1, 'the exited worker\'s two are gone');
  addon.limitsRelease(id, 'c', 0);
  addon.limitsRelease(id, 'c', 0);
  assert.equal(addon.limitsCount(id, 'c'), 0, 'a release never goes below zero');
  // many keys: the table reuses idle slots
  for (let i = 0; i < 200_000; i++) addon.limitsTake(id, `k${i}`, 1000, 0);
  assert.equal(addon.limitsTake(id, 'fresh', SECOND, 0), 0);
});
