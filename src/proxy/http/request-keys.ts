import type { HashKey } from '../../config/types.js';
import { eqLower, trimOws } from './chars.js';
import type { RequestHead } from './head.js';
import { H } from './header-ids.js';

/**
 * The value of cookie `name` in the request's Cookie header(s), or null. Cookie
 * names are case-sensitive (RFC 6265); only the first occurrence counts.
 */
export function cookieValue(req: RequestHead, name: string): string | null {
  for (let k = 0; k < req.ids.length; k++) {
    if (req.ids[k] !== H.COOKIE) continue;
    const v = req.values[k]!;
    let i = 0;
    while (i < v.length) {
      while (v.charCodeAt(i) === 0x20) i++;
      const eq = v.indexOf('=', i);
      if (eq < 0) break;
      let end = v.indexOf(';', eq);
      if (end < 0) end = v.length;
      if (eq - i === name.length && v.startsWith(name, i)) {
        let val = trimOws(v.slice(eq + 1, end));
        if (val.length >= 2 && val.charCodeAt(0) === 0x22 && val.charCodeAt(val.length - 1) === 0x22) val = val.slice(1, -1);
        return val;
      }
      i = end + 1;
    }
  }
  return null;
}

/** The first value of header `lowerName`, or null. */
export function headerValue(req: RequestHead, lowerName: string): string | null {
  for (let k = 0; k < req.names.length; k++) if (eqLower(req.names[k]!, lowerName)) return req.values[k]!;
  return null;
}

/** The value of query parameter `name` (not percent-decoded), or null. */
function queryValue(target: string, name: string): string | null {
  const q = target.indexOf('?');
  if (q < 0) return null;
  for (const pair of target.slice(q + 1).split('&')) {
    const eq = pair.indexOf('=');
    const k = eq < 0 ? pair : pair.slice(0, eq);
    if (k === name) return eq < 0 ? '' : pair.slice(eq + 1);
  }
  return null;
}

/**
 * The string a maglev pool hashes for this request, or null when the request does not
 * carry it (the caller then spreads such requests at random, as HAProxy falls back to
 * round robin).
 */
export function requestKey(key: HashKey, req: RequestHead, clientIp: string): string | null {
  switch (key.source) {
    case 'ip':
      return clientIp;
    case 'header':
      return headerValue(req, key.name);
    case 'cookie':
      return cookieValue(req, key.name);
    case 'path': {
      const q = req.target.indexOf('?');
      return q < 0 ? req.target : req.target.slice(0, q);
    }
    case 'query':
      return queryValue(req.target, key.name);
  }
}
