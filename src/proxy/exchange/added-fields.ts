/**
 * The one place that builds the header fields the balancer adds to what it relays or
 * answers: Via on responses, a sticky pool's Set-Cookie, the listener's own fields
 * (Strict-Transport-Security) and the request ID (listener `request_id.response`). HTTP/1.1 writes them as header lines, HTTP/2 as name and
 * value pairs; both come from here. (Request fields we add, X-Forwarded-* , Forwarded
 * and Via, are written by rewriteRequestHead, for both protocols.)
 */

import type { RequestIds } from '../http/request-id.js';

/** Header fields as [name, value] pairs: names lower-case, or as configured (the request ID's). */
export type Fields = ReadonlyArray<readonly [string, string]>;

export const NO_FIELDS: Fields = [];
/** Our 503s invite a retry a second later. */
export const RETRY_AFTER: Fields = [['retry-after', '1']];

/** "strict-transport-security" → "Strict-Transport-Security", as HTTP/1.1 peers are used to; a name written with capitals stays as written. */
export function lineName(name: string): string {
  if (name !== name.toLowerCase()) return name;
  return name.replace(/(^|-)([a-z])/g, (_m, dash: string, c: string) => dash + c.toUpperCase());
}

/** Fields as HTTP/1.1 header lines, each ending in CRLF. */
export function fieldLines(fields: Fields): string {
  let out = '';
  for (const [name, value] of fields) out += `${lineName(name)}: ${value}\r\n`;
  return out;
}

/** Via values per HTTP version, made once: a request adds its Via without building a string. */
const VIA_VALUES: Readonly<Record<string, string>> = Object.fromEntries(['1.0', '1.1', '2'].map((v) => [v, `${v} fulcrum`]));

/** The Via value for a message that reached us over HTTP version `version` ("1.0", "1.1", "2"). */
export function viaValue(version: string): string {
  return VIA_VALUES[version] ?? `${version} fulcrum`;
}

/** The Via header line per HTTP version, made once. */
const VIA_LINES: Readonly<Record<string, string>> = Object.fromEntries(['1.0', '1.1', '2'].map((v) => [v, `Via: ${viaValue(v)}\r\n`]));

/** The Via header line (with CRLF) for a request that reached us over HTTP version `version`. */
export function viaLine(version: string): string {
  return VIA_LINES[version] ?? `Via: ${viaValue(version)}\r\n`;
}

/** 0, 1 or 2 for a response that came over HTTP/1.0, HTTP/1.1 (`minor`) or HTTP/2 (2). */
function versionIndex(minor: number): 0 | 1 | 2 {
  return minor === 1 ? 1 : minor === 2 ? 2 : 0;
}

/** The fields one listener adds; the usual cases are computed once, at start. */
export class AddedFields {
  /** Response fields without a cookie, by the server's version (see versionIndex: HTTP/1.0, HTTP/1.1, HTTP/2). */
  private readonly plain: readonly [Fields, Fields, Fields];
  private readonly plainLines: readonly [string, string, string];
  private readonly viaLines: readonly [string, string];

  /**
   * @param via add Via to responses (listener `forwarded.via`)
   * @param listener fields of the listener's own, on every response (HSTS)
   * @param ids the listener's request IDs, when they go back to the client; else null
   */
  constructor(
    private readonly via: boolean,
    readonly listener: Fields,
    private readonly ids: RequestIds | null,
  ) {
    const plain = (version: string): Fields => (via ? [['via', viaValue(version)], ...listener] : listener);
    this.plain = [plain('1.0'), plain('1.1'), plain('2')];
    this.plainLines = [fieldLines(this.plain[0]), fieldLines(this.plain[1]), fieldLines(this.plain[2])];
    this.viaLines = via ? [fieldLines([['via', viaValue('1.0')]]), fieldLines([['via', viaValue('1.1')]])] : ['', ''];
  }

  /**
   * Fields added to a proxied response from a server speaking HTTP/1.`minor` (2: HTTP/2): Via, the
   * Set-Cookie value of a sticky pool (or null), the listener's own, the request ID `id`
   * (or null; left out unless `request_id.response`).
   */
  response(minor: number, cookie: string | null, id: string | null): Fields {
    const base = this.plain[versionIndex(minor)];
    const ids = this.ids;
    if (cookie === null && (id === null || ids === null)) return base;
    const out: Array<readonly [string, string]> = [];
    if (cookie === null) out.push(...base);
    else {
      if (this.via) out.push(base[0]!);
      out.push(['set-cookie', cookie], ...this.listener);
    }
    if (id !== null && ids !== null) out.push([ids.lower, id]);
    return out;
  }

  /** response() as HTTP/1.1 header lines. */
  responseLines(minor: number, cookie: string | null, id: string | null): string {
    const base = cookie === null ? this.plainLines[versionIndex(minor)] : fieldLines(this.response(minor, cookie, null));
    return id === null || this.ids === null ? base : base + this.ids.linePrefix + id + '\r\n';
  }

  /** The lines added to a 101 Switching Protocols: Via only. */
  tunnelLines(minor: number): string {
    return this.viaLines[minor === 1 ? 1 : 0];
  }

  /** Fields of an answer of our own: `own` (Location, Retry-After), the listener's, the request ID `id` (or null). */
  local(own: Fields, id: string | null): Fields {
    if (id !== null && this.ids !== null) return [...own, ...this.listener, [this.ids.name, id]];
    if (this.listener.length === 0) return own;
    return own.length === 0 ? this.listener : [...own, ...this.listener];
  }
}
