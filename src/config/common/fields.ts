/**
 * The field parsers every section's schema shares: `converted` (a raw value turned into
 * its normalised form, its errors becoming schema issues), durations, sizes, integer
 * ranges, names, HTTP tokens. Each carries the FieldMeta the reference reads.
 */
import { z } from 'zod';
import { DURATION, integer, SIZE, text, type FieldMeta } from './field-meta.js';
import { describeValue, PathedError } from './field-error.js';
import { parseDuration, parseSize } from './units.js';

/** Message of a missing required key; load.ts replaces it with one naming the key. */
export const MISSING = 'missing required key';

export { describeValue };

/** Marks a custom zod issue that should point at its key rather than its value (see zod-issues.ts). */
export const AT_KEY = 'key';

/**
 * A field whose raw value is turned into its normalised form by `convert`; an Error it
 * throws becomes a schema issue carrying the Error's message. `convert` may report
 * several problems at once by throwing an AggregateError of `PathedError`s.
 */
export function converted<T>(convert: (v: unknown) => T, meta: FieldMeta = {}) {
  return z.unknown().transform((v, ctx): T => {
    if (v === undefined) {
      ctx.addIssue({ code: 'invalid_type', expected: 'string', input: undefined, message: MISSING });
      return z.NEVER;
    }
    try {
      return convert(v);
    } catch (e) {
      const errors = e instanceof AggregateError ? (e.errors as unknown[]) : [e];
      for (const err of errors) {
        const path = err instanceof PathedError ? err.path : [];
        const params = err instanceof PathedError && err.at === 'key' ? { at: AT_KEY } : undefined;
        ctx.addIssue({ code: 'custom', message: err instanceof Error ? err.message : String(err), input: v, path, params });
      }
      return z.NEVER;
    }
  }).meta(meta);
}

export function requireString(what: string, example: string) {
  return (v: unknown): string => {
    if (typeof v !== 'string') throw new Error(`expected ${what} such as ${example}, got ${describeValue(v)}`);
    return v;
  };
}

function anyDuration(v: unknown): number {
  if (typeof v !== 'string' && typeof v !== 'number') {
    throw new Error(`expected a duration such as "2s" or "150ms", got ${describeValue(v)}`);
  }
  return parseDuration(v);
}

/** A positive duration; `zero` says what 0 would mean. */
export function positiveDuration(zero: string) {
  return converted((v) => {
    const ms = anyDuration(v);
    if (ms === 0) throw new Error(`${zero}; give a positive duration such as "1s"`);
    return ms;
  }, DURATION);
}

/** A timeout: a positive duration. */
export const durationMs = positiveDuration('a timeout of 0 would expire at once');
export const intervalMs = positiveDuration('an interval of 0 would check without pause');

/** A duration where 0 (with or without a unit) means "off". */
export const durationOrZeroMs = converted(anyDuration, DURATION);

export const sizeBytes = converted((v) => {
  if (typeof v !== 'string' && typeof v !== 'number') {
    throw new Error(`expected a size such as "16KiB" or 512, got ${describeValue(v)}`);
  }
  return parseSize(v);
}, SIZE);

/** An integer field limited to min..max (inclusive). */
export function intRange(min: number, max: number) {
  return converted((v) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      const range = max === Number.MAX_SAFE_INTEGER ? `${min} or more` : `from ${min} to ${max}`;
      throw new Error(`must be an integer ${range}, got ${describeValue(v)}`);
    }
    return v;
  }, integer(min, max));
}

/** A number (not necessarily an integer) limited to min..max (inclusive). */
export function numberRange(min: number, max: number) {
  return converted((v) => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) {
      throw new Error(`must be a number from ${min} to ${max}, got ${describeValue(v)}`);
    }
    return v;
  }, { type: `number, ${min}..${max}`, input: { type: 'number', minimum: min, maximum: max } });
}

/** An HTTP token (RFC 9110 section 5.6.2): method names, header names, cookie names. */
export const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
export const TOKEN_CHARS = "letters, digits and !#$%&'*+-.^_`|~";

export function headerName(v: unknown): string {
  const s = requireString('a header name', '"X-User-Id"')(v);
  if (!TOKEN.test(s)) throw new Error(`invalid header name ${JSON.stringify(s)}: use ${TOKEN_CHARS}, without spaces or ":"`);
  return s.toLowerCase();
}

export function cookieName(v: unknown): string {
  const s = requireString('a cookie name', '"FULCRUM_SERVER"')(v);
  if (!TOKEN.test(s)) throw new Error(`invalid cookie name ${JSON.stringify(s)}: a cookie name (RFC 6265) is ${TOKEN_CHARS}, without spaces, "=", ";" or ","`);
  return s;
}

export function queryName(v: unknown): string {
  const s = requireString('a query parameter name', '"user"')(v);
  if (s === '' || /[\s&=#?]/.test(s)) throw new Error(`invalid query parameter name ${JSON.stringify(s)}: give the name alone, without spaces, "&", "=", "#" or "?"`);
  return s;
}

/** Listener, pool and server names: they appear in logs, metrics and admin URLs. */
const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Why a name does not match NAME_PATTERN, or undefined if it does. */
export function nameProblem(name: string): string | undefined {
  if (NAME_PATTERN.test(name)) return undefined;
  return `invalid name ${JSON.stringify(name)}: use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit`;
}

export const name = converted((v) => {
  const s = requireString('a name', '"web"')(v);
  const problem = nameProblem(s);
  if (problem) throw new Error(problem);
  return s;
}, text('name', { pattern: NAME_PATTERN.source }));

/** Drops undefined fields, leaving only the keys the file actually set. */
export function defined<T extends object>(o: { [K in keyof T]: T[K] | undefined }): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
