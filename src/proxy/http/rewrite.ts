import { STATUS_CODES } from 'node:http';
import type { ForwardedConfig } from '../../config/types.js';
import { lineEnd, type RequestHead, type ResponseHead } from './head.js';
import { H } from './header-ids.js';
import type { RequestIds } from './request-id.js';
import { fieldLines, lineName, viaLine, viaValue } from '../exchange/added-fields.js';
import { CONNECTION_SPECIFIC } from '../http2/wire/field-rules.js';

/** Per-client-connection facts the request rewrite needs, computed once at accept. */
export interface ClientFacts {
  /** Client IP as text ("192.0.2.7", "2001:db8::1"). */
  ip: string;
  /** The `for=` element of a Forwarded header for this client. */
  forwardedFor: string;
  /** The client is a trusted downstream proxy: its forwarding headers are kept. */
  trusted: boolean;
  /** "http" or "https". */
  proto: string;
}

/** A route's changes to a request head: a new target, fields removed (lower-case names) and fields added. */
export interface RequestEdit {
  target: string | null;
  remove: ReadonlySet<string> | null;
  fields: ReadonlyArray<readonly [string, string]>;
}

/** A route's changes to a response head: fields removed (lower-case names) and fields added. */
export interface ResponseEdit {
  remove: ReadonlySet<string>;
  fields: ReadonlyArray<readonly [string, string]>;
}

/**
 * Whether field k is hop-by-hop (RFC 9110 §7.6.1) and so never crosses the proxy:
 * Connection, Keep-Alive, Proxy-Connection, TE, the fields Connection names, and Upgrade
 * unless the exchange becomes a tunnel.
 */
function isHopByHop(head: RequestHead | ResponseHead, k: number, tunnel: boolean): boolean {
  switch (head.ids[k]) {
    case H.CONNECTION:
    case H.KEEP_ALIVE:
    case H.PROXY_CONNECTION:
    case H.TE:
      return true;
    case H.UPGRADE:
      return !tunnel;
    case H.OTHER:
      return head.connTokens !== null && head.connTokens.includes(head.names[k]!.toLowerCase());
    default:
      return false;
  }
}

/** What rewriteRequest produces: the rewritten head as text (HTTP/1.1) or as fields (HTTP/2). */
interface RequestOut {
  /** The request line's method and target. */
  start(req: RequestHead, target: string | null): void;
  /** Field k of the request does not go on (calls come in increasing k). */
  drop(req: RequestHead, k: number): void;
  /** After the last drop: the remaining fields of the request go on. */
  fieldsDone(req: RequestHead): void;
  /** A field of ours; `name` as an HTTP/1.1 peer is used to see it. */
  add(name: string, value: string): void;
  /** Our Via field for a request that came over HTTP version `version`. */
  via(version: string): void;
}

/**
 * The rules for the request head sent upstream, once for both outputs: hop-by-hop fields
 * (RFC 9110 §7.6.1) and fields named in Connection go, untrusted forwarding headers go,
 * ours are added (Content-Length made clean, X-Forwarded-*, Forwarded, Via, the request
 * ID, the route's fields, Connection: upgrade for a tunnel).
 */
function rewriteRequest(
  req: RequestHead,
  client: ClientFacts,
  fwd: ForwardedConfig,
  tunnel: boolean,
  version: string,
  requestIds: RequestIds | null,
  id: string | null,
  edit: RequestEdit | null,
  out: RequestOut,
): void {
  const ids = req.ids;
  const remove = edit?.remove ?? null;
  const addX = fwd.headers === 'x-forwarded' || fwd.headers === 'both';
  const addF = fwd.headers === 'forwarded' || fwd.headers === 'both';
  out.start(req, edit === null ? null : edit.target);
  let xff: string | null = null;
  let fwdOld: string | null = null;
  let haveProto = false;
  let haveXHost = false;
  const fixLength = req.contentLength >= 0 && !hasCleanLength(req);
  for (let k = 0; k < ids.length; k++) {
    let drop = false;
    switch (ids[k]) {
      case H.CONTENT_LENGTH:
        // a list ("5, 5"), leading zeros or a repeated field become one clean value
        drop = fixLength;
        break;
      case H.X_FORWARDED_FOR:
        if (addX) {
          drop = true;
          if (client.trusted) xff = xff === null ? req.values[k]! : `${xff}, ${req.values[k]}`;
        }
        break;
      case H.X_FORWARDED_PROTO:
        if (addX) {
          if (client.trusted) haveProto = true;
          else drop = true;
        }
        break;
      case H.X_FORWARDED_HOST:
        if (addX) {
          if (client.trusted) haveXHost = true;
          else drop = true;
        }
        break;
      case H.FORWARDED:
        if (addF) {
          drop = true;
          if (client.trusted) fwdOld = fwdOld === null ? req.values[k]! : `${fwdOld}, ${req.values[k]}`;
        }
        break;
      case H.OTHER:
        drop = isHopByHop(req, k, tunnel) || (requestIds !== null && requestIds.isField(req.names[k]!));
        break;
      default:
        drop = isHopByHop(req, k, tunnel);
    }
    if (!drop && remove !== null && remove.has(req.names[k]!.toLowerCase())) drop = true;
    if (drop) out.drop(req, k);
  }
  out.fieldsDone(req);
  if (fixLength) out.add('Content-Length', String(req.contentLength));
  if (addX) {
    out.add('X-Forwarded-For', xff === null ? client.ip : `${xff}, ${client.ip}`);
    if (!haveProto) out.add('X-Forwarded-Proto', client.proto);
    if (!haveXHost && req.host !== undefined) out.add('X-Forwarded-Host', req.host);
  }
  if (addF) {
    let el = `for=${client.forwardedFor};proto=${client.proto}`;
    if (req.host !== undefined) el += `;host="${req.host}"`;
    out.add('Forwarded', fwdOld === null ? el : `${fwdOld}, ${el}`);
  }
  if (fwd.via) out.via(version);
  if (id !== null) out.add(requestIds!.name, id);
  if (edit !== null) for (const [name, value] of edit.fields) out.add(lineName(name), value);
  if (tunnel) out.add('Connection', 'upgrade');
}

/**
 * The text output: the request line and header lines copied as runs of the original
 * text (case and order kept) when there is one, else written from the fields (a request
 * that came over HTTP/2). One object, reused: a rewrite runs to its end synchronously.
 */
class TextOut implements RequestOut {
  text = '';
  private run = 0;

  start(req: RequestHead, target: string | null): void {
    const raw = req.raw;
    if (raw === '') {
      this.text = `${req.method} ${target ?? req.target} HTTP/1.1\r\n`;
      this.run = 0;
      return;
    }
    this.run = req.headersStart;
    // the request line again, with the route's target
    this.text = target === null ? raw.slice(0, req.headersStart) : `${req.method} ${target} ${raw.slice(req.headersStart - 10, req.headersStart)}`;
  }

  drop(req: RequestHead, k: number): void {
    if (req.raw === '') {
      this.lines(req, this.run, k);
      this.run = k + 1;
      return;
    }
    this.text += req.raw.slice(this.run, req.lineStarts[k]);
    this.run = lineEnd(req, k);
  }

  fieldsDone(req: RequestHead): void {
    const raw = req.raw;
    if (raw === '') this.lines(req, this.run, req.names.length);
    else this.text += raw.slice(this.run, raw.length - 2);
  }

  /** Fields [from, to) as header lines. */
  private lines(req: RequestHead, from: number, to: number): void {
    for (let k = from; k < to; k++) this.text += `${req.names[k]}: ${req.values[k]}\r\n`;
  }

  add(name: string, value: string): void {
    this.text += `${name}: ${value}\r\n`;
  }

  via(version: string): void {
    this.text += viaLine(version);
  }
}

const TEXT_OUT = new TextOut();

/**
 * The request head to send to an HTTP/1.1 server (rewriteRequest's rules), as text.
 * @param tunnel keep Upgrade and send `Connection: upgrade` (WebSocket and friends)
 * @param version the HTTP version the request came in ("1.1", "2"), for Via (unless `fwd.via` is off)
 * @param framing header lines of ours about the body's framing (each ending in CRLF), or ''
 * @param requestIds the listener's request IDs (or null): the client's field is replaced by `id`
 *   (removed when `id` is null)
 * @param edit the route's changes (a new target, header rules), or null
 */
export function rewriteRequestHead(
  req: RequestHead,
  client: ClientFacts,
  fwd: ForwardedConfig,
  tunnel: boolean,
  version: string,
  framing: string,
  requestIds: RequestIds | null,
  id: string | null,
  edit: RequestEdit | null = null,
): string {
  const out = TEXT_OUT;
  rewriteRequest(req, client, fwd, tunnel, version, requestIds, id, edit, out);
  const text = out.text;
  out.text = '';
  return text + framing + '\r\n';
}

/** A request for an HTTP/2 server: its fields (names lower-case, pseudo-fields first) and how its body is framed. */
export interface RequestFields {
  names: string[];
  values: string[];
  /** The body goes as chunks (no length known), or not at all. */
  chunked: boolean;
  /** The body's length, -1 when chunked or none. */
  contentLength: number;
}

/** Fields that exist only between two HTTP/1.1 hops, and Host (it becomes :authority): none goes on an HTTP/2 request (RFC 9113 section 8.2.2). */
export const NOT_ON_HTTP2: ReadonlySet<string> = new Set([...CONNECTION_SPECIFIC, 'host', 'te', 'http2-settings']);
const ABSOLUTE = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/([^/?#]*)([^#]*)/;
const TE_TRAILERS = /(^|,)\s*trailers\s*(;|,|$)/i;

/**
 * The fields output (RFC 9113 section 8.3.1): :method, :scheme, :authority from Host (or
 * an absolute target), :path, then the fields minus connection-specific ones. TE goes
 * only as "trailers", and is added for gRPC, whose servers may insist on it.
 */
class FieldsOut implements RequestOut {
  names: string[] = [];
  values: string[] = [];
  /** Fields in names and values so far (the lists are made a little larger than needed, and cut in take()). */
  private n = 0;
  scheme = 'http';
  private next = 0;
  private te = false;
  private grpc = false;

  start(req: RequestHead, target: string | null): void {
    let path = target ?? req.target;
    let authority = req.host;
    if (path.charCodeAt(0) !== 0x2f && path !== '*') {
      const m = ABSOLUTE.exec(path);
      if (m !== null) {
        authority = m[1] !== '' ? m[1] : authority;
        path = m[2] === '' ? '/' : m[2]!;
      }
    }
    this.next = 0;
    this.te = false;
    this.grpc = false;
    // the pseudo-fields, the request's, and room for ours (X-Forwarded-*, Via, TE...): grows past that only with many of the route's
    const cap = req.names.length + 12;
    this.names = new Array<string>(cap);
    this.values = new Array<string>(cap);
    this.n = 0;
    this.push(':method', req.method);
    this.push(':scheme', this.scheme);
    if (authority !== undefined && authority !== '') this.push(':authority', authority);
    this.push(':path', path);
  }

  private push(name: string, value: string): void {
    this.names[this.n] = name;
    this.values[this.n++] = value;
  }

  drop(req: RequestHead, k: number): void {
    this.fields(req, this.next, k);
    this.next = k + 1;
  }

  fieldsDone(req: RequestHead): void {
    this.fields(req, this.next, req.names.length);
  }

  /** Fields [from, to) of the request, minus what HTTP/2 does not carry. */
  private fields(req: RequestHead, from: number, to: number): void {
    for (let k = from; k < to; k++) this.add(req.names[k]!, req.values[k]!);
  }

  add(name: string, value: string): void {
    const lower = lowerName(name);
    if (NOT_ON_HTTP2.has(lower)) {
      if (lower === 'te' && TE_TRAILERS.test(value)) this.te = true;
      return;
    }
    if (lower === 'content-type' && value.startsWith('application/grpc')) this.grpc = true;
    this.push(lower, value);
  }

  via(version: string): void {
    this.push('via', viaValue(version));
  }

  /** The request made, its body framed as said; the output is ready for the next request. */
  take(chunked: boolean, contentLength: number): RequestFields {
    if (this.te || this.grpc) this.push('te', 'trailers');
    this.names.length = this.n;
    this.values.length = this.n;
    const taken: RequestFields = { names: this.names, values: this.values, chunked, contentLength: chunked ? -1 : contentLength };
    this.names = [];
    this.values = [];
    return taken;
  }
}

const FIELDS_OUT = new FieldsOut();

/** Lower-case names of the fields we add ("X-Forwarded-For"), made once each. */
const LOWER = new Map<string, string>();

/** `name` in lower case; names of our own fields from LOWER. */
function lowerName(name: string): string {
  const c = name.charCodeAt(0);
  if (c >= 0x61 && c <= 0x7a && name === name.toLowerCase()) return name;
  let lower = LOWER.get(name);
  if (lower === undefined) {
    lower = name.toLowerCase();
    if (LOWER.size < 64) LOWER.set(name, lower);
  }
  return lower;
}

/**
 * The request for an HTTP/2 server (rewriteRequest's rules, then RFC 9113's), as fields.
 * @param scheme the pool's: "https" over TLS, else "http"
 * @param chunked the body goes without a length (the client's own chunking, or an HTTP/2 client's body of unknown length)
 * Other parameters as rewriteRequestHead's.
 */
export function rewriteRequestFields(
  req: RequestHead,
  client: ClientFacts,
  fwd: ForwardedConfig,
  version: string,
  chunked: boolean,
  scheme: string,
  requestIds: RequestIds | null,
  id: string | null,
  edit: RequestEdit | null = null,
): RequestFields {
  const out = FIELDS_OUT;
  out.scheme = scheme;
  rewriteRequest(req, client, fwd, false, version, requestIds, id, edit, out);
  return out.take(chunked, req.contentLength);
}

/** True when exactly one Content-Length line exists and it is already the plain number. */
function hasCleanLength(req: RequestHead): boolean {
  let n = 0;
  let clean = false;
  for (let k = 0; k < req.ids.length; k++) {
    if (req.ids[k] === H.CONTENT_LENGTH) {
      n++;
      clean = req.values[k] === String(req.contentLength);
    }
  }
  return n === 1 && clean;
}

/**
 * The response head to send to the client: the status line (as HTTP/1.1), the server's
 * fields minus hop-by-hop ones, plus ours (added-fields.ts) and our Connection decision.
 * @param dropLength remove Content-Length (a chunked response that also declared one)
 * @param close tell the client this connection ends after the response
 * @param tunnel a 101 Switching Protocols: keep Upgrade, send `Connection: upgrade`
 * @param extra complete header lines of ours to add (each ending in CRLF): Via, Set-Cookie
 * @param edit the route's response header rules, or null
 */
export function rewriteResponseHead(
  resp: ResponseHead,
  close: boolean,
  dropLength: boolean,
  tunnel: boolean,
  extra = '',
  edit: ResponseEdit | null = null,
): string {
  const raw = resp.raw;
  const ids = resp.ids;
  // a head with text (an HTTP/1.1 server's) is copied in runs; one built from an HTTP/2 server's fields is written out
  const text = raw !== '';
  let out = !text ? `HTTP/1.1 ${resp.status} ${STATUS_CODES[resp.status] ?? ''}\r\n` : resp.minor === 1 ? raw.slice(0, resp.headersStart) : 'HTTP/1.1' + raw.slice(8, resp.headersStart);
  let run = resp.headersStart;
  const remove = edit?.remove ?? null;
  for (let k = 0; k < ids.length; k++) {
    const drop = (ids[k] === H.CONTENT_LENGTH ? dropLength : isHopByHop(resp, k, tunnel)) || (remove !== null && remove.has(resp.names[k]!.toLowerCase()));
    if (!text) {
      if (!drop) out += `${resp.names[k]}: ${resp.values[k]}\r\n`;
    } else if (drop) {
      out += raw.slice(run, resp.lineStarts[k]);
      run = lineEnd(resp, k);
    }
  }
  if (text) out += raw.slice(run, raw.length - 2);
  out += extra;
  if (edit !== null) out += fieldLines(edit.fields);
  if (tunnel) out += 'Connection: upgrade\r\n';
  else if (close) out += 'Connection: close\r\n';
  return out + '\r\n';
}
