/**
 * Whether a proxied response is compressed, and how its head changes when it is: the
 * decision of a listener's or route's `compression` (config/listeners/compression.ts)
 * for one request and response. Pure, and allocation-free when the answer is no, so a
 * listener with compression pays next to nothing for the responses it leaves alone.
 * The streaming itself is response-encoder.ts.
 */
import type { Coding, CompressionConfig } from '../../config/listeners/compression.js';
import type { Head, RequestHead, ResponseHead } from './head.js';
import { H } from './header-ids.js';
import type { ResponseEdit } from './rewrite.js';

export type { Coding } from '../../config/listeners/compression.js';

/** One listener's or route's compression, compiled once. */
export class CompressionPolicy {
  private readonly codings: readonly Coding[];
  private readonly anyType: boolean;
  /** Exact media types and `type/` prefixes (from `type/*`), lower case. */
  private readonly exact: readonly string[];
  private readonly prefixes: readonly string[];
  private readonly minSize: number;
  private readonly levels: Readonly<Record<Coding, number>>;

  constructor(cfg: CompressionConfig) {
    this.codings = cfg.algorithms;
    this.anyType = cfg.types.includes('*');
    this.exact = cfg.types.filter((t) => !t.endsWith('/*') && t !== '*');
    this.prefixes = cfg.types.filter((t) => t.endsWith('/*')).map((t) => t.slice(0, -1));
    this.minSize = cfg.minSize;
    this.levels = cfg.level;
  }

  /** The level (gzip) or quality (br) to encode with. */
  level(c: Coding): number {
    return this.levels[c];
  }

  /**
   * The coding for this response, or null to relay it as it is: the client accepts one of
   * ours (q > 0), speaks HTTP/1.1 or 2, did not ask for a range; the response has a body
   * of a listed type, at least min_size long when its length is known, no
   * Content-Encoding (or identity), no Content-Range, no `Cache-Control: no-transform`,
   * and no transfer coding but chunked. Called once per response head with a body
   * (HEAD, 1xx, 204, 304 and 101 never get here). Allocates nothing.
   */
  coding(req: RequestHead, resp: ResponseHead): Coding | null {
    const status = resp.status;
    if (status === 206 || status === 204 || status === 304 || req.minor !== 1) return null;
    if (resp.contentLength >= 0 && resp.contentLength < Math.max(this.minSize, 1)) return null;
    const coding = this.accepted(req);
    if (coding === null) return null;
    return this.compressible(resp) ? coding : null;
  }

  /** The client's preferred coding among ours, or null (no Accept-Encoding, all refused, or a Range request). */
  private accepted(req: RequestHead): Coding | null {
    const names = req.names;
    const q = SCRATCH;
    q[0] = q[1] = q[2] = -1;
    let seen = false;
    for (let k = 0; k < names.length; k++) {
      const name = names[k]!;
      if (name.length === 5 && eqLowerAt(name, 0, 5, 'range')) return null;
      if (name.length === 15 && eqLowerAt(name, 0, 15, 'accept-encoding')) {
        seen = true;
        scanAcceptEncoding(req.values[k]!, q);
      }
    }
    return seen ? pick(this.codings, q) : null;
  }

  private compressible(resp: ResponseHead): boolean {
    const { names, values, ids } = resp;
    let typed = false;
    for (let k = 0; k < names.length; k++) {
      const id = ids[k];
      if (id === H.TRANSFER_ENCODING) {
        if (!isChunked(values[k]!)) return false;
        continue;
      }
      if (id !== H.OTHER) continue;
      const name = names[k]!;
      switch (name.length) {
        case 12:
          if (!typed && eqLowerAt(name, 0, 12, 'content-type')) {
            if (!this.typeListed(values[k]!)) return false;
            typed = true;
          }
          break;
        case 13:
          if (eqLowerAt(name, 0, 13, 'content-range')) return false;
          if (eqLowerAt(name, 0, 13, 'cache-control') && hasToken(values[k]!, 'no-transform')) return false;
          break;
        case 16:
          if (eqLowerAt(name, 0, 16, 'content-encoding') && !isIdentity(values[k]!)) return false;
          break;
      }
    }
    return typed;
  }

  /**
   * Whether the media type of a Content-Type value (before any parameter) is listed.
   * gRPC never is, even under `*`: it compresses its own messages, and its trailers
   * would not survive an HTTP/1.1 re-framing.
   */
  private typeListed(value: string): boolean {
    let a = 0;
    let b = 0;
    while (a < value.length && isOws(value.charCodeAt(a))) a++;
    b = a;
    while (b < value.length && value.charCodeAt(b) !== 0x3b && !isOws(value.charCodeAt(b))) b++;
    if (b - a >= 16 && eqLowerAt(value, a, a + 16, 'application/grpc')) return false;
    if (this.anyType) return true;
    for (const t of this.exact) if (b - a === t.length && eqLowerAt(value, a, b, t)) return true;
    for (const p of this.prefixes) if (b - a > p.length && eqLowerAt(value, a, a + p.length, p)) return true;
    return false;
  }
}

/** q-values of gzip, br and "*" while an Accept-Encoding is read (-1: not listed); one per process, as the scan is synchronous. */
const SCRATCH = new Float64Array(3);
const GZIP = 0;
const BR = 1;
const STAR = 2;

/**
 * Reads one Accept-Encoding value (RFC 9110 §12.5.3) into q: for gzip (x-gzip too), br
 * and "*", the weight given (1 when none, 0 when malformed). Other codings are skipped.
 */
export function scanAcceptEncoding(s: string, q: Float64Array): void {
  const n = s.length;
  let i = 0;
  while (i < n) {
    let c = s.charCodeAt(i);
    if (c === 0x2c || isOws(c)) {
      i++;
      continue;
    }
    const start = i;
    while (i < n && (c = s.charCodeAt(i)) !== 0x2c && c !== 0x3b && !isOws(c)) i++;
    const end = i;
    let weight = 1;
    // parameters up to the next comma; only q matters
    while (i < n && s.charCodeAt(i) !== 0x2c) {
      if (s.charCodeAt(i) !== 0x3b) {
        i++;
        continue;
      }
      i++;
      while (i < n && isOws(s.charCodeAt(i))) i++;
      if (i + 1 < n && (s.charCodeAt(i) | 0x20) === 0x71 && s.charCodeAt(i + 1) === 0x3d) {
        i += 2;
        const r = readQvalue(s, i);
        weight = r < 0 ? 0 : r;
      }
    }
    const len = end - start;
    const slot = len === 4 && eqLowerAt(s, start, end, 'gzip') ? GZIP : len === 6 && eqLowerAt(s, start, end, 'x-gzip') ? GZIP : len === 2 && eqLowerAt(s, start, end, 'br') ? BR : len === 1 && s.charCodeAt(start) === 0x2a ? STAR : -1;
    if (slot >= 0 && q[slot]! < 0) q[slot] = weight;
  }
}

/** The qvalue at s[i..] ("0", "0.5", "1.000"), or -1 when malformed. */
function readQvalue(s: string, i: number): number {
  const n = s.length;
  const d = s.charCodeAt(i) - 0x30;
  if (i >= n || d < 0 || d > 1) return -1;
  let v = d;
  i++;
  if (i < n && s.charCodeAt(i) === 0x2e) {
    i++;
    let scale = 0.1;
    for (let digits = 0; i < n && digits < 3; digits++, i++) {
      const f = s.charCodeAt(i) - 0x30;
      if (f < 0 || f > 9) break;
      v += f * scale;
      scale /= 10;
    }
  }
  while (i < n && isOws(s.charCodeAt(i))) i++;
  if (i < n && s.charCodeAt(i) !== 0x2c && s.charCodeAt(i) !== 0x3b) return -1;
  return v > 1 ? 1 : v;
}

/** The offered coding with the highest weight above 0 (an unlisted one takes "*"'s); ties go to the earlier in `codings`. */
function pick(codings: readonly Coding[], q: Float64Array): Coding | null {
  let best: Coding | null = null;
  let bestQ = 0;
  for (const c of codings) {
    const own = q[c === 'gzip' ? GZIP : BR]!;
    const w = own >= 0 ? own : q[STAR]! >= 0 ? q[STAR]! : 0;
    if (w > bestQ) {
      best = c;
      bestQ = w;
    }
  }
  return best;
}

/** The coding the client prefers among `codings`, from its Accept-Encoding values (for tests and tools). */
export function preferredCoding(acceptEncoding: readonly string[], codings: readonly Coding[]): Coding | null {
  const q = new Float64Array([-1, -1, -1]);
  for (const v of acceptEncoding) scanAcceptEncoding(v, q);
  return acceptEncoding.length === 0 ? null : pick(codings, q);
}

/**
 * The response head's changes for a compressed body, over the route's own (`base`):
 * Content-Encoding set (an `identity` one replaced), Accept-Encoding appended to Vary
 * (unless it names it or is "*"), a strong ETag made weak (the bytes differ, the
 * meaning does not: as nginx does), and `Transfer-Encoding: chunked` when the exchange
 * frames the body itself (`chunked`: an HTTP/1.1 client of a server that sent a
 * Content-Length). Content-Length is dropped by the caller.
 */
export function compressedEdit(base: ResponseEdit | null, resp: Head, coding: Coding, chunked: boolean): ResponseEdit {
  const baseRemove = base?.remove ?? null;
  const remove = new Set(baseRemove);
  remove.add('content-encoding');
  remove.add('vary');
  remove.add('etag');
  const fields: Array<readonly [string, string]> = [['content-encoding', coding]];
  if (chunked) fields.push(['transfer-encoding', 'chunked']);
  const keepVary = baseRemove === null || !baseRemove.has('vary');
  const keepEtag = baseRemove === null || !baseRemove.has('etag');
  let vary = '';
  let named = false;
  for (let k = 0; k < resp.names.length; k++) {
    const name = resp.names[k]!;
    const value = resp.values[k]!;
    if (keepVary && name.length === 4 && eqLowerAt(name, 0, 4, 'vary')) {
      if (value === '') continue;
      vary = vary === '' ? value : `${vary}, ${value}`;
      if (hasToken(value, 'accept-encoding') || hasToken(value, '*')) named = true;
    } else if (keepEtag && name.length === 4 && eqLowerAt(name, 0, 4, 'etag')) {
      fields.push(['etag', value.startsWith('W/') ? value : `W/${value}`]);
    }
  }
  fields.push(['vary', vary === '' ? 'Accept-Encoding' : named ? vary : `${vary}, Accept-Encoding`]);
  if (base !== null) fields.push(...base.fields);
  return { remove, fields };
}

/** ASCII case-insensitive s[a, b) === lower. */
function eqLowerAt(s: string, a: number, b: number, lower: string): boolean {
  for (let i = a, j = 0; i < b; i++, j++) {
    const c = s.charCodeAt(i);
    const l = lower.charCodeAt(j);
    if (c !== l && (c | 0x20) !== l) return false;
  }
  return true;
}

function isOws(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

/** Whether a comma-separated list value holds `token` (lower case), any case, as an element or before its parameters. */
function hasToken(value: string, token: string): boolean {
  const n = value.length;
  const t = token.length;
  for (let i = 0; i + t <= n; i++) {
    if (!eqLowerAt(value, i, i + t, token)) continue;
    let a = i - 1;
    while (a >= 0 && isOws(value.charCodeAt(a))) a--;
    let b = i + t;
    while (b < n && isOws(value.charCodeAt(b))) b++;
    const before = a < 0 || value.charCodeAt(a) === 0x2c;
    const after = b >= n || value.charCodeAt(b) === 0x2c || value.charCodeAt(b) === 0x3b || value.charCodeAt(b) === 0x3d;
    if (before && after) return true;
  }
  return false;
}

/** A Transfer-Encoding value that is exactly chunked (any other coding would be in the decoded body). */
function isChunked(value: string): boolean {
  let a = 0;
  let b = value.length;
  while (a < b && isOws(value.charCodeAt(a))) a++;
  while (b > a && isOws(value.charCodeAt(b - 1))) b--;
  return b - a === 7 && eqLowerAt(value, a, b, 'chunked');
}

function isIdentity(value: string): boolean {
  let a = 0;
  let b = value.length;
  while (a < b && isOws(value.charCodeAt(a))) a++;
  while (b > a && isOws(value.charCodeAt(b - 1))) b--;
  return b - a === 8 && eqLowerAt(value, a, b, 'identity');
}
