/**
 * Cross-checks that no single field can make: unique names and binds, routes that name
 * existing pools, routes that can never match, limits that contradict each other, pool
 * keys that do not go with the pool's `balance`, servers `balance: first` cannot fill,
 * pools of backups only, queues that can never fill, health-check timings, and the keys,
 * routes and pools each listener mode can use.
 * They run on the raw YAML data, whatever the schema thought of it, so that a file with
 * a bad weight still hears about its misspelt pool name in the same run. Values the
 * schema rejects are skipped here rather than reported twice.
 */
import { isIP } from 'node:net';
import { bindsClash, parseBind, parseHostPattern, type HostPort } from './common/address.js';
import { DEFAULT_BALANCE, DEFAULT_HEALTH, DEFAULT_LIMITS, DEFAULT_MODE, defaultServerName } from './defaults.js';
import { formatPath, type KeyPath } from './locate.js';
import { nameProblem } from './common/fields.js';
import { LISTENER_MODES } from './listeners/schema.js';
import { ALGORITHMS } from '../balance/algorithms.js';
import type { ListenerMode } from './types.js';
import { checkDns } from './dns/checks.js';
import { checkVrrp, type InterfaceSubnets } from './vrrp/checks.js';
import { checkServices } from './services/checks.js';
import { checkTls } from './tls/checks.js';
import { noPoolMessage } from './common/suggest.js';
import { formatDuration, parseDuration, parseSize } from './common/units.js';

/** An issue before it is given a file position: where (as a key path) and what. */
export interface PathIssue {
  path: KeyPath;
  message: string;
  /** Point at the key itself rather than its value (e.g. a bad pool name). */
  at?: 'key' | 'value';
}

/** A parsed YAML mapping, as the cross-checks walk it. */
export type Obj = Record<string, unknown>;

/** A mapping (not null, not a list). */
export function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The value when it is a list, else an empty one (the schema reports the wrong type). */
export function list(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

/** Returns fn's result, or undefined when it throws (the schema reports that problem). */
export function attempt<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch {
    return undefined;
  }
}

/** What the checks may look at beyond the file. */
export interface CheckOptions {
  /**
   * This machine's interfaces, for checks that only make sense where the file runs (a
   * VRRP virtual address inside its interface's subnet); without it those are skipped.
   */
  interfaces?: InterfaceSubnets;
}

/**
 * Runs every cross-check on the raw data of a configuration file and returns the
 * problems found, in document order within each check. Never throws.
 */
export function crossCheck(raw: unknown, opts: CheckOptions = {}): PathIssue[] {
  if (!isObj(raw)) return [];
  const issues: PathIssue[] = [];
  // A DNS-only file may leave out `pools` (a value that is not a mapping is the schema's to report).
  const pools = isObj(raw.pools) ? raw.pools : raw.pools === undefined && (raw.dns !== undefined || raw.vrrp !== undefined) ? {} : undefined;
  if (pools) checkPools(pools, issues);
  const listeners = list(raw.listeners);
  checkRequired(raw, issues);
  checkListenerNames(listeners, issues);
  checkBinds(listeners, issues);
  const poolUses = new Set<string>();
  listeners.forEach((l, i) => {
    if (!isObj(l)) return;
    const routes = list(l.routes);
    checkRoutePools(routes, ['listeners', i, 'routes'], pools, issues);
    const mode = modeOf(l);
    // A udp listener's extra routes are reported by checkMode, not as shadowed.
    if (mode !== 'udp') checkShadowedRoutes(routes, ['listeners', i, 'routes'], issues);
    if (mode !== undefined) {
      checkMode(l, i, mode, issues);
      if (pools) checkLayer4Pools(l, i, mode, pools, poolUses, issues);
    }
  });
  checkLimits(raw, listeners, issues);
  if (isObj(raw.dns)) checkDns(raw.dns, pools, listeners, issues);
  if (isObj(raw.vrrp)) checkVrrp(raw.vrrp, raw, issues, opts.interfaces);
  if (raw.services !== undefined) checkServices(raw.services, pools, listeners, issues);
  checkTls(listeners, pools, issues);
  return issues;
}

/**
 * A file needs `pools` and at least one listener, unless it has a `dns` section (a
 * DNS-only balancer) or a `vrrp` section (a virtual IP for another balancer). A value of
 * the wrong type is the schema's to report.
 */
function checkRequired(raw: Obj, issues: PathIssue[]): void {
  if (raw.dns !== undefined || raw.vrrp !== undefined) return;
  // A file with virtual services may leave out listeners (but needs the pools they use).
  if (raw.services !== undefined) {
    if (raw.pools === undefined) issues.push({ path: ['pools'], message: 'missing required key `pools` (the services name pools)' });
    return;
  }
  if (raw.listeners === undefined) {
    issues.push({ path: ['listeners'], message: 'missing required key `listeners` (a file without listeners needs a `dns` section)' });
  } else if (Array.isArray(raw.listeners) && raw.listeners.length === 0) {
    issues.push({ path: ['listeners'], message: 'at least one listener is needed, e.g. `- {name: www, bind: ":8080", routes: [{pool: web}]}` (or a `dns` section)' });
  }
  if (raw.pools === undefined) issues.push({ path: ['pools'], message: 'missing required key `pools`' });
}

function checkPools(pools: Obj, issues: PathIssue[]): void {
  for (const [poolName, pool] of Object.entries(pools)) {
    const problem = nameProblem(poolName);
    if (problem) issues.push({ path: ['pools', poolName], message: problem.replace('invalid name', 'invalid pool name'), at: 'key' });
    if (!isObj(pool)) continue;
    checkPoolKeys(poolName, pool, issues);
    const seen = new Map<string, { index: number; explicit: boolean }>();
    list(pool.servers).forEach((s, i) => {
      if (!isObj(s)) return;
      const explicit = typeof s.name === 'string';
      const serverName = explicit ? (s.name as string) : defaultServerName(i);
      const first = seen.get(serverName);
      if (first === undefined) {
        seen.set(serverName, { index: i, explicit });
        return;
      }
      const path: KeyPath = explicit ? ['pools', poolName, 'servers', i, 'name'] : ['pools', poolName, 'servers', i];
      const mine = explicit ? '' : ' (its default name)';
      const theirs = first.explicit ? '' : ' as its default name';
      issues.push({
        path,
        message: `duplicate server name \`${serverName}\`${mine} in pool \`${poolName}\`: servers[${first.index}] already uses it${theirs}; give each server a distinct \`name\``,
      });
    });
  }
}

/** The name a server goes by: its own `name`, or the default for its position. */
function serverName(s: Obj, index: number): string {
  return typeof s.name === 'string' ? s.name : defaultServerName(index);
}

/**
 * Does the server set a max_conn? A value the schema rejects counts as set, so that only
 * the schema reports it.
 */
function hasMaxConn(s: Obj): boolean {
  return s.max_conn !== undefined && s.max_conn !== 0;
}

/** The duration at obj[key] in ms: undefined when absent, null when the schema rejects it. */
function durationAt(obj: Obj, key: string): number | undefined | null {
  const v = obj[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' && typeof v !== 'number') return null;
  const ms = attempt(() => parseDuration(v));
  return ms === undefined || ms === 0 ? null : ms;
}

/** The checks of one pool's keys against each other: balance, servers, queue, health. */
function checkPoolKeys(poolName: string, pool: Obj, issues: PathIssue[]): void {
  const base: KeyPath = ['pools', poolName];
  const balance = pool.balance ?? DEFAULT_BALANCE;
  const known = typeof balance === 'string' && (ALGORITHMS as readonly string[]).includes(balance);
  if (known) {
    const uses = `this pool uses ${balance}${pool.balance === undefined ? ' (the default)' : ''}`;
    if (pool.hash !== undefined && balance !== 'maglev') {
      issues.push({ path: [...base, 'hash'], at: 'key', message: `hash is used only by balance: maglev, and ${uses}: remove \`hash\` or set \`balance: maglev\`` });
    }
    if (pool.sticky !== undefined && balance !== 'sticky') {
      issues.push({ path: [...base, 'sticky'], at: 'key', message: `sticky is used only by balance: sticky, and ${uses}: remove \`sticky\` or set \`balance: sticky\`` });
    }
  }

  const all = list(pool.servers);
  const servers = all.flatMap((s, i) => (isObj(s) ? [{ s, i }] : []));
  if (balance === 'first') checkFirstMaxConn(base, servers, issues);

  if (servers.length > 0 && servers.length === all.length && servers.every(({ s }) => s.backup === true)) {
    const which = servers.length === 1 ? `the only server of pool \`${poolName}\` is a backup` : `every server of pool \`${poolName}\` is a backup`;
    issues.push({
      path: [...base, 'servers'],
      message: `${which}, and backups take requests only while no primary server is usable, so none ever would: make at least one server a primary (leave out \`backup\` or set \`backup: false\`)`,
    });
  }

  const size = isObj(pool.queue) ? pool.queue.size : undefined;
  if (typeof size === 'number' && Number.isInteger(size) && size > 0 && size <= 100_000 && servers.length > 0 && !servers.some(({ s }) => hasMaxConn(s))) {
    issues.push({
      path: [...base, 'queue', 'size'],
      message: `no server of pool \`${poolName}\` sets max_conn, so this queue can never fill: requests wait in it only while every usable server is at its max_conn; set max_conn on the servers, or leave out the queue`,
    });
  }

  for (const { s, i } of servers) {
    if (s.check_address !== undefined && s.check_port !== undefined) {
      issues.push({
        path: [...base, 'servers', i, 'check_port'],
        at: 'key',
        message: 'give check_address or check_port, not both: check_port sends the health checks to another port of the server\'s own host, check_address to another host and port',
      });
    }
  }

  if (isObj(pool.health)) checkHealth([...base, 'health'], pool.health, issues);
}

/**
 * balance: first sends each request to the first server (in file order) below its
 * max_conn, so every server but the last needs one, or the servers after it never get a
 * request. Primaries and backups are separate sets (backups are used only while no
 * primary is), and a drained server (weight 0) is never picked, so neither counts.
 */
function checkFirstMaxConn(base: KeyPath, servers: Array<{ s: Obj; i: number }>, issues: PathIssue[]): void {
  for (const backup of [false, true]) {
    const group = servers.filter(({ s }) => (s.backup === true) === backup && s.weight !== 0);
    for (const { s, i } of group.slice(0, -1)) {
      if (hasMaxConn(s)) continue;
      const path: KeyPath = s.max_conn === 0 ? [...base, 'servers', i, 'max_conn'] : [...base, 'servers', i];
      const last = backup ? 'the last backup server' : 'the last server';
      issues.push({
        path,
        message: `balance: first fills each server up to its max_conn before using the next, so server \`${serverName(s, i)}\` needs a max_conn above 0: without one it takes every request and the servers after it are never used (only ${last} may go without)`,
      });
    }
  }
}

function checkHealth(base: KeyPath, health: Obj, issues: PathIssue[]): void {
  const shown = (ms: number, given: boolean) => `${formatDuration(ms)}${given ? '' : ', the default'}`;
  const interval = durationAt(health, 'interval');
  if (interval !== null) {
    const intervalMs = interval ?? DEFAULT_HEALTH.intervalMs;
    const timeout = durationAt(health, 'timeout');
    if (typeof timeout === 'number' && timeout > intervalMs) {
      issues.push({
        path: [...base, 'timeout'],
        message: `timeout (${formatDuration(timeout)}) must not be longer than interval (${shown(intervalMs, interval !== undefined)}): each check must end, or time out, before the next one is due`,
      });
    }
    const fast = durationAt(health, 'fast_interval');
    if (typeof fast === 'number' && fast > intervalMs) {
      issues.push({
        path: [...base, 'fast_interval'],
        message: `fast_interval (${formatDuration(fast)}) must not be longer than interval (${shown(intervalMs, interval !== undefined)}): it is the quicker pace used while a server's state is changing`,
      });
    }
  }
  if (health.type === 'tcp' && health.http !== undefined) {
    issues.push({ path: [...base, 'http'], at: 'key', message: '`http` settings apply only to type: http checks, and this check is type: tcp: remove `http` or set `type: http`' });
  }
}

function checkListenerNames(listeners: unknown[], issues: PathIssue[]): void {
  const seen = new Map<string, number>();
  listeners.forEach((l, i) => {
    if (!isObj(l) || typeof l.name !== 'string') return;
    const first = seen.get(l.name);
    if (first === undefined) seen.set(l.name, i);
    else issues.push({ path: ['listeners', i, 'name'], message: `duplicate listener name \`${l.name}\`: listeners[${first}] already uses it` });
  });
}

/**
 * Two listeners may not bind the same address and port with the same transport: a udp
 * listener binds UDP, every other mode TCP, so a udp listener may share its address and
 * port with a tcp, http or redirect listener (as DNS serves UDP and TCP on port 53).
 */
function checkBinds(listeners: unknown[], issues: PathIssue[]): void {
  const seen: Array<{ index: number; bind: HostPort; text: string; udp: boolean }> = [];
  listeners.forEach((l, i) => {
    if (!isObj(l) || typeof l.bind !== 'string') return;
    const text = l.bind;
    const bind = attempt(() => parseBind(text));
    if (!bind) return;
    const udp = l.mode === 'udp';
    const clash = seen.find((s) => s.udp === udp && bindsClash(s.bind, bind));
    if (clash) {
      const same = clash.bind.host === bind.host ? 'is already used by' : 'overlaps';
      const own = udp ? 'each udp listener needs its own address and port (it may share one with a listener of another mode)' : 'each listener needs its own address and port';
      issues.push({ path: ['listeners', i, 'bind'], message: `bind ${text} ${same} listeners[${clash.index}] (${clash.text}): ${own}` });
    }
    seen.push({ index: i, bind, text, udp });
  });
}

function checkRoutePools(routes: unknown[], base: KeyPath, pools: Obj | undefined, issues: PathIssue[]): void {
  if (!pools) return;
  const names = Object.keys(pools);
  routes.forEach((r, j) => {
    if (!isObj(r) || typeof r.pool !== 'string' || Object.hasOwn(pools, r.pool)) return;
    issues.push({ path: [...base, j, 'pool'], message: noPoolMessage(r.pool, names) });
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

function checkShadowedRoutes(routes: unknown[], base: KeyPath, issues: PathIssue[]): void {
  const earlier: Array<{ index: number; m: Matcher }> = [];
  routes.forEach((r, j) => {
    if (!isObj(r)) return;
    const m = attempt((): Matcher => {
      const host = r.host === undefined ? [] : typeof r.host === 'string' ? [r.host] : (r.host as unknown[]);
      const hosts = host.map((h) => {
        if (typeof h !== 'string') throw new Error('not a host');
        return parseHostPattern(h);
      });
      if (r.path !== undefined && typeof r.path !== 'string') throw new Error('not a path');
      return { hosts, prefix: (r.path as string | undefined) ?? '' };
    });
    if (!m) return;
    const cover = earlier.find((e) => routeCovers(e.m, m));
    if (cover) {
      issues.push({
        path: [...base, j],
        message: `this route can never match: ${formatPath([...base, cover.index])} comes first and matches every request it would (first match wins; move the more specific route up)`,
      });
    }
    earlier.push({ index: j, m });
  });
}

function checkLimits(raw: Obj, listeners: unknown[], issues: PathIssue[]): void {
  const sizeAt = (limits: unknown, key: string): number | undefined => {
    if (!isObj(limits)) return undefined;
    const v = limits[key];
    return typeof v === 'string' || typeof v === 'number' ? attempt(() => parseSize(v)) : undefined;
  };
  const reported = new Set<string>();
  const check = (url: number, head: number, path: KeyPath) => {
    const key = formatPath(path);
    if (url < head || reported.has(key)) return;
    reported.add(key);
    issues.push({ path, message: `url_size (${url} bytes) must be smaller than header_size (${head} bytes): the request line is part of the head` });
  };
  const globalUrl = sizeAt(raw.limits, 'url_size');
  const globalHead = sizeAt(raw.limits, 'header_size');
  // The defaults are consistent, so only sizes set in the file can contradict each other.
  const defaultUrl = DEFAULT_LIMITS.urlBytes;
  const defaultHead = DEFAULT_LIMITS.headerBytes;
  const globalPath = (): KeyPath => ['limits', globalUrl !== undefined ? 'url_size' : 'header_size'];
  if (globalUrl !== undefined || globalHead !== undefined) check(globalUrl ?? defaultUrl, globalHead ?? defaultHead, globalPath());
  listeners.forEach((l, i) => {
    if (!isObj(l) || !isObj(l.limits)) return;
    const url = sizeAt(l.limits, 'url_size');
    const head = sizeAt(l.limits, 'header_size');
    if (url === undefined && head === undefined) return;
    const path: KeyPath = ['listeners', i, 'limits', url !== undefined ? 'url_size' : 'header_size'];
    check(url ?? globalUrl ?? defaultUrl, head ?? globalHead ?? defaultHead, path);
  });
}

/** A raw listener's mode: its `mode`, or the default; undefined when the schema rejects it. */
export function modeOf(l: Obj): ListenerMode | undefined {
  const mode = l.mode ?? DEFAULT_MODE;
  return LISTENER_MODES.find((m) => m === mode);
}

/** How messages name a listener's mode: "mode: tcp", or "mode: http (the default)". */
export function modeText(l: Obj, mode: ListenerMode): string {
  return `mode: ${mode}${l.mode === undefined ? ' (the default)' : ''}`;
}

/** What a listener of each non-HTTP mode does instead of reading HTTP. */
const RELAYS: Record<'tcp' | 'udp', string> = {
  tcp: 'relays bytes without reading HTTP',
  udp: 'relays datagrams without reading HTTP',
};

/** Access logs: none for udp; tcp connections have no request line, so only json there. */
function checkAccessLog(l: Obj, base: KeyPath, mode: ListenerMode, is: string, issues: PathIssue[]): void {
  if (l.access_log === undefined) return;
  if (mode === 'udp') {
    issues.push({ path: [...base, 'access_log'], at: 'key', message: `access logs record HTTP requests or TCP connections, and ${is}: remove \`access_log\`` });
    return;
  }
  if (mode !== 'tcp') return;
  const format = isObj(l.access_log) ? l.access_log.format : undefined;
  if (format === 'common' || format === 'combined') {
    issues.push({ path: [...base, 'access_log', 'format'], message: `the ${format} log format records HTTP requests, and ${is}: use \`format: json\`` });
  } else if (format === undefined) {
    issues.push({ path: [...base, 'access_log'], message: `${is}, whose connections have no HTTP request to log in the combined format: give \`{path: ..., format: json}\`` });
  }
}

/**
 * The keys of one listener against its mode: keys that only another mode reads, and the
 * routes the mode can follow (tcp: by TLS server name only; udp: one route, no choice).
 */
function checkMode(l: Obj, i: number, mode: ListenerMode, issues: PathIssue[]): void {
  const base: KeyPath = ['listeners', i];
  const is = `this listener is ${modeText(l, mode)}`;
  const key = (name: string, message: string) => issues.push({ path: [...base, name], at: 'key', message });

  for (const own of ['tcp', 'udp', 'redirect'] as const) {
    if (l[own] !== undefined && mode !== own) key(own, `\`${own}\` settings apply only to mode: ${own}, and ${is}: remove \`${own}\` or set \`mode: ${own}\``);
  }

  if (mode === 'tcp' || mode === 'udp') {
    const relays = `${is}, which ${RELAYS[mode]}`;
    if (l.forwarded !== undefined) {
      const instead = mode === 'tcp' ? ' (to tell the servers the client\'s address, set `send_proxy` on the pool)' : '';
      key('forwarded', `\`forwarded\` adds HTTP headers, and ${relays}: remove \`forwarded\`${instead}`);
    }
    if (l.no_route !== undefined) {
      const instead = mode === 'tcp' ? 'a connection that matches no route is closed; remove `no_route`, or end the routes with one without `host` to catch every other connection' : 'its one route takes every datagram; remove `no_route`';
      key('no_route', `\`no_route\` is an HTTP answer, and ${is}: ${instead}`);
    }
    if (l.limits !== undefined) key('limits', `\`limits\` bound HTTP request heads, and ${relays}: remove \`limits\``);
    checkModeTimeouts(l, base, mode, is, issues);
  }
  checkAccessLog(l, base, mode, is, issues);
  if (mode === 'udp') {
    if (l.proxy_protocol !== undefined) {
      key('proxy_protocol', `a PROXY protocol header is accepted on TCP connections only (mode http, redirect or tcp), and ${is}: remove \`proxy_protocol\``);
    }
    if (l.max_connections !== undefined) {
      key('max_connections', `max_connections counts TCP connections, and ${is}: limit the sessions with \`udp.max_sessions\` instead`);
    }
  }

  const routes = list(l.routes);
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
      if (!isObj(r)) return;
      for (const k of ['host', 'path']) {
        if (r[k] !== undefined) {
          issues.push({ path: [...base, 'routes', j, k], at: 'key', message: `a udp listener's route takes no \`${k}\`: a datagram carries no host name or path to route by; remove \`${k}\`` });
        }
      }
    });
  }
}

/** A tcp listener uses only timeouts.connect; a udp listener no timeout at all. */
function checkModeTimeouts(l: Obj, base: KeyPath, mode: 'tcp' | 'udp', is: string, issues: PathIssue[]): void {
  if (!isObj(l.timeouts)) return;
  if (mode === 'udp') {
    issues.push({
      path: [...base, 'timeouts'],
      at: 'key',
      message: `\`timeouts\` apply to TCP connections and HTTP, and ${is}: remove \`timeouts\` (a session ends after \`udp.session_idle\` without a datagram)`,
    });
    return;
  }
  for (const name of Object.keys(l.timeouts)) {
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
function checkTcpRoutes(l: Obj, routes: unknown[], base: KeyPath, issues: PathIssue[]): void {
  let named = false;
  routes.forEach((r, j) => {
    if (!isObj(r)) return;
    const path: KeyPath = [...base, 'routes', j];
    if (r.path !== undefined) {
      issues.push({ path: [...path, 'path'], at: 'key', message: 'a tcp listener routes by TLS server name (SNI) only, and never sees an HTTP path: remove `path`' });
    }
    if (r.host === undefined) return;
    named = true;
    const hosts = typeof r.host === 'string' ? [r.host] : list(r.host);
    hosts.forEach((h, k) => {
      if (typeof h !== 'string') return;
      const host = attempt(() => parseHostPattern(h));
      if (host === undefined || isIP(host.replace(/^\[|\]$/g, '')) === 0) return;
      issues.push({
        path: typeof r.host === 'string' ? [...path, 'host'] : [...path, 'host', k],
        message: `${h} can never match: a TLS client never sends an IP address as the server name (RFC 6066), and one connecting by address sends none; a route without \`host\` catches those connections`,
      });
    });
  });
  if (!named && l.proxy_protocol === undefined && isObj(l.tcp) && l.tcp.hello_timeout !== undefined) {
    issues.push({
      path: [...base, 'tcp', 'hello_timeout'],
      at: 'key',
      message: 'hello_timeout bounds the wait for a PROXY header or a TLS ClientHello, and this listener expects neither (no `proxy_protocol`, no route with a `host`): remove `hello_timeout`',
    });
  }
}

/** How a hash key reads in messages: "a header (X-User-Id)", "the path". */
function hashText(hash: unknown): string | undefined {
  if (hash === 'path') return 'the request path';
  if (!isObj(hash)) return undefined;
  const [kind, name] = Object.entries(hash)[0] ?? [];
  if (kind !== 'header' && kind !== 'cookie' && kind !== 'query') return undefined;
  const what = kind === 'query' ? 'query parameter' : kind;
  return typeof name === 'string' ? `the ${what} ${name}` : `a ${what}`;
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
function checkLayer4Pools(l: Obj, i: number, mode: ListenerMode, pools: Obj, reported: Set<string>, issues: PathIssue[]): void {
  if (mode !== 'tcp' && mode !== 'udp') return;
  const name = typeof l.name === 'string' ? `listener \`${l.name}\`` : `listeners[${i}]`;
  // A udp listener's routes after the first are refused by checkMode.
  const routes = mode === 'udp' ? list(l.routes).slice(0, 1) : list(l.routes);
  routes.forEach((r, j) => {
    if (!isObj(r) || typeof r.pool !== 'string' || !Object.hasOwn(pools, r.pool)) return;
    const poolName = r.pool;
    const pool = pools[poolName];
    if (!isObj(pool)) return;
    const user = `${name} (${modeText(l, mode)}, ${formatPath(['listeners', i, 'routes', j])})`;
    const once = (kind: string, issue: PathIssue) => {
      if (reported.has(`${poolName}\0${kind}`)) return;
      reported.add(`${poolName}\0${kind}`);
      issues.push(issue);
    };
    const cannot = `a hash key ${user} cannot provide, since it ${RELAYS[mode]}`;
    if (pool.balance === 'sticky') {
      once('input', {
        path: ['pools', poolName, 'balance'],
        message: `balance: sticky reads a cookie, ${cannot}: route that listener to a pool balanced another way (maglev hashes the client's IP)`,
      });
    } else if (pool.balance === 'maglev') {
      const text = hashText(pool.hash);
      if (text !== undefined) {
        once('input', {
          path: ['pools', poolName, 'hash'],
          message: `this pool's maglev hashes ${text}, ${cannot}: hash by \`ip\` (the default), or route that listener to another pool`,
        });
      }
    }
    if (mode === 'udp' && pool.send_proxy !== undefined) {
      once('send_proxy', {
        path: ['pools', poolName, 'send_proxy'],
        at: 'key',
        message: `pool \`${poolName}\` is used by ${user}, and a PROXY header is sent only at the start of a TCP connection: remove \`send_proxy\`, or give that listener its own pool`,
      });
    }
  });
}
