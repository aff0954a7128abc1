import { eqLower, FIELD_VALUE, regexClass, TARGET, TOKEN, trimOws } from './chars.js';
import { H, headerId } from './header-ids.js';

/**
 * Strict parser for HTTP/1.x message heads (RFC 9112). The connection code finds the end
 * of the head (CRLF CRLF) in its buffer and hands the whole head over as one latin1
 * string; parsing is then a single pass with table lookups. Anything the grammar does
 * not allow is an {@link HttpParseError}: no lenient fallbacks, no guessing.
 */

/** A head the proxy refuses, with the status to answer (400, 414, 431, 501, 505, or 502 for responses). */
export class HttpParseError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string,
  ) {
    super(reason);
  }
}

/** What both request and response heads carry. Header arrays are parallel. */
export interface Head {
  /** The whole head, including the final empty line. */
  raw: string;
  /** HTTP minor version: 0 or 1. */
  minor: number;
  /** Offset in `raw` of the first header line (just after the start line's CRLF). */
  headersStart: number;
  names: string[];
  values: string[];
  ids: H[];
  /**
   * Offset in `raw` of each header line's first byte. The lines are contiguous, so a line
   * ends where the next starts (see {@link lineEnd}). Empty for a head without text.
   */
  lineStarts: number[];
  /** Declared Content-Length, or -1 when absent. */
  contentLength: number;
  /** Transfer-Encoding present (any value). */
  hasTransferEncoding: boolean;
  /** The final transfer coding is chunked. */
  chunked: boolean;
  connClose: boolean;
  connKeepAlive: boolean;
  connUpgrade: boolean;
  /** Other lower-cased tokens of Connection: header names that are hop-by-hop for this message. */
  connTokens: string[] | null;
  upgrade: string | undefined;
}

/** A parsed request head. */
export interface RequestHead extends Head {
  method: string;
  target: string;
  /** Host header value as sent (undefined when absent). */
  host: string | undefined;
  expectContinue: boolean;
}

/** A parsed response head. */
export interface ResponseHead extends Head {
  status: number;
}

/** Limits the request parser enforces. */
export interface HeadLimits {
  urlBytes: number;
  headerCount: number;
}

/** Parses the version at s[i..i+8) as HTTP/1.0 or HTTP/1.1; other versions are 505, garbage 400. */
function parseVersion(s: string, i: number, status: number): number {
  if (
    s.charCodeAt(i) === 0x48 &&
    s.charCodeAt(i + 1) === 0x54 &&
    s.charCodeAt(i + 2) === 0x54 &&
    s.charCodeAt(i + 3) === 0x50 &&
    s.charCodeAt(i + 4) === 0x2f &&
    s.charCodeAt(i + 6) === 0x2e
  ) {
    const major = s.charCodeAt(i + 5) - 0x30;
    const minor = s.charCodeAt(i + 7) - 0x30;
    if (major >= 0 && major <= 9 && minor >= 0 && minor <= 9) {
      if (major === 1 && minor <= 1) return minor;
      throw new HttpParseError(status === 400 ? 505 : 502, `HTTP version ${major}.${minor} is not supported`);
    }
  }
  throw new HttpParseError(status, 'malformed HTTP version');
}

/** Placeholders until parseFields sets the head's arrays (never written to). */
const NONE: string[] = [];
const NONE_IDS: H[] = [];
const NONE_OFFSETS: number[] = [];

function newHead(raw: string): Head {
  return {
    raw,
    minor: 1,
    headersStart: 0,
    names: NONE,
    values: NONE,
    ids: NONE_IDS,
    lineStarts: NONE_OFFSETS,
    contentLength: -1,
    hasTransferEncoding: false,
    chunked: false,
    connClose: false,
    connKeepAlive: false,
    connUpgrade: false,
    connTokens: null,
    upgrade: undefined,
  };
}

/**
 * The whole field section as the grammar allows it (RFC 9112 section 5): lines of a
 * token, a colon and a value of field characters, each ended by CRLF, then the empty
 * line, its character classes made from chars.ts's TOKEN and FIELD_VALUE. Tested once
 * per head from the first field line (sticky): the engine checks the characters faster
 * than a loop over charCodeAt, and a head that passes is then split with indexOf alone.
 * A head that fails goes through the loop that says what is wrong.
 */
const FIELD_SECTION = new RegExp(`(?:[${regexClass(TOKEN)}]+:[${regexClass(FIELD_VALUE)}]*\\r\\n)*\\r\\n$`, 'y');

/**
 * Parses the header block starting at `i` into `head`; `bad` is the status for a
 * violation (400 for requests, 502 for responses). Returns the Host value(s) seen.
 */
function parseFields(head: Head, i: number, bad: number, maxCount: number): string | undefined {
  const s = head.raw;
  const end = s.length - 2; // start of the final CRLF
  let host: string | undefined;
  let hostCount = 0;
  FIELD_SECTION.lastIndex = i;
  const valid = FIELD_SECTION.test(s);
  // The arrays are made at their final size: grown from empty by push, each would take
  // room for 16 entries, most of a request's garbage (a head has a handful of fields).
  // A head that parses has one field per LF (no name or value may hold one).
  let lines = 0;
  for (let j = s.indexOf('\n', i); j >= 0 && j < end && lines <= maxCount; j = s.indexOf('\n', j + 1)) lines++;
  const names: string[] = (head.names = new Array<string>(lines));
  const values: string[] = (head.values = new Array<string>(lines));
  const ids: H[] = (head.ids = new Array<H>(lines));
  const lineStarts: number[] = (head.lineStarts = new Array<number>(lines));
  let count = 0;
  while (i < end) {
    const start = i;
    i = valid ? s.indexOf(':', i) : checkLine(s, i, bad);
    const cr = s.indexOf('\r', i);
    const name = s.slice(start, i);
    let vstart = i + 1;
    while (vstart < cr && (s.charCodeAt(vstart) === 0x20 || s.charCodeAt(vstart) === 0x09)) vstart++;
    let vend = cr;
    while (vend > vstart && (s.charCodeAt(vend - 1) === 0x20 || s.charCodeAt(vend - 1) === 0x09)) vend--;
    const value = s.slice(vstart, vend);
    i = cr + 2;
    if (count >= maxCount) throw tooManyFields(bad, maxCount);
    const id = headerId(name);
    names[count] = name;
    values[count] = value;
    ids[count] = id;
    lineStarts[count] = start;
    count++;
    if (id === H.HOST) {
      host = value;
      hostCount++;
    } else if (id !== H.OTHER) {
      noteField(head, id, value, bad);
    }
  }
  if (hostCount > 1) throw new HttpParseError(bad, 'more than one Host header');
  return host;
}

/** Offset in `head.raw` of the byte after field line `k`'s CRLF: where the next line, or the final CRLF, starts. */
export function lineEnd(head: Head, k: number): number {
  return k + 1 < head.lineStarts.length ? head.lineStarts[k + 1]! : head.raw.length - 2;
}

/**
 * Checks the field line at `i` character by character (a head FIELD_SECTION refused):
 * throws what is wrong with it, else returns the offset of its colon.
 */
function checkLine(s: string, i: number, bad: number): number {
  const start = i;
  const c0 = s.charCodeAt(i);
  if (c0 === 0x20 || c0 === 0x09) throw new HttpParseError(bad, 'obsolete line folding (obs-fold) is not allowed');
  while (TOKEN[s.charCodeAt(i)] === 1) i++;
  const colon = s.charCodeAt(i);
  if (colon !== 0x3a) {
    if (colon === 0x20 || colon === 0x09) throw new HttpParseError(bad, 'whitespace between header name and colon');
    throw new HttpParseError(bad, i === start ? 'empty or invalid header name' : 'invalid character in header name');
  }
  if (i === start) throw new HttpParseError(bad, 'empty header name');
  const at = i;
  const cr = s.indexOf('\r', i);
  for (i++; i < cr; i++) {
    if (FIELD_VALUE[s.charCodeAt(i)] !== 1) throw new HttpParseError(bad, `invalid character in value of header ${s.slice(start, at)}`);
  }
  if (s.charCodeAt(cr + 1) !== 0x0a) throw new HttpParseError(bad, 'bare CR in header section');
  return at;
}

function tooManyFields(bad: number, maxCount: number): HttpParseError {
  return new HttpParseError(bad === 400 ? 431 : 502, `more than ${maxCount} header fields`);
}

/**
 * What a field with id `id` (not Host, which the caller counts) tells about its message:
 * Content-Length, Transfer-Encoding, Connection and Upgrade, with their rules. One place
 * for both heads parsed from HTTP/1.1 text and heads built from HTTP/2 fields.
 */
function noteField(head: Head, id: H, value: string, bad: number): void {
  switch (id) {
    case H.CONTENT_LENGTH: {
      const n = parseContentLength(value, bad);
      if (head.contentLength !== -1 && head.contentLength !== n) {
        throw new HttpParseError(bad, 'differing Content-Length values');
      }
      head.contentLength = n;
      break;
    }
    case H.TRANSFER_ENCODING:
      // several lines form one list: chunked on an earlier line is then not the last coding
      if (head.chunked) throw new HttpParseError(bad, 'chunked must be the final transfer coding');
      head.hasTransferEncoding = true;
      head.chunked = lastCodingIsChunked(value, bad);
      break;
    case H.CONNECTION:
      parseConnection(head, value);
      break;
    case H.UPGRADE:
      head.upgrade = value;
      break;
  }
}

/** A field value as the HTTP/1.1 grammar allows it (field-vchar, SP, HTAB; RFC 9110 section 5.5), else HttpParseError. */
function checkValue(name: string, value: string, bad: number): void {
  for (let i = 0; i < value.length; i++) {
    if (FIELD_VALUE[value.charCodeAt(i)] !== 1) throw new HttpParseError(bad, `invalid character in value of header ${name}`);
  }
}

/** Whether every character of `s` is a token character (RFC 9110 section 5.6.2); true for ''. */
function tokenChars(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (TOKEN[s.charCodeAt(i)] !== 1) return false;
  return true;
}

/** A field name as the HTTP/1.1 grammar allows it (a non-empty token), else HttpParseError. */
function checkName(name: string, bad: number): void {
  if (name.length === 0) throw new HttpParseError(bad, 'empty header name');
  if (!tokenChars(name)) throw new HttpParseError(bad, 'invalid character in header name');
}

function parseContentLength(v: string, bad: number): number {
  // "5" or a list of identical values "5, 5" (RFC 9110 §8.6).
  let n = -1;
  let i = 0;
  const len = v.length;
  while (i <= len) {
    let x = 0;
    const start = i;
    while (i < len) {
      const c = v.charCodeAt(i);
      if (c < 0x30 || c > 0x39) break;
      x = x * 10 + (c - 0x30);
      i++;
    }
    if (i === start || i - start > 15) throw new HttpParseError(bad, 'invalid Content-Length');
    if (n !== -1 && n !== x) throw new HttpParseError(bad, 'differing Content-Length values');
    n = x;
    while (v.charCodeAt(i) === 0x20 || v.charCodeAt(i) === 0x09) i++;
    if (i === len) return n;
    if (v.charCodeAt(i) !== 0x2c) throw new HttpParseError(bad, 'invalid Content-Length');
    i++;
    while (v.charCodeAt(i) === 0x20 || v.charCodeAt(i) === 0x09) i++;
  }
  return n;
}

function lastCodingIsChunked(v: string, bad: number): boolean {
  const codings = v.split(',');
  let chunked = false;
  for (let k = 0; k < codings.length; k++) {
    const c = trimOws(codings[k]!).toLowerCase();
    if (c === '') throw new HttpParseError(bad, 'empty transfer coding');
    if (chunked) throw new HttpParseError(bad, 'chunked must be the final transfer coding');
    if (c === 'chunked') chunked = true;
  }
  return chunked;
}

function parseConnection(head: Head, v: string): void {
  // the usual single token, without splitting (most servers send one on every response)
  if (eqLower(v, 'keep-alive')) {
    head.connKeepAlive = true;
    return;
  }
  if (eqLower(v, 'close')) {
    head.connClose = true;
    return;
  }
  const parts = v.split(',');
  for (let k = 0; k < parts.length; k++) {
    const t = trimOws(parts[k]!).toLowerCase();
    if (t === 'close') head.connClose = true;
    else if (t === 'keep-alive') head.connKeepAlive = true;
    else if (t === 'upgrade') head.connUpgrade = true;
    else if (t !== '') (head.connTokens ??= []).push(t);
  }
}

/**
 * Parses a complete request head (`raw` ends with CRLF CRLF and starts at the request
 * line). Throws {@link HttpParseError} with 400, 414, 431, 501 or 505.
 */
export function parseRequestHead(raw: string, limits: HeadLimits): RequestHead {
  const head = newHead(raw) as RequestHead;
  let i = 0;
  while (TOKEN[raw.charCodeAt(i)] === 1) i++;
  if (i === 0 || raw.charCodeAt(i) !== 0x20) throw new HttpParseError(400, 'malformed request line (method)');
  head.method = raw.slice(0, i);
  const ts = ++i;
  while (TARGET[raw.charCodeAt(i)] === 1) i++;
  if (i === ts || raw.charCodeAt(i) !== 0x20) {
    const c = raw.charCodeAt(i);
    throw new HttpParseError(400, c === 0x0d || c === 0x20 ? 'malformed request line' : 'invalid character in request target');
  }
  if (i - ts > limits.urlBytes) throw new HttpParseError(414, `request target longer than ${limits.urlBytes} bytes`);
  head.target = raw.slice(ts, i);
  i++;
  head.minor = parseVersion(raw, i, 400);
  i += 8;
  if (raw.charCodeAt(i) !== 0x0d || raw.charCodeAt(i + 1) !== 0x0a) throw new HttpParseError(400, 'malformed request line');
  i += 2;
  head.headersStart = i;
  head.host = parseFields(head, i, 400, limits.headerCount);
  checkRequest(head);
  return head;
}

/** The rules for a whole request head, once its fields are in (parsed or built from HTTP/2 fields). */
function checkRequest(head: RequestHead): void {
  head.expectContinue = false;
  for (let k = 0; k < head.ids.length; k++) {
    if (head.ids[k] === H.EXPECT) {
      if (head.values[k]!.toLowerCase() !== '100-continue') throw new HttpParseError(417, 'unsupported Expect value');
      head.expectContinue = true;
    }
  }
  if (head.minor === 1 && head.host === undefined) throw new HttpParseError(400, 'missing Host header (required in HTTP/1.1)');
  if (head.host !== undefined && !validHost(head.host)) throw new HttpParseError(400, 'invalid Host header');
  if (head.hasTransferEncoding) {
    if (head.minor === 0) throw new HttpParseError(400, 'Transfer-Encoding in an HTTP/1.0 request');
    if (head.contentLength !== -1) throw new HttpParseError(400, 'both Content-Length and Transfer-Encoding');
    if (!head.chunked) throw new HttpParseError(400, 'request Transfer-Encoding must end with chunked');
  }
  if (head.method === 'CONNECT') throw new HttpParseError(501, 'CONNECT is not supported');
}

/**
 * The fields of a head given as parallel lists rather than text (an HTTP/2 message),
 * checked by the same rules as parsed ones: token names, values of field characters
 * (outer whitespace trimmed, as the parser does), the field count, one Host, and what
 * noteField says of each. Fills `head.ids`; `bad` as in parseFields. Returns the Host value.
 */
function takeFields(head: Head, names: string[], values: string[], bad: number, maxCount: number): string | undefined {
  const n = names.length;
  if (n > maxCount) throw tooManyFields(bad, maxCount);
  const ids: H[] = (head.ids = new Array<H>(n));
  head.names = names;
  head.values = values;
  let host: string | undefined;
  for (let k = 0; k < n; k++) {
    const name = names[k]!;
    checkName(name, bad);
    const value = trimOws(values[k]!);
    checkValue(name, value, bad);
    values[k] = value;
    const id = headerId(name);
    ids[k] = id;
    if (id === H.HOST) {
      if (host !== undefined) throw new HttpParseError(bad, 'more than one Host header');
      host = value;
    } else if (id !== H.OTHER) {
      noteField(head, id, value, bad);
    }
  }
  return host;
}

/**
 * A request head from a method, a target and fields (names and values in order, Host
 * among them), as HTTP/2 gives them: the same rules as parseRequestHead, without the text
 * (`raw` is '', and rewrite.ts writes the fields out when a server needs text). Takes
 * the lists. Throws {@link HttpParseError} with 400, 414, 417, 431 or 501.
 */
export function requestHeadOf(method: string, target: string, names: string[], values: string[], limits: HeadLimits): RequestHead {
  const head = newHead('') as RequestHead;
  if (method.length === 0 || !tokenChars(method)) throw new HttpParseError(400, 'malformed request line (method)');
  head.method = method;
  if (target.length === 0) throw new HttpParseError(400, 'malformed request line');
  for (let i = 0; i < target.length; i++) {
    if (TARGET[target.charCodeAt(i)] !== 1) throw new HttpParseError(400, 'invalid character in request target');
  }
  if (target.length > limits.urlBytes) throw new HttpParseError(414, `request target longer than ${limits.urlBytes} bytes`);
  head.target = target;
  head.host = takeFields(head, names, values, 400, limits.headerCount);
  checkRequest(head);
  return head;
}

/**
 * A response head from a status and fields (an HTTP/2 server's), by the same rules as
 * parseResponseHead, without the text (`raw` is ''). Takes the lists. Throws
 * {@link HttpParseError} with 502.
 */
export function responseHeadOf(status: number, names: string[], values: string[], headerCount: number): ResponseHead {
  const head = newHead('') as ResponseHead;
  if (status < 100 || status > 599) throw new HttpParseError(502, 'invalid status code');
  head.status = status;
  takeFields(head, names, values, 502, headerCount);
  return head;
}

const HTTP_SLASH = [0x48, 0x54, 0x54, 0x50, 0x2f];

/**
 * Checks the start of a request head that has not fully arrived (bytes [start, end) of
 * `buf`): the reason it can no longer become a valid request line, or null while it
 * still can. A NUL, a space or a control byte where the grammar has none is known to be
 * wrong at once, so the client gets its 400 now instead of a 408 when the header timeout
 * runs out. Reads no further than the first line feed.
 */
export function requestLinePrefixError(buf: Uint8Array, start: number, end: number): string | null {
  let i = start;
  while (i < end && TOKEN[buf[i]!] === 1) i++;
  if (i === end) return null;
  // the CR of an empty line before the request (RFC 9112 section 2.2), its LF still to come
  if (i === start && buf[i] === 0x0d && i + 1 === end) return null;
  if (i === start || buf[i] !== 0x20) return 'malformed request line (method)';
  const ts = ++i;
  while (i < end && TARGET[buf[i]!] === 1) i++;
  if (i === end) return null;
  if (i === ts || buf[i] !== 0x20) return buf[i] === 0x0d || buf[i] === 0x20 || buf[i] === 0x0a ? 'malformed request line' : 'invalid character in request target';
  const vs = ++i;
  for (; i < end && i - vs < 8; i++) {
    const c = buf[i]!;
    const k = i - vs;
    const ok = k < 5 ? c === HTTP_SLASH[k] : k === 6 ? c === 0x2e : c >= 0x30 && c <= 0x39;
    if (!ok) return 'malformed HTTP version';
  }
  if (i < end && buf[i] !== 0x0d) return 'malformed request line';
  if (i + 1 < end && buf[i + 1] !== 0x0a) return 'malformed request line';
  return null;
}

/** A Host value: reg-name, IPv4 or [IPv6], optional :port; no userinfo, path or spaces. */
function validHost(h: string): boolean {
  for (let i = 0; i < h.length; i++) {
    const c = h.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f || c === 0x2f || c === 0x3f || c === 0x23 || c === 0x40 || c === 0x5c) return false;
  }
  return true;
}

/** Parses a complete response head. Throws {@link HttpParseError} with status 502. */
export function parseResponseHead(raw: string, headerCount: number): ResponseHead {
  const head = newHead(raw) as ResponseHead;
  head.minor = parseVersion(raw, 0, 502);
  if (raw.charCodeAt(8) !== 0x20) throw new HttpParseError(502, 'malformed status line');
  const d0 = raw.charCodeAt(9) - 0x30;
  const d1 = raw.charCodeAt(10) - 0x30;
  const d2 = raw.charCodeAt(11) - 0x30;
  if (d0 < 1 || d0 > 5 || d1 < 0 || d1 > 9 || d2 < 0 || d2 > 9) throw new HttpParseError(502, 'invalid status code');
  head.status = d0 * 100 + d1 * 10 + d2;
  let i = 12;
  const sp = raw.charCodeAt(i);
  if (sp === 0x20) {
    i++;
    while (raw.charCodeAt(i) !== 0x0d) {
      if (FIELD_VALUE[raw.charCodeAt(i)] !== 1) throw new HttpParseError(502, 'invalid character in reason phrase');
      i++;
    }
  } else if (sp !== 0x0d) {
    throw new HttpParseError(502, 'malformed status line');
  }
  if (raw.charCodeAt(i + 1) !== 0x0a) throw new HttpParseError(502, 'malformed status line');
  i += 2;
  head.headersStart = i;
  parseFields(head, i, 502, headerCount);
  return head;
}
