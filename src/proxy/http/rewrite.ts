import type { ForwardedConfig } from '../../config/types.js';
import type { RequestHead, ResponseHead } from './head.js';
import { H } from './header-ids.js';
import type { RequestIds } from './request-id.js';
import { fieldLines } from '../exchange/added-fields.js';

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

/**
 * The request head to send upstream: request line and header lines copied as runs of
 * the original text (case and order kept), minus hop-by-hop fields (RFC 9110 §7.6.1)
 * and fields named in Connection, minus untrusted forwarding headers, plus ours.
 * @param tunnel keep Upgrade and send `Connection: upgrade` (WebSocket and friends)
 * @param via the Via line for the protocol the request came in ("Via: 1.1 fulcrum" and CRLF), added unless `fwd.via` is off
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
  via: string,
  framing: string,
  requestIds: RequestIds | null,
  id: string | null,
  edit: RequestEdit | null = null,
): string {
  const raw = req.raw;
  const ids = req.ids;
  const remove = edit?.remove ?? null;
  const addX = fwd.headers === 'x-forwarded' || fwd.headers === 'both';
  const addF = fwd.headers === 'forwarded' || fwd.headers === 'both';
  let out = raw.slice(0, req.headersStart);
  let run = req.headersStart;
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
    if (drop) {
      out += raw.slice(run, req.lineStarts[k]);
      run = req.lineEnds[k]!;
    }
  }
  out += raw.slice(run, raw.length - 2);
  if (edit !== null && edit.target !== null) {
    // the request line again, with the route's target
    const eol = out.indexOf('\r\n');
    out = `${req.method} ${edit.target} ${out.slice(eol - 8, eol)}${out.slice(eol)}`;
  }
  if (fixLength) out += `Content-Length: ${req.contentLength}\r\n`;
  if (addX) {
    out += xff === null ? `X-Forwarded-For: ${client.ip}\r\n` : `X-Forwarded-For: ${xff}, ${client.ip}\r\n`;
    if (!haveProto) out += `X-Forwarded-Proto: ${client.proto}\r\n`;
    if (!haveXHost && req.host !== undefined) out += `X-Forwarded-Host: ${req.host}\r\n`;
  }
  if (addF) {
    let el = `for=${client.forwardedFor};proto=${client.proto}`;
    if (req.host !== undefined) el += `;host="${req.host}"`;
    out += fwdOld === null ? `Forwarded: ${el}\r\n` : `Forwarded: ${fwdOld}, ${el}\r\n`;
  }
  if (fwd.via) out += via;
  if (id !== null) out += requestIds!.linePrefix + id + '\r\n';
  if (edit !== null) out += fieldLines(edit.fields);
  if (tunnel) out += 'Connection: upgrade\r\n';
  return out + framing + '\r\n';
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
  let out = resp.minor === 1 ? raw.slice(0, resp.headersStart) : 'HTTP/1.1' + raw.slice(8, resp.headersStart);
  let run = resp.headersStart;
  const remove = edit?.remove ?? null;
  for (let k = 0; k < ids.length; k++) {
    const drop = (ids[k] === H.CONTENT_LENGTH ? dropLength : isHopByHop(resp, k, tunnel)) || (remove !== null && remove.has(resp.names[k]!.toLowerCase()));
    if (drop) {
      out += raw.slice(run, resp.lineStarts[k]);
      run = resp.lineEnds[k]!;
    }
  }
  out += raw.slice(run, raw.length - 2);
  out += extra;
  if (edit !== null) out += fieldLines(edit.fields);
  if (tunnel) out += 'Connection: upgrade\r\n';
  else if (close) out += 'Connection: close\r\n';
  return out + '\r\n';
}
