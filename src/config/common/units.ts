/**
 * Human-written durations and sizes from the configuration file, turned into the
 * milliseconds and bytes the rest of Fulcrum uses. Both parsers are strict: anything
 * they cannot read exactly throws an Error whose message says what to write instead.
 */

/** Longest duration accepted: Node's timers cannot wait longer (about 24.8 days). */
export const MAX_DURATION_MS = 2 ** 31 - 1;

/** Duration units, largest first: components must appear in this order. */
const DURATION_UNITS: ReadonlyArray<readonly [unit: string, ms: number]> = [
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1_000],
  ['ms', 1],
];

const DURATION_HINT = 'write a number with a unit (ms, s, m, h), e.g. "150ms", "2s" or "1m30s"';

/**
 * Parses a duration such as "150ms", "2s", "1.5s", "1m", "1h" or "1m30s" into whole
 * milliseconds. Components go from the largest unit to the smallest, each at most once.
 * A bare number is refused (is "30" seconds or milliseconds?) except 0, which needs no
 * unit. Throws an Error when the text is not a duration, is negative, is not a whole
 * number of milliseconds, or exceeds MAX_DURATION_MS.
 */
export function parseDuration(input: string | number): number {
  if (typeof input === 'number') {
    if (input === 0) return 0;
    if (!Number.isFinite(input) || input < 0) {
      throw new Error(`invalid duration ${input}: ${DURATION_HINT}`);
    }
    throw new Error(`duration ${input} needs a unit: write "${input}ms" or "${input}s" (units: ms, s, m, h); only 0 may be written without one`);
  }
  const text = input.trim();
  if (text === '0') return 0;
  if (text === '') throw new Error(`invalid duration "${input}": ${DURATION_HINT}`);
  if (text.startsWith('-')) throw new Error(`invalid duration "${input}": durations cannot be negative`);
  if (/^\d+(\.\d+)?$/.test(text)) {
    throw new Error(`duration "${input}" needs a unit: write "${text}ms" or "${text}s" (units: ms, s, m, h); only 0 may be written without one`);
  }
  const component = /(\d+)(?:\.(\d+))?(ms|h|m|s)/y;
  let total = 0;
  let lastRank = -1;
  let pos = 0;
  while (pos < text.length) {
    component.lastIndex = pos;
    const m = component.exec(text);
    if (!m) throw new Error(`invalid duration "${input}": ${DURATION_HINT}`);
    const [, whole, frac = '', unit] = m;
    const rank = DURATION_UNITS.findIndex(([u]) => u === unit);
    if (rank <= lastRank) {
      throw new Error(`invalid duration "${input}": write the units from largest to smallest, each once (h, m, s, ms), e.g. "1m30s"`);
    }
    lastRank = rank;
    const factor = DURATION_UNITS[rank]![1];
    // Integer arithmetic keeps "1.1s" at exactly 1100 ms.
    const scale = 10 ** frac.length;
    const fracMs = (Number(frac || '0') * factor) / scale;
    if (!Number.isInteger(fracMs)) {
      throw new Error(`invalid duration "${input}": it is not a whole number of milliseconds`);
    }
    total += Number(whole) * factor + fracMs;
    pos = component.lastIndex;
  }
  if (!Number.isSafeInteger(total) || total > MAX_DURATION_MS) {
    throw new Error(`duration "${input}" is too long: the most Node's timers allow is ${MAX_DURATION_MS} ms (about 24 days)`);
  }
  return total;
}

/** Size units (lower-cased): SI multiples of 1000 and binary multiples of 1024. */
const SIZE_UNITS: Readonly<Record<string, number>> = {
  b: 1,
  k: 1_000,
  kb: 1_000,
  kib: 1_024,
  m: 1_000_000,
  mb: 1_000_000,
  mib: 2 ** 20,
  g: 1_000_000_000,
  gb: 1_000_000_000,
  gib: 2 ** 30,
};

const SIZE_HINT = 'write a whole number of bytes or a number with a unit (B, KB or k = 1000, KiB = 1024, MB, MiB, GB, GiB), e.g. "16KiB"';

/**
 * Parses a size such as "16KiB", "1MiB", "1.5KiB", "1k", "1KB", "512B" or "512" into
 * whole bytes. KB/k, MB/M, GB/G are powers of 1000; KiB, MiB, GiB are powers of 1024;
 * units are case-insensitive and may follow the number after one space. A bare integer
 * (string or number) is bytes. Throws an Error on anything else, on negative sizes and on
 * fractions of a byte.
 */
export function parseSize(input: string | number): number {
  if (typeof input === 'number') {
    if (Number.isSafeInteger(input) && input >= 0) return input;
    throw new Error(`invalid size ${input}: ${SIZE_HINT}`);
  }
  const text = input.trim();
  if (text.startsWith('-')) throw new Error(`invalid size "${input}": sizes cannot be negative`);
  const m = /^(\d+)(?:\.(\d+))? ?([A-Za-z]*)$/.exec(text);
  if (!m) throw new Error(`invalid size "${input}": ${SIZE_HINT}`);
  const [, whole = '', frac = '', unitText = ''] = m;
  const factor = unitText === '' ? 1 : SIZE_UNITS[unitText.toLowerCase()];
  if (factor === undefined) throw new Error(`invalid size "${input}": unknown unit "${unitText}"; ${SIZE_HINT}`);
  const fracBytes = (Number(frac || '0') * factor) / 10 ** frac.length;
  if (!Number.isInteger(fracBytes)) throw new Error(`invalid size "${input}": it is not a whole number of bytes`);
  const total = Number(whole) * factor + fracBytes;
  if (!Number.isSafeInteger(total)) throw new Error(`size "${input}" is too large`);
  return total;
}

/**
 * Writes milliseconds the way the configuration does, largest unit first: 1500 ->
 * "1s500ms", 90000 -> "1m30s", 0 -> "0". parseDuration reads the result back exactly.
 */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0';
  let rest = ms;
  let text = '';
  for (const [unit, size] of DURATION_UNITS) {
    const n = Math.floor(rest / size);
    if (n > 0) text += `${n}${unit}`;
    rest -= n * size;
  }
  return text;
}

/** Units of DNS times (TTLs, SOA timers), largest first, as zone files write them. */
const SECOND_UNITS: ReadonlyArray<readonly [unit: string, seconds: number]> = [
  ['w', 604_800],
  ['d', 86_400],
  ['h', 3_600],
  ['m', 60],
  ['s', 1],
];

/**
 * Parses a DNS time (a TTL or an SOA timer) into whole seconds: a whole number of
 * seconds (3600, "3600") or components with units from weeks to seconds, largest first,
 * each at most once ("30s", "5m", "1h30m", "1d", "1w"), as zone files write them. Throws
 * an Error when the text is not such a time or the result exceeds `max`.
 */
export function parseSeconds(input: unknown, max: number): number {
  const range = `a whole number of seconds from 0 to ${max}, or a time with a unit such as "30s", "5m", "1h" or "1d"`;
  if (typeof input === 'number') {
    if (Number.isInteger(input) && input >= 0 && input <= max) return input;
    throw new Error(`must be ${range}, got ${input}`);
  }
  if (typeof input !== 'string') throw new Error(`must be ${range}, got ${describeTime(input)}`);
  const text = input.trim();
  if (/^\d+$/.test(text)) return parseSeconds(Number(text), max);
  if (/^\d+(\.\d+)?ms$/.test(text)) throw new Error(`"${input}": DNS times are whole seconds, so milliseconds cannot be written`);
  const component = /(\d+)([wdhms])/iy;
  let total = 0;
  let lastRank = -1;
  let pos = 0;
  while (pos < text.length) {
    component.lastIndex = pos;
    const m = component.exec(text);
    if (!m) {
      const hint = /^\d+\.\d+/.test(text.slice(pos)) ? ': DNS times are whole seconds, so write "90m" rather than "1.5h"' : '';
      throw new Error(`must be ${range}, got the string ${JSON.stringify(input)}${hint}`);
    }
    const rank = SECOND_UNITS.findIndex(([u]) => u === m[2]!.toLowerCase());
    if (rank <= lastRank) throw new Error(`"${input}": write the units from largest to smallest, each once (w, d, h, m, s), e.g. "1h30m"`);
    lastRank = rank;
    total += Number(m[1]) * SECOND_UNITS[rank]![1];
    pos = component.lastIndex;
  }
  if (text === '') throw new Error(`must be ${range}, got an empty string`);
  if (total > max) throw new Error(`"${input}" is ${total} seconds, more than the most allowed, ${max}`);
  return total;
}

function describeTime(v: unknown): string {
  if (v === null || v === undefined) return 'an empty value';
  if (Array.isArray(v)) return 'a list';
  return typeof v === 'object' ? 'a mapping' : String(v);
}
