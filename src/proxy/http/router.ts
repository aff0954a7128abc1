import type { RouteConfig } from '../../config/types.js';
import type { ValueTest } from '../../config/listeners/route.js';
import { CidrSet } from './cidr-set.js';
import type { RequestHead } from './head.js';
import { eqLower } from './chars.js';

/** A header or query test, compiled. */
interface Test {
  name: string;
  kind: ValueTest['kind'];
  value: string;
  regex: RegExp | null;
}

/** A compiled route: hosts split into exact names and wildcard suffixes, and its other conditions. */
interface Route<T> {
  exact: Set<string>;
  /** ".example.com" for "*.example.com". */
  suffixes: string[];
  anyHost: boolean;
  pathPrefix: string;
  /** Whether anything but host and path must be looked at (methods, headers, ...). */
  more: boolean;
  pathRegex: RegExp | null;
  methods: Set<string> | null;
  headers: Test[];
  query: Test[];
  clients: CidrSet | null;
  /** TLS server names (exact, and ".suffix" for wildcards), or null: any. */
  sni: { exact: Set<string>; suffixes: string[] } | null;
  target: T;
  /** Its place in the order routes are tried. */
  order: number;
}

const NO_ROUTES: never[] = [];

/**
 * Routing. Routes are tried from the highest `priority` down, in configuration order
 * within one priority; the first whose conditions all hold wins. Host matching is
 * case-insensitive and ignores the port; `*.example.com` matches any name below
 * example.com but not example.com itself, as in nginx and HAProxy. Besides host and path
 * prefix (all TCP routing can use), an HTTP route may test the path against a regular
 * expression, the method, header fields, query parameters and the client's network.
 */
export class Router<T> {
  private readonly routes: Route<T>[];
  /** Set when there is a single catch-all route: the common case costs nothing. */
  private readonly only: T | undefined;
  /** Some route tests the TLS server name: matchRequest needs it. */
  readonly usesSni: boolean;
  /** Routes by each exact host they name, and the routes for any host or a wildcard, each in the order tried. */
  private readonly byHost = new Map<string, Route<T>[]>();
  private readonly general: Route<T>[] = [];

  constructor(routes: readonly RouteConfig[], resolve: (route: RouteConfig, index: number) => T) {
    const order = routes.map((r, i) => ({ r, i })).sort((a, b) => b.r.priority - a.r.priority || a.i - b.i);
    this.routes = order.map(({ r, i }) => {
      const { exact, suffixes } = namePatterns(r.hosts);
      const test = (t: { name: string } & ValueTest): Test => ({ name: t.name, kind: t.kind, value: 'value' in t ? t.value : '', regex: t.kind === 'regex' ? new RegExp(t.value) : null });
      const route: Route<T> = {
        exact,
        suffixes,
        anyHost: r.hosts.length === 0,
        pathPrefix: r.pathPrefix,
        more: false,
        pathRegex: r.pathRegex === null ? null : new RegExp(r.pathRegex),
        methods: r.methods === null ? null : new Set(r.methods),
        headers: r.headers.map(test),
        query: r.query.map(test),
        clients: r.clients === null ? null : new CidrSet(r.clients),
        sni: r.sni === null ? null : namePatterns(r.sni),
        target: resolve(r, i),
        order: 0,
      };
      route.more = route.pathRegex !== null || route.methods !== null || route.headers.length > 0 || route.query.length > 0 || route.clients !== null || route.sni !== null;
      return route;
    });
    this.usesSni = this.routes.some((r) => r.sni !== null);
    // Routes naming exact hosts only are found through their hosts; the rest are tried for every request.
    this.routes.forEach((r, k) => (r.order = k));
    for (const r of this.routes) {
      if (r.anyHost || r.suffixes.length > 0) this.general.push(r);
      else for (const h of r.exact) (this.byHost.get(h) ?? this.byHost.set(h, []).get(h)!).push(r);
    }
    const first = this.routes[0];
    this.only = this.routes.length === 1 && first!.anyHost && first!.pathPrefix === '' && !first!.more ? first!.target : undefined;
  }

  /**
   * The target for a connection or request by host and path only (TCP routes by SNI), or
   * undefined when no route matches. Routes with other conditions never match here.
   * @param host the Host header (any case, may carry a port), or undefined
   * @param target the request target (origin-form or absolute-form)
   */
  match(host: string | undefined, target: string): T | undefined {
    return this.only ?? this.find(host, target, null, '');
  }

  /**
   * The target for an HTTP request from client address `ip` over a TLS connection whose
   * server name is `sni` ('' without one; only read when usesSni), or undefined when no
   * route matches.
   */
  matchRequest(req: RequestHead, ip: string, sni = ''): T | undefined {
    return this.only ?? this.find(req.host, req.target, req, ip, sni);
  }

  /** The first route that matches; without `req`, routes with conditions beyond host and path never do. */
  private find(host: string | undefined, target: string, req: RequestHead | null, ip: string, sni = ''): T | undefined {
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
    // the routes of this host and the general ones, merged in the order they are tried
    const named = this.byHost.get(name) ?? NO_ROUTES;
    const general = this.general;
    let a = 0;
    let b = 0;
    while (a < named.length || b < general.length) {
      const r = b >= general.length || (a < named.length && named[a]!.order < general[b]!.order) ? named[a++]! : general[b++]!;
      if (!hostAndPath(r, name, path)) continue;
      if (r.more && (req === null || !conditions(r, req, path, ip, sni))) continue;
      return r.target;
    }
    return undefined;
  }
}

function hostAndPath<T>(r: Route<T>, name: string, path: string): boolean {
  if (!r.anyHost && !r.exact.has(name) && !matchesSuffix(name, r.suffixes)) return false;
  return r.pathPrefix === '' || path.startsWith(r.pathPrefix);
}

function conditions<T>(r: Route<T>, req: RequestHead, target: string, ip: string, sni: string): boolean {
  if (r.sni !== null && !r.sni.exact.has(sni) && !matchesSuffix(sni, r.sni.suffixes)) return false;
  if (r.methods !== null && !r.methods.has(req.method)) return false;
  const q = target.indexOf('?');
  if (r.pathRegex !== null && !r.pathRegex.test(q < 0 ? target : target.slice(0, q))) return false;
  for (const t of r.headers) if (!holds(t, headerValues(req, t.name))) return false;
  if (r.query.length > 0) {
    const params = new URLSearchParams(q < 0 ? '' : target.slice(q + 1));
    for (const t of r.query) if (!holds(t, params.getAll(t.name))) return false;
  }
  return r.clients === null || r.clients.has(ip);
}

/** A test against the values present (none: the field is absent). */
function holds(t: Test, values: readonly string[]): boolean {
  switch (t.kind) {
    case 'present':
      return values.length > 0;
    case 'absent':
      return values.length === 0;
    case 'exact':
      return values.includes(t.value);
    case 'prefix':
      return values.some((v) => v.startsWith(t.value));
    case 'regex':
      return values.some((v) => t.regex!.test(v));
  }
}

/** The values of a request's header field `lower` (a lower-case name), in order. */
export function headerValues(req: RequestHead, lower: string): string[] {
  const out: string[] = [];
  for (let k = 0; k < req.names.length; k++) if (eqLower(req.names[k]!, lower)) out.push(req.values[k]!);
  return out;
}

/** Host patterns split into exact names and the suffixes of `*.` wildcards (".example.com"). */
function namePatterns(patterns: readonly string[]): { exact: Set<string>; suffixes: string[] } {
  const exact = new Set<string>();
  const suffixes: string[] = [];
  for (const h of patterns) {
    if (h.startsWith('*.')) suffixes.push(h.slice(1));
    else exact.add(h);
  }
  return { exact, suffixes };
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
