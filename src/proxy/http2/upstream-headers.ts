/**
 * Trailers between chunked bodies and HTTP/2 (RFC 9113 section 8.1, RFC 9110 section
 * 6.5): they go into and out of a chunked body's trailer section. (Request heads become
 * HTTP/2 fields in http/rewrite.ts, response heads are built from them by the exchange.)
 * Pure functions, no I/O.
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http2';
import { NOT_ON_HTTP2 } from '../http/rewrite.js';
import { addField } from './headers.js';

/** Fields a trailer section may not carry (RFC 9110 section 6.5.1), nor HTTP/2 trailers. */
const NOT_IN_TRAILERS = new Set([...NOT_ON_HTTP2, 'content-length', 'content-type', 'content-encoding', 'content-range', 'trailer']);

/** HTTP/2 fields as two lists (names lowercase), the form the client encodes. */
export interface Fields {
  names: string[];
  values: string[];
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
