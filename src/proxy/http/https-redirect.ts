/**
 * The answer of a plain-HTTP listener with `https_redirect` to a request no route
 * matches: the same host, path and query over HTTPS, with 301 or 308. Pure.
 */
import type { HttpsRedirectConfig } from '../../config/types-tls.js';
import type { RequestHead } from './head.js';
import { errorBody, reasonPhrase } from './local-response.js';

/** The host of a Host value without its port ("www.example.com:80" -> "www.example.com", "[::1]:80" -> "[::1]"). */
function hostOnly(host: string): string {
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    return end < 0 ? host : host.slice(0, end + 1);
  }
  const colon = host.indexOf(':');
  return colon < 0 ? host : host.slice(0, colon);
}

/** Path and query of a target: origin-form as is, absolute-form without scheme and authority, "*" as "/". */
function pathOf(target: string): string {
  if (target.charCodeAt(0) === 0x2f) return target;
  const m = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/?#]*(.*)$/.exec(target);
  if (m === null || m[1] === '') return '/';
  return m[1]!.charCodeAt(0) === 0x2f ? m[1]! : `/${m[1]}`;
}

/**
 * The redirect for `req`: status, body, and the Location URL (null with a 400). The
 * host comes from the Host header (already checked by the parser: no spaces, no control
 * characters); a request without one (HTTP/1.0) gets a 400, since there is no name to
 * send the client to.
 */
export function httpsRedirect(req: RequestHead, cfg: HttpsRedirectConfig): { status: number; body: string; location: string | null } {
  if (req.host === undefined || req.host === '') {
    return { status: 400, body: errorBody(400, 'this address serves HTTPS only, and the request names no host (Host header) to redirect to'), location: null };
  }
  const location = httpsUrl(req.host, req.target, cfg.port);
  return { status: cfg.status, body: `${cfg.status} ${reasonPhrase(cfg.status)}: ${location}\n`, location };
}

/** https://HOST[:PORT]/path?query for a Host value and a request target. */
export function httpsUrl(host: string, target: string, port: number): string {
  return `https://${hostOnly(host).toLowerCase()}${port === 443 ? '' : `:${port}`}${pathOf(target)}`;
}
