/**
 * The zod schema of `compression`, on an HTTP listener and on its routes: which codings
 * (gzip, br) Fulcrum may apply to responses, to which content types, from which size and
 * at which level. Absent: off (a route without it takes its listener's).
 */
import { z } from 'zod';
import { formatSize, text } from '../common/field-meta.js';
import { converted, describeValue, intRange, requireString, sizeBytes } from '../common/fields.js';

/** The codings Fulcrum can apply, in the default order of preference. */
export const CODINGS = ['br', 'gzip'] as const;
export type Coding = (typeof CODINGS)[number];

/** Levels: zlib's 1..9 for gzip, brotli's quality 0..11. */
export const LEVEL_RANGE: Readonly<Record<Coding, readonly [number, number]>> = { gzip: [1, 9], br: [0, 11] };

export const DEFAULT_COMPRESSION = Object.freeze({
  algorithms: [...CODINGS] as Coding[],
  types: ['text/*', 'application/json', 'application/javascript', 'application/xml', 'image/svg+xml'],
  minSize: 1024,
  // zlib's own default; brotli's 11 costs ~20x the CPU of 4 for a few percent
  level: { gzip: 6, br: 4 } as Record<Coding, number>,
});

/** A listener's or route's compression, as the proxy reads it. */
export interface CompressionConfig {
  /** The codings to offer, most preferred first (a client's q-values come first). */
  algorithms: Coding[];
  /** Media type patterns, lower case: `text/html`, `text/*`, or `*` for any type. */
  types: string[];
  /** A response whose Content-Length is below this is sent as it is (bytes). */
  minSize: number;
  level: Record<Coding, number>;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** `text/html`, `text/*` or `*`, lower-cased. */
export function parseTypePattern(v: unknown): string {
  const s = requireString('a media type', '"text/*" or "application/json"')(v).trim().toLowerCase();
  if (s === '*' || s === '*/*') return '*';
  const slash = s.indexOf('/');
  const type = s.slice(0, slash);
  const sub = s.slice(slash + 1);
  if (slash <= 0 || !TOKEN.test(type) || type === '*' || (sub !== '*' && !TOKEN.test(sub))) {
    throw new Error(`${JSON.stringify(v)} is not a media type pattern: write type/subtype ("application/json"), type/* ("text/*") or * (any type), without parameters`);
  }
  return s;
}

const coding = converted((v): Coding => {
  if (v === 'gzip' || v === 'br') return v;
  const hint = v === 'brotli' ? ' (brotli is written `br`, as in Accept-Encoding)' : v === 'deflate' || v === 'zstd' ? ` (${String(v)} is not offered: browsers all take gzip and br)` : '';
  throw new Error(`expected gzip or br, got ${describeValue(v)}${hint}`);
}, { type: '`br` | `gzip`', input: { enum: [...CODINGS] } });

function levelOf(c: Coding) {
  const [min, max] = LEVEL_RANGE[c];
  return intRange(min, max).default(DEFAULT_COMPRESSION.level[c]);
}

export const compressionSchema = z
  .strictObject({
    enabled: z.boolean().default(true).describe('`false`: no compression here (a route can turn off its listener\'s)'),
    algorithms: z
      .array(coding)
      .min(1, 'give at least one of gzip and br, or `enabled: false`')
      .refine((a) => new Set(a).size === a.length, 'each coding once')
      .default([...DEFAULT_COMPRESSION.algorithms])
      .describe('the codings offered, preferred first: the client\'s q-values decide, and this order breaks ties'),
    types: z
      .array(converted(parseTypePattern, text('media type pattern')))
      .min(1, 'give at least one media type, such as "text/*"')
      .default([...DEFAULT_COMPRESSION.types])
      .describe('the response Content-Types compressed: `type/subtype`, `type/*`, or `*` for any'),
    min_size: sizeBytes.default(DEFAULT_COMPRESSION.minSize).meta({ default: formatSize(DEFAULT_COMPRESSION.minSize), description: 'a response with a smaller Content-Length is sent as it is (one without a length is compressed)' }),
    level: z
      .strictObject({
        gzip: levelOf('gzip').describe('gzip level, 1 (fastest) to 9 (smallest)'),
        br: levelOf('br').describe('brotli quality, 0 (fastest) to 11 (smallest)'),
      })
      .prefault({})
      .describe('the compression level of each coding'),
  })
  .describe(
    'compress responses (gzip, brotli) the client accepts and the server did not encode, as they stream. Never: ranges, HEAD, 204/304, `Cache-Control: no-transform`, HTTP/1.0 clients. Absent: off (`compression: {}` turns it on with these defaults); on a route, it replaces the listener\'s',
  )
  .transform((c): CompressionConfig | null => (c.enabled ? { algorithms: c.algorithms, types: c.types, minSize: c.min_size, level: c.level } : null));
