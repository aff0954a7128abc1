import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_DURATION_MS, parseDuration, parseSize } from '../../src/config/common/units.js';

describe('parseDuration', () => {
  const good: Array<[string | number, number]> = [
    ['150ms', 150],
    ['2s', 2_000],
    ['1m', 60_000],
    ['1h', 3_600_000],
    ['1m30s', 90_000],
    ['1h2m3s4ms', 3_723_004],
    ['1.5s', 1_500],
    ['1.1s', 1_100],
    ['0.25m', 15_000],
    ['0', 0],
    ['0s', 0],
    [0, 0],
    [' 2s ', 2_000],
    ['596h', 596 * 3_600_000],
  ];
  for (const [input, ms] of good) {
    it(`reads ${JSON.stringify(input)} as ${ms} ms`, () => assert.equal(parseDuration(input), ms));
  }

  it('refuses a bare number and says a unit is needed', () => {
    assert.throws(() => parseDuration(30), /duration 30 needs a unit: write "30ms" or "30s"/);
    assert.throws(() => parseDuration('30'), /duration "30" needs a unit/);
  });

  const bad: Array<[string | number, RegExp]> = [
    ['2 s', /invalid duration "2 s"/],
    ['2S', /invalid duration/],
    ['2d', /invalid duration "2d": write a number with a unit \(ms, s, m, h\)/],
    ['', /invalid duration/],
    ['s', /invalid duration/],
    ['-1s', /cannot be negative/],
    [-5, /invalid duration -5/],
    [Number.NaN, /invalid duration/],
    ['30s1m', /from largest to smallest/],
    ['1s1s', /from largest to smallest/],
    ['0.5ms', /not a whole number of milliseconds/],
    ['1.0001s', /not a whole number of milliseconds/],
    ['597h', /too long/],
  ];
  for (const [input, message] of bad) {
    it(`refuses ${JSON.stringify(input)}`, () => assert.throws(() => parseDuration(input), message));
  }

  it('accepts exactly the longest duration Node timers allow', () => {
    assert.equal(parseDuration(`${MAX_DURATION_MS}ms`), MAX_DURATION_MS);
    assert.throws(() => parseDuration(`${MAX_DURATION_MS + 1}ms`), /too long/);
  });
});

describe('parseSize', () => {
  const good: Array<[string | number, number]> = [
    ['512', 512],
    [512, 512],
    [0, 0],
    ['512B', 512],
    ['1k', 1_000],
    ['1K', 1_000],
    ['1KB', 1_000],
    ['1kB', 1_000],
    ['16KiB', 16_384],
    ['16 KiB', 16_384],
    ['1.5KiB', 1_536],
    ['1MB', 1_000_000],
    ['1MiB', 1_048_576],
    ['2GiB', 2_147_483_648],
    ['1GB', 1_000_000_000],
    ['1mib', 1_048_576],
  ];
  for (const [input, bytes] of good) {
    it(`reads ${JSON.stringify(input)} as ${bytes} bytes`, () => assert.equal(parseSize(input), bytes));
  }

  const bad: Array<[string | number, RegExp]> = [
    ['16XB', /unknown unit "XB"/],
    ['KiB', /invalid size "KiB"/],
    ['', /invalid size/],
    ['-1KiB', /cannot be negative/],
    [-1, /invalid size -1/],
    [1.5, /invalid size 1.5/],
    ['1.5', /not a whole number of bytes/],
    ['1.0001KB', /not a whole number of bytes/],
    ['16  KiB', /invalid size/],
    ['99999999999GiB', /too large/],
  ];
  for (const [input, message] of bad) {
    it(`refuses ${JSON.stringify(input)}`, () => assert.throws(() => parseSize(input), message));
  }
});
