/**
 * Cross-checks of the listeners that no single field can make: unique names and binds,
 * routes that name existing pools, routes that can never match, limits that contradict
 * each other, the keys and routes each mode can use, and pools a tcp or udp listener
 * cannot feed. They read each listener field by field (common/parsed.ts).
 */
import { isIP } from 'node:net';
import { bindsClash, type HostPort } from '../common/address.js';
import { isObj, list, parseEach, parseFields, type Parsed, type PathIssue } from '../common/parsed.js';
import { noPoolMessage } from '../common/suggest.js';
import { formatPath, type KeyPath } from '../locate.js';
import type { FileParts } from '../parts.js';
import type { PoolPart } from '../pools/checks.js';
import type { HashKey, ListenerMode } from '../types.js';
import { DEFAULT_LIMITS } from './defaults.js';
import { parseLogTemplate } from './log-template.js';
import { limitsOverride, routeFields, type listenerFields } from './schema.js';
import { HTTP_ONLY_KEYS } from './route.js';

export type ListenerPart = Parsed<typeof listenerFields>;
type RoutePart = Parsed<typeof routeFields>;

/** The fields of `limits`, globally or in a listener. */
const limitFields = limitsOverride(true).in;

/** A listener's routes, parsed field by field (undefined where one is not a mapping). */
export function routesOf(l: ListenerPart): Array<RoutePart | undefined> {
  return parseEach(routeFields, l.raw.routes);
}

/** How messages name a listener's mode: "mode: tcp", or "mode: http (the default)". */
export function modeText(l: ListenerPart, mode: ListenerMode): string {
  return `mode: ${mode}${l.given('mode') ? '' : ' (the default)'}`;
}

/** Runs every check of the listeners and appends what it finds to `issues`. */
export function checkListeners(parts: FileParts, issues: PathIssue[]): void {
  const { listeners, pools } = parts;
  checkNames(listeners, issues);
  checkBinds(listeners, issues);
  const poolUses = new Set<string>();
  listeners.forEach((l, i) => {
    if (!l) return;
    const base: KeyPath = ['listeners', i, 'routes'];
    const routes = routesOf(l);
    if (pools) checkRoutePools(routes, base, pools, issues);
    const mode = l.fields.mode;
    // A udp listener's extra routes are reported by checkMode, not as shadowed.
    if (mode !== 'udp') checkShadowedRoutes(routes, base, issues);
    if (mode !== undefined) {
      checkMode(l, i, mode, issues);
      if (pools) checkLayer4Pools(l, i, mode, pools, poolUses, issues);
    }
  });
  checkLimits(parts, issues);
}

function checkNames(listeners: FileParts['listeners'], issues: PathIssue[]): void {
  const seen = new Map<string, number>();
  listeners.forEach((l, i) => {
    const name = l?.fields.name;
    if (name === undefined) return;
    const first = seen.get(name);
    if (first === undefined) seen.set(name, i);
    else issues.push({ path: ['listeners', i, 'name'], message: `duplicate listener name \`${name}\`: listeners[${first}] already uses it` });
  });
}

/**
 * Two listeners may not bind the same address and port with the same transport: a udp
 * listener binds UDP, every other mode TCP, so a udp listener may share its address and
 * port with a tcp, http or redirect listener (as DNS serves UDP and TCP on port 53).
 */
function checkBinds(listeners: FileParts['listeners'], issues: PathIssue[]): void {
  const seen: Array<{ index: number; bind: HostPort; text: string; udp: boolean }> = [];
  listeners.forEach((l, i) => {
    const bind = l?.fields.bind;
    if (!l || !bind) return;
    const text = String(l.raw.bind);
    const udp = l.fields.mode === 'udp';
    const clash = seen.find((s) => s.udp === udp && bindsClash(s.bind, bind));
    if (clash) {
      const same = clash.bind.host === bind.host ? 'is already used by' : 'overlaps';
      const own = udp ? 'each udp listener needs its own address and port (it may share one with a listener of another mode)' : 'each listener needs its own address and port';
      issues.push({ path: ['listeners', i, 'bind'], message: `bind ${text} ${same} listeners[${clash.index}] (${clash.text}): ${own}` });
    }
    seen.push({ index: i, bind, text, udp });
  });
}

function checkRoutePools(routes: Array<RoutePart | undefined>, base: KeyPath, pools: ReadonlyMap<string, unknown>, issues: PathIssue[]): void {
  routes.forEach((r, j) => {
    const pool = r?.fields.pool;
    if (pool !== undefined && !pools.has(pool)) issues.push({ path: [...base, j, 'pool'], message: noPoolMessage(pool, [...pools.keys()]) });
    (r?.fields.split ?? []).forEach((s, k) => {
      if (!pools.has(s.pool)) issues.push({ path: [...base, j, 'split', k, 'pool'], message: noPoolMessage(s.pool, [...pools.keys()]) });
    });
    const total = (r?.fields.split ?? []).reduce((n, s) => n + s.weight, 0);
    if (r?.fields.split !== undefined && total === 0) issues.push({ path: [...base, j, 'split'], message: 'every weight of the split is 0: give at least one pool a weight above 0' });
  });
}

interface Matcher {
  hosts: string[];
  prefix: string;
}

/** Does pattern p match every name that q matches? */
function hostCovers(p: string, q: string): boolean {
  if (p === q) return true;
  return p.startsWith('*.') && q.endsWith(p.slice(1));
}

/** Does route a match every request that route b matches? */
function routeCovers(a: Matcher, b: Matcher): boolean {
  if (!b.prefix.startsWith(a.prefix)) return false;
  if (a.hosts.length === 0) return true;
  if (b.hosts.length === 0) return false;
  return b.hosts.every((q) => a.hosts.some((p) => hostCovers(p, q)));
}

/**
 * What a route matches by host and path, or undefined when the schema rejects its host or
 * path, or when it also tests something else (methods, headers, ...): such a route may
 * not match a request of its hosts and paths, so it covers nothing.
 */
function matcher(r: RoutePart): Matcher | undefined {
  const { host, path } = r.fields;
  if ((r.given('host') && host === undefined) || (r.given('path') && path === undefined)) return undefined;
  return { hosts: host ?? [], prefix: path ?? '' };
}

/** Whether a route tests more than host and path (then it cannot cover another). */
function conditional(r: RoutePart): boolean {
  return (['sni', 'path_regex', 'methods', 'client'] as const).some((k) => r.given(k)) || (r.fields.headers?.length ?? 0) > 0 || (r.fields.query?.length ?? 0) > 0;
}

/**
 * A route that an earlier one (in the order they are tried: priority, then file order)
 * always takes first can never match: say which, and how to fix it.
 */
function checkShadowedRoutes(routes: Array<RoutePart | undefined>, base: KeyPath, issues: PathIssue[]): void {
  const earlier: Array<{ index: number; m: Matcher; cover: boolean; priority: number }> = [];
  const order = routes.map((r, j) => ({ r, j, priority: r?.fields.priority ?? 0 })).sort((a, b) => b.priority - a.priority || a.j - b.j);
  for (const { r, j, priority } of order) {
    const m = r && matcher(r);
    if (!m) continue;
    const cover = earlier.find((e) => e.cover && routeCovers(e.m, m));
    if (cover) {
      const why = cover.priority !== priority ? `has priority ${cover.priority}, above this route's ${priority}, and matches every request this one would (give this route a higher priority, or the other a lower one)` : 'comes first and matches every request it would (first match wins; move the more specific route up, or give it a higher `priority`)';
      issues.push({ path: [...base, j], message: `this route can never match: ${formatPath([...base, cover.index])} ${why}` });
    }
    earlier.push({ index: j, m, cover: !conditional(r!), priority });
  }
}

/**
 * url_size must stay below header_size, in the global limits and in each listener's
 * (whose own sizes override the global ones). The defaults are consistent, so only sizes
 * set in the file can contradict each other.
 */
function checkLimits(parts: FileParts, issues: PathIssue[]): void {
  const reported = new Set<string>();
  const check = (url: number, head: number, path: KeyPath) => {
    const key = formatPath(path);
    if (url < head || reported.has(key)) return;
    reported.add(key);
    issues.push({ path, message: `url_size (${url} bytes) must be smaller than header_size (${head} bytes): the request line is part of the head` });
  };
  const global = parseFields(limitFields, parts.raw.limits)?.fields;
  const globalUrl = global?.url_size;
  const globalHead = global?.header_size;
  if (globalUrl !== undefined || globalHead !== undefined) {
    check(globalUrl ?? DEFAULT_LIMITS.urlBytes, globalHead ?? DEFAULT_LIMITS.headerBytes, ['limits', globalUrl !== undefined ? 'url_size' : 'header_size']);
  }
  parts.listeners.forEach((l, i) => {
    const own = parseFields(limitFields, l?.raw.limits)?.fields;
    if (own?.url_size === undefined && own?.header_size === undefined) return;
    const path: KeyPath = ['listeners', i, 'limits', own.url_size !== undefined ? 'url_size' : 'header_size'];
    check(own.url_size ?? globalUrl ?? DEFAULT_LIMITS.urlBytes, own.header_size ?? globalHead ?? DEFAULT_LIMITS.headerBytes, path);
  });
}

/** What a listener of each non-HTTP mode does instead of reading HTTP. */
const RELAYS: Record<'tcp' | 'udp', string> = {
  tcp: 'relays bytes without reading HTTP',
  udp: 'relays datagrams without reading HTTP',
};

/** Access logs: none for udp; tcp connections have no request line, so only json there. */
function checkAccessLog(l: ListenerPart, base: KeyPath, mode: ListenerMode, is: string, issues: PathIssue[]): void {
  if (!l.given('access_log')) return;
  const raw = isObj(l.raw.access_log) ? l.raw.access_log : null;
  if (raw !== null && raw.format === 'custom' && raw.template === undefined) {
    issues.push({ path: [...base, 'access_log', 'format'], message: 'format `custom` writes the line `template` says: add `template`, e.g. \'$remote_addr "$request" $status $request_id\'' });
  } else if (raw !== null && raw.template !== undefined && raw.format !== 'custom') {
    issues.push({ path: [...base, 'access_log', 'template'], at: 'key', message: 'a `template` is the line of format `custom`: set `format: custom`, or remove `template`' });
  } else if (raw !== null && typeof raw.template === 'string') {
    try {
      parseLogTemplate(raw.template);
    } catch (e) {
      issues.push({ path: [...base, 'access_log', 'template'], message: (e as Error).message });
    }
  }
  if (mode === 'udp') {
    issues.push({ path: [...base, 'access_log'], at: 'key', message: `access logs record HTTP requests or TCP connections, and ${is}: remove \`access_log\`` });
    return;
  }
  if (mode !== 'tcp') return;
  const formatGiven = isObj(l.raw.access_log) && l.raw.access_log.format !== undefined;
  const format = l.fields.access_log?.format;
  if (formatGiven && format !== undefined && format !== 'json') {
    issues.push({ path: [...base, 'access_log', 'format'], message: `the ${format} log format records HTTP requests, and ${is}: use \`format: json\`` });
  } else if (!formatGiven) {
    issues.push({ path: [...base, 'access_log'], message: `${is}, whose connections have no HTTP request to log in the combined format: give \`{path: ..., format: json}\`` });
  }
}

/**
 * The keys of one listener against its mode: keys that only another mode reads, and the
 * routes the mode can follow (tcp: by TLS server name only; udp: one route, no choice).
 */
function checkMode(l: ListenerPart, i: number, mode: ListenerMode, issues: PathIssue[]): void {
  const base: KeyPath = ['listeners', i];
  const is = `this listener is ${modeText(l, mode)}`;
  const key = (name: string, message: string) => issues.push({ path: [...base, name], at: 'key', message });

  for (const own of ['tcp', 'udp', 'redirect'] as const) {
    if (l.given(own) && mode !== own) key(own, `\`${own}\` settings apply only to mode: ${own}, and ${is}: remove \`${own}\` or set \`mode: ${own}\``);
  }

  if (mode === 'tcp' || mode === 'udp') {
    const relays = `${is}, which ${RELAYS[mode]}`;
    if (l.given('forwarded')) {
      const instead = mode === 'tcp' ? ' (to tell the servers the client\'s address, set `send_proxy` on the pool)' : '';
      key('forwarded', `\`forwarded\` adds HTTP headers, and ${relays}: remove \`forwarded\`${instead}`);
    }
    if (l.given('no_route')) {
      const instead = mode === 'tcp' ? 'a connection that matches no route is closed; remove `no_route`, or end the routes with one without `host` to catch every other connection' : 'its one route takes every datagram; remove `no_route`';
      key('no_route', `\`no_route\` is an HTTP answer, and ${is}: ${instead}`);
    }
    if (l.given('request_id')) key('request_id', `request IDs are HTTP headers, and ${relays}: remove \`request_id\``);
    if (l.given('limits')) key('limits', `\`limits\` bound HTTP request heads, and ${relays}: remove \`limits\``);
    if (l.given('access')) key('access', `\`access\` answers refused clients with 403, and ${relays}: remove \`access\``);
    routesOf(l).forEach((r, j) => {
      for (const k of HTTP_ONLY_KEYS) {
        if (r?.given(k)) issues.push({ path: [...base, 'routes', j, k], at: 'key', message: `\`${k}\` reads or answers HTTP, and ${relays}: remove \`${k}\`` });
      }
    });
    checkModeTimeouts(l, base, mode, is, issues);
  }
  checkAccessLog(l, base, mode, is, issues);
  checkCompression(l, base, mode, is, issues);
  if (mode === 'udp') {
    if (l.given('proxy_protocol')) {
      key('proxy_protocol', `a PROXY protocol header is accepted on TCP connections only (mode http, redirect or tcp), and ${is}: remove \`proxy_protocol\``);
    }
    if (l.given('max_connections')) {
      key('max_connections', `max_connections counts TCP connections, and ${is}: limit the sessions with \`udp.max_sessions\` instead`);
    }
  }
  for (const k of ['max_connections_per_client', 'new_connections_per_client'] as const) {
    if (!l.given(k)) continue;
    if (mode === 'udp') key(k, `${k} counts TCP connections, and ${is}: limit the sessions with \`udp.max_sessions\` instead`);
    else if (l.given('proxy_protocol')) {
      key(k, `${k} counts connections by their source address at accept, and with \`proxy_protocol\` that is the proxy in front, not the client: set the limit on that proxy, or remove \`${k}\``);
    }
  }

  const routes = routesOf(l);
  if ((mode === 'http' || mode === 'redirect') && !l.given('tls')) {
    routes.forEach((r, j) => {
      if (r?.given('sni')) issues.push({ path: [...base, 'routes', j, 'sni'], at: 'key', message: '`sni` is the TLS server name a client sends, and this listener has no `tls`: add `tls`, or route by `host`' });
    });
  }
  if (mode === 'tcp') checkTcpRoutes(l, routes, base, issues);
  if (mode === 'udp') {
    routes.forEach((r, j) => {
      if (j > 0) {
        issues.push({
          path: [...base, 'routes', j],
          message: 'a udp listener takes exactly one route, since a datagram carries no host name or path to choose a route by: remove this route (send what it names to another listener)',
        });
        return;
      }
      for (const k of ['host', 'path'] as const) {
        if (r?.given(k)) {
          issues.push({ path: [...base, 'routes', j, k], at: 'key', message: `a udp listener's route takes no \`${k}\`: a datagram carries no host name or path to route by; remove \`${k}\`` });
        }
      }
    });
  }
}

/**
 * Compression applies to responses proxied from servers: not on a listener that relays
 * bytes (tcp, udp; their routes are refused with the other HTTP keys) or answers every
 * request itself (redirect), nor on a route that answers itself (`respond`, `redirect`).
 */
function checkCompression(l: ListenerPart, base: KeyPath, mode: ListenerMode, is: string, issues: PathIssue[]): void {
  if (mode === 'redirect') {
    const why = `compression applies to responses from servers, and ${is}, which answers every request itself with a redirect: remove \`compression\``;
    if (l.given('compression')) issues.push({ path: [...base, 'compression'], at: 'key', message: why });
    routesOf(l).forEach((r, j) => {
      if (r?.given('compression')) issues.push({ path: [...base, 'routes', j, 'compression'], at: 'key', message: why });
    });
    return;
  }
  if (mode !== 'http') {
    if (l.given('compression')) issues.push({ path: [...base, 'compression'], at: 'key', message: `compression applies to HTTP responses, and ${is}, which ${RELAYS[mode]}: remove \`compression\`` });
    return;
  }
  routesOf(l).forEach((r, j) => {
    if (!r?.given('compression')) return;
    const own = (['respond', 'redirect'] as const).find((k) => r.given(k));
    if (own !== undefined) {
      issues.push({ path: [...base, 'routes', j, 'compression'], at: 'key', message: `this route answers with \`${own}\` itself, and compression applies to responses from servers: remove \`compression\`` });
    }
  });
}

/** A tcp listener uses only timeouts.connect; a udp listener no timeout at all. */
function checkModeTimeouts(l: ListenerPart, base: KeyPath, mode: 'tcp' | 'udp', is: string, issues: PathIssue[]): void {
  if (!isObj(l.raw.timeouts)) return;
  if (mode === 'udp') {
    issues.push({
      path: [...base, 'timeouts'],
      at: 'key',
      message: `\`timeouts\` apply to TCP connections and HTTP, and ${is}: remove \`timeouts\` (a session ends after \`udp.session_idle\` without a datagram)`,
    });
    return;
  }
  // The keys the file writes: unknown ones are the schema's to report.
  for (const name of Object.keys(l.raw.timeouts)) {
    if (name === 'connect' || !['header', 'keepalive', 'server', 'client'].includes(name)) continue;
    issues.push({
      path: [...base, 'timeouts', name],
      at: 'key',
      message: `timeouts.${name} applies to HTTP, and ${is}, which uses only timeouts.connect: remove \`${name}\` (an idle connection is closed after \`tcp.idle_timeout\`)`,
    });
  }
}

/**
 * A tcp listener routes by the TLS server name (SNI) of the ClientHello: no path, no IP
 * address (RFC 6066 forbids one as a server name), and a hello timeout only if some
 * route has a host to wait for.
 */
function checkTcpRoutes(l: ListenerPart, routes: Array<RoutePart | undefined>, base: KeyPath, issues: PathIssue[]): void {
  let named = false;
  routes.forEach((r, j) => {
    if (!r) return;
    const path: KeyPath = [...base, 'routes', j];
    if (r.given('path')) {
      issues.push({ path: [...path, 'path'], at: 'key', message: 'a tcp listener routes by TLS server name (SNI) only, and never sees an HTTP path: remove `path`' });
    }
    if (!r.given('host')) return;
    named = true;
    const one = typeof r.raw.host === 'string';
    const written = one ? [r.raw.host] : list(r.raw.host);
    (r.fields.host ?? []).forEach((host, k) => {
      if (isIP(host.replace(/^\[|\]$/g, '')) === 0) return;
      issues.push({
        path: one ? [...path, 'host'] : [...path, 'host', k],
        message: `${String(written[k])} can never match: a TLS client never sends an IP address as the server name (RFC 6066), and one connecting by address sends none; a route without \`host\` catches those connections`,
      });
    });
  });
  const helloTimeout = isObj(l.raw.tcp) && l.raw.tcp.hello_timeout !== undefined;
  if (!named && !l.given('proxy_protocol') && helloTimeout) {
    issues.push({
      path: [...base, 'tcp', 'hello_timeout'],
      at: 'key',
      message: 'hello_timeout bounds the wait for a PROXY header or a TLS ClientHello, and this listener expects neither (no `proxy_protocol`, no route with a `host`): remove `hello_timeout`',
    });
  }
}

/**
 * How a hash key reads in messages: "the header X-User-Id" (as `written`, before header
 * names are lower-cased), "the request path"; undefined for the client's IP.
 */
function hashText(hash: HashKey, written: unknown): string | undefined {
  if (hash.source === 'ip') return undefined;
  if (hash.source === 'path') return 'the request path';
  const name = isObj(written) ? Object.values(written)[0] : undefined;
  return `the ${hash.source === 'query' ? 'query parameter' : hash.source} ${typeof name === 'string' ? name : hash.name}`;
}

/**
 * The pools a tcp or udp listener routes to: their balance must not need HTTP input (a
 * cookie for sticky, or a maglev hash of anything but the client's IP), which such a
 * listener cannot provide (issue 3 item 8). This duplicates the `input` column of
 * ALGORITHM_TRAITS in src/balance/index.ts, so that configuration does not depend on the
 * balancers: sticky reads a cookie, maglev a hash key, the others nothing. A udp
 * listener's pool may not send PROXY headers, which are written at the start of a TCP
 * connection. Each problem of a pool is reported once, at the pool's key, naming the
 * first listener route that uses it.
 */
function checkLayer4Pools(l: ListenerPart, i: number, mode: ListenerMode, pools: ReadonlyMap<string, PoolPart | undefined>, reported: Set<string>, issues: PathIssue[]): void {
  if (mode !== 'tcp' && mode !== 'udp') return;
  const name = l.fields.name !== undefined ? `listener \`${l.fields.name}\`` : `listeners[${i}]`;
  // A udp listener's routes after the first are refused by checkMode.
  const routes = mode === 'udp' ? routesOf(l).slice(0, 1) : routesOf(l);
  routes.forEach((r, j) => {
    const poolName = r?.fields.pool;
    const pool = poolName === undefined ? undefined : pools.get(poolName);
    if (poolName === undefined || !pool) return;
    const user = `${name} (${modeText(l, mode)}, ${formatPath(['listeners', i, 'routes', j])})`;
    const once = (kind: string, issue: PathIssue) => {
      if (reported.has(`${poolName}\0${kind}`)) return;
      reported.add(`${poolName}\0${kind}`);
      issues.push(issue);
    };
    const cannot = `a hash key ${user} cannot provide, since it ${RELAYS[mode]}`;
    const { balance, hash } = pool.fields;
    if (balance === 'sticky') {
      once('input', {
        path: ['pools', poolName, 'balance'],
        message: `balance: sticky reads a cookie, ${cannot}: route that listener to a pool balanced another way (maglev hashes the client's IP)`,
      });
    } else if (balance === 'maglev' && hash !== undefined) {
      const text = hashText(hash, pool.raw.hash);
      if (text !== undefined) {
        once('input', {
          path: ['pools', poolName, 'hash'],
          message: `this pool's maglev hashes ${text}, ${cannot}: hash by \`ip\` (the default), or route that listener to another pool`,
        });
      }
    }
    if (pool.given('protocol') && pool.fields.protocol !== 'http1') {
      once('protocol', {
        path: ['pools', poolName, 'protocol'],
        message: `pool \`${poolName}\` is used by ${user}, which ${RELAYS[mode]}; protocol ${pool.fields.protocol} is for pools of mode http listeners: remove \`protocol\`, or give that listener its own pool`,
      });
    }
    if (mode === 'udp' && pool.given('send_proxy')) {
      once('send_proxy', {
        path: ['pools', poolName, 'send_proxy'],
        at: 'key',
        message: `pool \`${poolName}\` is used by ${user}, and a PROXY header is sent only at the start of a TCP connection: remove \`send_proxy\`, or give that listener its own pool`,
      });
    }
  });
}
