/**
 * Header translation between the exchange's HTTP/1.1 messages and HTTP/2 servers
 * (RFC 9113 section 8.2 and 8.3): the request head the exchange wrote becomes HTTP/2
 * fields, the server's HTTP/2 response becomes an HTTP/1.1 head that the exchange's strict
 * parser reads like any server's, trailers go into and out of a chunked body's trailer
 * section. Pure functions, no I/O.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2';
import type { RequestHead } from '../http/head.js';
import { STATUS_CODES } from 'node:http';
import { addField } from './headers.js';

/** Fields that exist only between two HTTP/1.1 hops, and Host (it becomes :authority): none goes on an HTTP/2 request. */
const NOT_ON_HTTP2 = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'host', 'te', 'http2-settings']);
/** Fields a trailer section may not carry (RFC 9110 section 6.5.1), nor HTTP/2 trailers. */
const NOT_IN_TRAILERS = new Set([...NOT_ON_HTTP2, 'content-length', 'content-type', 'content-encoding', 'content-range', 'trailer']);
const ABSOLUTE = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/([^/?#]*)([^#]*)/;

/** An HTTP/2 request's fields as two lists (names lowercase, pseudo-fields first), the form the client encodes. */
export interface Fields {
  names: string[];
  values: string[];
}

/**
 * The HTTP/2 request fields of a request head the exchange built (already rewritten:
 * X-Forwarded-*, Via, route rules): :method, :scheme, :authority from Host (or an
 * absolute target), :path, then the fields minus connection-specific ones. TE goes only
 * as "trailers", and is added for gRPC, whose servers may insist on it.
 */
export function requestFields(req: RequestHead, scheme: 'http' | 'https'): Fields {
  let path = req.target;
  let authority = req.host;
  if (path.charCodeAt(0) !== 0x2f && path !== '*') {
    const m = ABSOLUTE.exec(path);
    if (m !== null) {
      authority = m[1] !== '' ? m[1] : authority;
      path = m[2] === '' ? '/' : m[2]!;
    }
  }
  const names = [':method', ':scheme'];
  const values = [req.method, scheme];
  if (authority !== undefined && authority !== '') {
    names.push(':authority');
    values.push(authority);
  }
  names.push(':path');
  values.push(path);
  const tokens = req.connTokens;
  let te = false;
  let grpc = false;
  for (let k = 0; k < req.names.length; k++) {
    const name = req.names[k]!.toLowerCase();
    const value = req.values[k]!;
    if (NOT_ON_HTTP2.has(name) || (tokens !== null && tokens.includes(name))) {
      if (name === 'te' && /(^|,)\s*trailers\s*(;|,|$)/i.test(value)) te = true;
      continue;
    }
    if (name === 'content-type' && value.startsWith('application/grpc')) grpc = true;
    names.push(name);
    values.push(value);
  }
  if (te || grpc) {
    names.push('te');
    values.push('trailers');
  }
  return { names, values };
}

/** requestFields as Node's header object (repeated fields as arrays). */
export function http2RequestHeaders(req: RequestHead, scheme: 'http' | 'https'): OutgoingHttpHeaders {
  const { names, values } = requestFields(req, scheme);
  const out: OutgoingHttpHeaders = {};
  for (let k = 0; k < names.length; k++) {
    if (names[k]!.charCodeAt(0) === 0x3a) out[names[k]!] = values[k]!;
    else addField(out, names[k]!, values[k]!);
  }
  return out;
}

/**
 * The HTTP/1.1 head of an HTTP/2 response given as its status and "name: value" CRLF
 * lines. `ended`: the HEADERS frame ended the stream (no body, or a gRPC trailers-only
 * answer), so it says Content-Length: 0 unless the server gave a length (`hasLength`, a
 * HEAD answer's); `chunked`: the body follows chunked (the server gave no length), which
 * also carries the trailers.
 */
export function http1Head(status: number, lines: string, ended: boolean, chunked: boolean, hasLength: boolean): string {
  let out = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n${lines}`;
  if (chunked) out += 'transfer-encoding: chunked\r\n';
  else if (ended && !hasLength && status >= 200 && status !== 204 && status !== 304) out += 'content-length: 0\r\n';
  return out + '\r\n';
}

/** http1Head for a response as Node's header object. */
export function http1ResponseHead(headers: IncomingHttpHeaders, ended: boolean, chunked: boolean): string {
  return http1Head(Number(headers[':status']), fieldLines(headers, null), ended, chunked, headers['content-length'] !== undefined);
}

/** "name: value" CRLF for each field but the pseudo-fields (and those `skip` holds). */
export function fieldLines(headers: IncomingHttpHeaders, skip: ReadonlySet<string> | null): string {
  let out = '';
  for (const name in headers) {
    if (name.charCodeAt(0) === 0x3a || (skip !== null && skip.has(name))) continue;
    const value = headers[name];
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) out += `${name}: ${v}\r\n`;
    else out += `${name}: ${value}\r\n`;
  }
  return out;
}

/** The last chunk of a chunked body carrying HTTP/2 trailers (or none). */
export function lastChunk(trailers: IncomingHttpHeaders | null): string {
  return trailers === null ? '0\r\n\r\n' : `0\r\n${fieldLines(trailers, NOT_IN_TRAILERS)}\r\n`;
}

/** The last chunk of a chunked body carrying trailers given as "name: value" CRLF lines, minus fields trailers may not carry. */
export function lastChunkOf(lines: string): string {
  let kept = '';
  let i = 0;
  while (i < lines.length) {
    const eol = lines.indexOf('\r\n', i);
    const colon = lines.indexOf(':', i);
    if (!NOT_IN_TRAILERS.has(lines.slice(i, colon))) kept += lines.slice(i, eol + 2);
    i = eol + 2;
  }
  return `0\r\n${kept}\r\n`;
}

/** HTTP/2 trailer fields from a chunked body's trailer section ("name: value" CRLF lines), minus fields trailers may not carry. */
export function trailerFields(text: string): Fields {
  const names: string[] = [];
  const values: string[] = [];
  if (text === '') return { names, values };
  for (const line of text.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    if (NOT_IN_TRAILERS.has(name)) continue;
    names.push(name);
    values.push(line.slice(colon + 1).trim());
  }
  return { names, values };
}

/** trailerFields as Node's header object. */
export function trailersOf(text: string): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  const { names, values } = trailerFields(text);
  for (let k = 0; k < names.length; k++) addField(out, names[k]!, values[k]!);
  return out;
}
