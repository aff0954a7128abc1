import type { RouteConfig } from '../../config/types.js';

/** A compiled route: hosts split into exact names and wildcard suffixes. */
interface Route<T> {
  exact: Set<string>;
  /** ".example.com" for "*.example.com". */
  suffixes: string[];
  anyHost: boolean;
  pathPrefix: string;
  target: T;
}

/**
 * Host and path-prefix routing, first match wins (in configuration order). Host
 * matching is case-insensitive and ignores the port; `*.example.com` matches any name
 * below example.com but not example.com itself, as in nginx and HAProxy.
 */
export class Router<T> {
  private readonly routes: Route<T>[];
  /** Set when there is a single catch-all route: the common case costs nothing. */
  private readonly only: T | undefined;

  constructor(routes: readonly RouteConfig[], resolve: (pool: string) => T) {
    this.routes = routes.map((r) => {
      const exact = new Set<string>();
      const suffixes: string[] = [];
      for (const h of r.hosts) {
        if (h.startsWith('*.')) suffixes.push(h.slice(1));
        else exact.add(h);
      }
      return { exact, suffixes, anyHost: r.hosts.length === 0, pathPrefix: r.pathPrefix, target: resolve(r.pool) };
    });
    const first = this.routes[0];
    this.only = this.routes.length === 1 && first!.anyHost && first!.pathPrefix === '' ? first!.target : undefined;
  }

  /**
   * The target for a request, or undefined when no route matches.
   * @param host the Host header (any case, may carry a port), or undefined
   * @param target the request target (origin-form or absolute-form)
   */
  match(host: string | undefined, target: string): T | undefined {
    if (this.only !== undefined) return this.only;
    let path = target;
    if (target.charCodeAt(0) !== 0x2f) {
      // absolute-form: scheme://authority/path — the authority overrides Host (RFC 9112 §3.2.2)
      const m = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/([^/?#]*)(.*)$/.exec(target);
      if (m !== null) {
        host = m[1];
        path = m[2] === '' ? '/' : m[2]!;
      }
    }
    const name = host === undefined ? '' : hostName(host);
    for (const r of this.routes) {
      if (!r.anyHost && !r.exact.has(name) && !matchesSuffix(name, r.suffixes)) continue;
      if (r.pathPrefix !== '' && !path.startsWith(r.pathPrefix)) continue;
      return r.target;
    }
    return undefined;
  }
}

function matchesSuffix(name: string, suffixes: readonly string[]): boolean {
  for (const s of suffixes) if (name.length > s.length && name.endsWith(s)) return true;
  return false;
}

/** Lower-cased host without port or trailing dot: "WWW.Example.com:8080" -> "www.example.com". */
export function hostName(host: string): string {
  let h = host;
  if (h.charCodeAt(0) === 0x5b) {
    const close = h.indexOf(']');
    h = close > 0 ? h.slice(0, close + 1) : h;
  } else {
    const colon = h.indexOf(':');
    if (colon >= 0) h = h.slice(0, colon);
  }
  if (h.endsWith('.')) h = h.slice(0, -1);
  return h.toLowerCase();
}
