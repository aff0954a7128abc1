/**
 * Header translation between HTTP/2 clients and HTTP/1.1 servers (RFC 9113 section 8.3,
 * RFC 9110 section 7.6.1). Pure functions, no I/O.
 *
 * A request's pseudo-header fields become a request head's method, target and Host;
 * cookie crumbs are joined into one field (RFC 9113 section 8.2.3). The head is checked
 * by the same rules as the strict HTTP/1.1 parser's (head.ts requestHeadOf), so routing,
 * hashing, limits and header rewriting work exactly as for HTTP/1.1 clients, and nothing
 * an HTTP/2 client sends can smuggle a second message into a server connection.
 */
import type { OutgoingHttpHeaders } from 'node:http2';
import type { ResponseEdit } from '../http/rewrite.js';
import { H } from '../http/header-ids.js';
import { HttpParseError, requestHeadOf, type HeadLimits, type RequestHead, type ResponseHead } from '../http/head.js';
import { CONNECTION_SPECIFIC } from './wire/field-rules.js';
import { lowerName } from './lower-names.js';

/** A request that cannot be translated: the status to answer and why. */
export interface Refusal {
  status: number;
  reason: string;
}

/**
 * The request head of an HTTP/2 request given as Node's flat raw list [name, value, ...]
 * (names lower-case): :method and :path, Host from :authority (else a host field) first,
 * the other fields in order, cookie crumbs joined last; built by head.ts's requestHeadOf,
 * so the rules of the HTTP/1.1 parser hold for it, and its size counts as the HTTP/1.1
 * text it stands for. Returns a Refusal for CONNECT or :protocol (501), a missing method,
 * path or authority, a connection-specific field or a TE other than "trailers" (400), a
 * head over `limits.headerBytes` (431), or what the parser's rules refuse.
 */
export function requestHeadOfFields(raw: readonly string[], limits: HeadLimits & { headerBytes: number }): RequestHead | Refusal {
  let method: string | undefined;
  let path: string | undefined;
  let authority: string | undefined;
  let host: string | undefined;
  let cookie: string | undefined;
  // made at their final size or a little over (the pseudo-fields' room, cut at the end):
  // grown by push from empty, each would take room for 17
  const cap = (raw.length >> 1) + 1;
  const names = new Array<string>(cap);
  const values = new Array<string>(cap);
  names[0] = 'Host';
  let n = 1;
  // the HTTP/1.1 text's size: "METHOD PATH HTTP/1.1" CRLF, "Host: " value CRLF, a line per field, CRLF
  let size = 21;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    if (name.charCodeAt(0) === 0x3a) {
      if (name === ':method') method = value;
      else if (name === ':path') path = value;
      else if (name === ':authority') authority = value;
      else if (name === ':protocol') return { status: 501, reason: 'extended CONNECT (:protocol) is not supported' };
      continue;
    }
    if (name === 'host') {
      host ??= value;
      continue;
    }
    if (name === 'cookie') {
      cookie = cookie === undefined ? value : `${cookie}; ${value}`;
      continue;
    }
    if (CONNECTION_SPECIFIC.has(name)) return { status: 400, reason: `connection-specific header field ${name} in an HTTP/2 request` };
    if (name === 'te' && value.toLowerCase() !== 'trailers') return { status: 400, reason: 'TE other than "trailers" in an HTTP/2 request' };
    names[n] = name;
    values[n++] = value;
    size += name.length + value.length + 4;
  }
  if (method === 'CONNECT') return { status: 501, reason: 'CONNECT is not supported' };
  if (method === undefined || path === undefined || path === '') return { status: 400, reason: 'missing :method or :path' };
  const hostValue = authority ?? host;
  if (hostValue === undefined || hostValue === '') return { status: 400, reason: 'missing :authority (and Host)' };
  values[0] = hostValue;
  if (cookie !== undefined) {
    names[n] = 'cookie';
    values[n++] = cookie;
    size += cookie.length + 10;
  }
  names.length = n;
  values.length = n;
  size += method.length + path.length + hostValue.length;
  if (size > limits.headerBytes) return { status: 431, reason: `request head larger than ${limits.headerBytes} bytes` };
  try {
    return requestHeadOf(method, path, names, values, limits);
  } catch (err) {
    if (!(err instanceof HttpParseError)) throw err;
    return { status: err.status, reason: err.reason };
  }
}

/**
 * Fields Node sends once only (it throws on a list): from a server that repeats one,
 * the first is kept.
 */
const SINGLE_VALUE = new Set([
  'access-control-allow-credentials',
  'access-control-max-age',
  'access-control-request-method',
  'age',
  'authorization',
  'content-encoding',
  'content-language',
  'content-length',
  'content-location',
  'content-md5',
  'content-range',
  'content-type',
  'date',
  'dnt',
  'etag',
  'expires',
  'from',
  'host',
  'if-match',
  'if-modified-since',
  'if-none-match',
  'if-range',
  'if-unmodified-since',
  'last-modified',
  'location',
  'max-forwards',
  'proxy-authorization',
  'range',
  'referer',
  'retry-after',
  'tk',
  'upgrade-insecure-requests',
  'user-agent',
  'x-content-type-options',
]);

/** Adds one field to an HTTP/2 header object, turning repeats into lists. */
export function addField(out: OutgoingHttpHeaders, name: string, value: string): void {
  const old = out[name];
  if (old === undefined) out[name] = value;
  else if (SINGLE_VALUE.has(name)) return;
  else if (Array.isArray(old)) old.push(value);
  else out[name] = [old as string, value];
}

/** Node's header object of a status and fields (repeats as lists). */
export function headersOf(status: number, names: readonly string[], values: readonly string[]): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = { ':status': status };
  for (let k = 0; k < names.length; k++) addField(out, names[k]!, values[k]!);
  return out;
}

/** A response's HTTP/2 fields, in order (names lower-case), without `:status`. */
export interface ResponseFields {
  names: string[];
  values: string[];
}

/** Sets field `n` of `out` unless it is one sent once only and already among the first `n` (the first is kept, as addField does); the new count. */
function putField(out: ResponseFields, n: number, name: string, value: string): number {
  if (SINGLE_VALUE.has(name)) {
    for (let k = 0; k < n; k++) if (out.names[k] === name) return n;
  }
  out.names[n] = name;
  out.values[n] = value;
  return n + 1;
}

/**
 * The HTTP/2 fields of a response head (an HTTP/1.1 server's, or one built from an HTTP/2
 * server's fields): the server's fields (names lower-cased) minus hop-by-hop ones
 * (Connection and the fields it names, Keep-Alive, Proxy-Connection, TE,
 * Transfer-Encoding, Upgrade, HTTP2-Settings), minus Content-Length when `dropLength`,
 * minus what the route's rules remove, plus `extra` fields of ours (Via, Set-Cookie,
 * Strict-Transport-Security) and the route's own.
 */
export function http2ResponseFields(resp: ResponseHead, dropLength: boolean, extra: ReadonlyArray<readonly [string, string]>, edit: ResponseEdit | null = null): ResponseFields {
  const n = resp.ids.length;
  // made at their largest size and cut to the count at the end: grown from empty by
  // push, each would take room for 17 fields (most of a response's allocation here)
  const cap = n + extra.length + (edit === null ? 0 : edit.fields.length);
  const out: ResponseFields = { names: new Array<string>(cap), values: new Array<string>(cap) };
  let count = 0;
  const ids = resp.ids;
  const remove = edit?.remove ?? null;
  for (let k = 0; k < n; k++) {
    switch (ids[k]) {
      case H.CONNECTION:
      case H.KEEP_ALIVE:
      case H.PROXY_CONNECTION:
      case H.TE:
      case H.TRANSFER_ENCODING:
      case H.UPGRADE:
        continue;
      case H.CONTENT_LENGTH:
        if (dropLength) continue;
        break;
    }
    const lower = lowerName(resp.names[k]!);
    if (remove !== null && remove.has(lower)) continue;
    if (ids[k] === H.OTHER && (lower === 'http2-settings' || (resp.connTokens !== null && resp.connTokens.includes(lower)))) continue;
    count = putField(out, count, lower, resp.values[k]!);
  }
  for (const [name, value] of extra) count = putField(out, count, name, value);
  if (edit !== null) for (const [name, value] of edit.fields) count = putField(out, count, name.toLowerCase(), value);
  if (count < cap) {
    out.names.length = count;
    out.values.length = count;
  }
  return out;
}

/** http2ResponseFields as Node's header object, with `:status`. */
export function http2ResponseHeaders(resp: ResponseHead, dropLength: boolean, extra: ReadonlyArray<readonly [string, string]>, edit: ResponseEdit | null = null): OutgoingHttpHeaders {
  const f = http2ResponseFields(resp, dropLength, extra, edit);
  return headersOf(resp.status, f.names, f.values);
}
