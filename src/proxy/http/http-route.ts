/**
 * A route of an HTTP listener as the exchange uses it, compiled once from its
 * configuration: where a matched request goes (a pool, a weighted split, a redirect, a
 * direct answer), who may use it (allow and deny networks), and what it changes (the
 * path, request and response header fields). The exchange applies all of it in one place
 * for HTTP/1.1 and HTTP/2 alike.
 */
import type { Pool } from '../../backend/pool.js';
import type { RouteConfig } from '../../config/types.js';
import type { SplitBy } from '../../config/listeners/route.js';
import { hashKey } from '../../balance/hash.js';
import { CidrSet } from './cidr-set.js';
import { BasicAuth } from './basic-auth.js';
import { RequestRateLimit } from '../../limits/request-rate.js';
import type { RequestHead } from './head.js';
import { hostName } from './router.js';
import { cookieValue, headerValue } from './request-keys.js';
import type { Fields } from '../exchange/added-fields.js';
import { CompressionPolicy } from './compress.js';

/** What header rules may say about the request they apply to. */
export interface RuleContext {
  clientIp: string;
  requestId: string | null;
  host: string;
  scheme: string;
  tlsVersion: string;
}

/** Header rules, compiled: the names to remove (lower case, `set` names included) and the fields to add. */
export class HeaderRules {
  readonly remove: ReadonlySet<string>;
  private readonly fields: ReadonlyArray<readonly [string, string]>;
  private readonly templated: boolean;

  constructor(
    rules: { set: Array<[string, string]>; add: Array<[string, string]>; remove: string[] },
    private readonly route: string,
  ) {
    this.remove = new Set([...rules.remove, ...rules.set.map(([n]) => n.toLowerCase())]);
    this.fields = [...rules.set, ...rules.add];
    this.templated = this.fields.some(([, v]) => v.includes('${'));
  }

  /** The fields to add, with their variables filled in. */
  expand(ctx: RuleContext): Fields {
    if (!this.templated) return this.fields;
    return this.fields.map(([n, v]) => [n, v.includes('${') ? fill(v, ctx, this.route) : v] as const);
  }
}

function fill(v: string, ctx: RuleContext, route: string): string {
  return v.replace(/\$\{([a-z_]+)\}/g, (_m, name: string) => {
    switch (name) {
      case 'client_ip':
        return ctx.clientIp;
      case 'request_id':
        return ctx.requestId ?? '';
      case 'route':
        return route;
      case 'host':
        return ctx.host;
      case 'scheme':
        return ctx.scheme;
      case 'tls_version':
        return ctx.tlsVersion;
      default:
        return '';
    }
  });
}

interface Split {
  pools: Pool[];
  /** Cumulative weights. */
  cum: number[];
  total: number;
  by: SplitBy;
}

export class HttpRoute {
  readonly name: string;
  readonly pool: Pool | null;
  readonly split: Split | null;
  readonly redirect: RouteConfig['redirect'];
  readonly respond: RouteConfig['respond'];
  readonly requestRules: HeaderRules | null;
  readonly responseRules: HeaderRules | null;
  /** Basic authentication, or null. */
  readonly auth: BasicAuth | null;
  /** Response compression (the route's, else the listener's), or null. */
  readonly compression: CompressionPolicy | null;
  /** Requests per client (or header value, or route) across every worker, or null. */
  readonly rateLimit: RequestRateLimit | null;
  private readonly allow: CidrSet | null;
  private readonly deny: CidrSet | null;
  private readonly pathPrefix: string;
  private readonly rewrite: { kind: 'prefix'; to: string } | { kind: 'regex'; regex: RegExp; replace: string } | null;

  /** @param compression the listener's compression, which a route without its own takes */
  constructor(cfg: RouteConfig, index: number, pool: (name: string) => Pool, listener = '', compression: CompressionPolicy | null = null) {
    this.name = cfg.name ?? `routes[${index}]`;
    this.compression = cfg.compression === undefined ? compression : cfg.compression === null ? null : new CompressionPolicy(cfg.compression);
    this.auth = cfg.basicAuth === null ? null : new BasicAuth(cfg.basicAuth.realm, cfg.basicAuth.htpasswd, `listener ${listener} route ${this.name}`);
    this.rateLimit = cfg.rateLimit === null ? null : new RequestRateLimit(cfg.rateLimit, `listener ${listener} route ${this.name}`);
    this.pool = cfg.pool === null ? null : pool(cfg.pool);
    if (cfg.split === null) this.split = null;
    else {
      const pools = cfg.split.pools.map((p) => pool(p.pool));
      const cum: number[] = [];
      let total = 0;
      for (const p of cfg.split.pools) cum.push((total += p.weight));
      this.split = { pools, cum, total, by: cfg.split.by };
    }
    this.redirect = cfg.redirect;
    this.respond = cfg.respond;
    this.requestRules = cfg.requestHeaders === null ? null : new HeaderRules(cfg.requestHeaders, this.name);
    this.responseRules = cfg.responseHeaders === null ? null : new HeaderRules(cfg.responseHeaders, this.name);
    this.allow = cfg.allow === null ? null : new CidrSet(cfg.allow);
    this.deny = cfg.deny === null ? null : new CidrSet(cfg.deny);
    this.pathPrefix = cfg.pathPrefix;
    const rw = cfg.rewrite;
    this.rewrite = rw === null ? null : rw.kind === 'prefix' ? rw : { kind: 'regex', regex: new RegExp(rw.regex), replace: rw.replace };
  }

  /** Every pool this route can send to (for upstream connections and checks). */
  get pools(): Pool[] {
    return this.pool !== null ? [this.pool] : (this.split?.pools ?? []);
  }

  /** Whether a client at `ip` may use this route (`deny` wins over `allow`). */
  admits(ip: string): boolean {
    if (this.deny !== null && this.deny.has(ip)) return false;
    return this.allow === null || this.allow.has(ip);
  }

  /** The pool for this request: the route's, or the split's choice (random, or stable per client, cookie or header). */
  poolFor(req: RequestHead, ip: string): Pool {
    if (this.pool !== null) return this.pool;
    const s = this.split!;
    if (s.total <= 0) return s.pools[0]!;
    let key: string | undefined;
    if (s.by.kind === 'client') key = ip;
    else if (s.by.kind === 'header') key = headerValue(req, s.by.name) ?? undefined;
    else if (s.by.kind === 'cookie') key = cookieValue(req, s.by.name) ?? undefined;
    const point = key === undefined ? Math.random() * s.total : ((hashKey(key) >>> 0) / 0x1_0000_0000) * s.total;
    for (let i = 0; i < s.cum.length; i++) if (point < s.cum[i]!) return s.pools[i]!;
    return s.pools[s.pools.length - 1]!;
  }

  /** The request target the server gets, or null when the route does not rewrite it. */
  newTarget(target: string): string | null {
    const rw = this.rewrite;
    if (rw === null || target.charCodeAt(0) !== 0x2f) return null;
    const q = target.indexOf('?');
    const path = q < 0 ? target : target.slice(0, q);
    const query = q < 0 ? '' : target.slice(q);
    if (rw.kind === 'regex') return path.replace(rw.regex, rw.replace) + query;
    if (!path.startsWith(this.pathPrefix)) return null;
    return joinPath(rw.to, path.slice(this.pathPrefix.length)) + query;
  }

  /** The Location of a redirect route for this request. */
  location(req: RequestHead, scheme: string): string {
    const r = this.redirect!;
    const q = req.target.indexOf('?');
    const path = q < 0 ? req.target : req.target.slice(0, q);
    const query = q < 0 ? '' : req.target.slice(q);
    const newScheme = r.scheme ?? scheme;
    const host = r.host ?? (req.host === undefined ? '' : hostName(req.host));
    const defaultPort = newScheme === 'https' ? 443 : 80;
    const port = r.port ?? (r.scheme === null && r.host === null ? portOf(req.host) : null);
    const authority = port === null || port === defaultPort ? host : `${host}:${port}`;
    let newPath = path;
    if (r.path !== null) newPath = r.path;
    else if (r.prefix !== null && path.startsWith(this.pathPrefix)) newPath = joinPath(r.prefix, path.slice(this.pathPrefix.length));
    return `${newScheme}://${authority}${newPath}${query}`;
  }
}

/** "/v2/" + "x" -> "/v2/x"; "/" + "/x" -> "/x": one slash between. */
function joinPath(prefix: string, rest: string): string {
  if (rest === '') return prefix;
  if (prefix.endsWith('/') && rest.startsWith('/')) return prefix + rest.slice(1);
  if (!prefix.endsWith('/') && !rest.startsWith('/')) return `${prefix}/${rest}`;
  return prefix + rest;
}

function portOf(host: string | undefined): number | null {
  if (host === undefined) return null;
  const m = /:(\d+)$/.exec(host);
  return m === null || host.endsWith(']') ? null : Number(m[1]);
}
