/**
 * Cross-checks that no single field can make: unique names and binds, routes that name
 * existing pools, routes that can never match, and limits that contradict each other.
 * They run on the raw YAML data, whatever the schema thought of it, so that a file with
 * a bad weight still hears about its misspelt pool name in the same run. Values the
 * schema rejects are skipped here rather than reported twice.
 */
import { parseBind, parseHostPattern, type HostPort } from './address.js';
import { DEFAULT_LIMITS, defaultServerName } from './defaults.js';
import { formatPath, type KeyPath } from './locate.js';
import { nameProblem } from './schema.js';
import { closest } from './suggest.js';
import { parseSize } from './units.js';

/** An issue before it is given a file position: where (as a key path) and what. */
export interface PathIssue {
  path: KeyPath;
  message: string;
  /** Point at the key itself rather than its value (e.g. a bad pool name). */
  at?: 'key' | 'value';
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function list(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

/** Returns fn's result, or undefined when it throws (the schema reports that problem). */
function attempt<T>(fn: () => T): T | undefined {
  try {
    return fn();
  } catch {
    return undefined;
  }
}

/**
 * Runs every cross-check on the raw data of a configuration file and returns the
 * problems found, in document order within each check. Never throws.
 */
export function crossCheck(raw: unknown): PathIssue[] {
  if (!isObj(raw)) return [];
  const issues: PathIssue[] = [];
  const pools = isObj(raw.pools) ? raw.pools : undefined;
  if (pools) checkPools(pools, issues);
  const listeners = list(raw.listeners);
  checkListenerNames(listeners, issues);
  checkBinds(listeners, issues);
  listeners.forEach((l, i) => {
    if (!isObj(l)) return;
    const routes = list(l.routes);
    checkRoutePools(routes, ['listeners', i, 'routes'], pools, issues);
    checkShadowedRoutes(routes, ['listeners', i, 'routes'], issues);
  });
  checkLimits(raw, listeners, issues);
  return issues;
}

function checkPools(pools: Obj, issues: PathIssue[]): void {
  for (const [poolName, pool] of Object.entries(pools)) {
    const problem = nameProblem(poolName);
    if (problem) issues.push({ path: ['pools', poolName], message: problem.replace('invalid name', 'invalid pool name'), at: 'key' });
    if (!isObj(pool)) continue;
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

function checkListenerNames(listeners: unknown[], issues: PathIssue[]): void {
  const seen = new Map<string, number>();
  listeners.forEach((l, i) => {
    if (!isObj(l) || typeof l.name !== 'string') return;
    const first = seen.get(l.name);
    if (first === undefined) seen.set(l.name, i);
    else issues.push({ path: ['listeners', i, 'name'], message: `duplicate listener name \`${l.name}\`: listeners[${first}] already uses it` });
  });
}

const WILDCARDS = new Set(['0.0.0.0', '::']);

/** Would binding both fail with EADDRINUSE? Port 0 never clashes: each gets its own port. */
function bindsClash(a: HostPort, b: HostPort): boolean {
  if (a.port !== b.port || a.port === 0) return false;
  if (a.host === b.host || a.host === '::' || b.host === '::') return true;
  // 0.0.0.0 covers every IPv4 address (and host names, which usually resolve to one).
  return (a.host === '0.0.0.0' && !b.host.includes(':')) || (b.host === '0.0.0.0' && !a.host.includes(':'));
}

function checkBinds(listeners: unknown[], issues: PathIssue[]): void {
  const seen: Array<{ index: number; bind: HostPort; text: string }> = [];
  listeners.forEach((l, i) => {
    if (!isObj(l) || typeof l.bind !== 'string') return;
    const text = l.bind;
    const bind = attempt(() => parseBind(text));
    if (!bind) return;
    const clash = seen.find((s) => bindsClash(s.bind, bind));
    if (clash) {
      const same = clash.bind.host === bind.host ? 'is already used by' : 'overlaps';
      issues.push({ path: ['listeners', i, 'bind'], message: `bind ${text} ${same} listeners[${clash.index}] (${clash.text}): each listener needs its own address and port` });
    }
    seen.push({ index: i, bind, text });
  });
}

function checkRoutePools(routes: unknown[], base: KeyPath, pools: Obj | undefined, issues: PathIssue[]): void {
  if (!pools) return;
  const names = Object.keys(pools);
  routes.forEach((r, j) => {
    if (!isObj(r) || typeof r.pool !== 'string' || Object.hasOwn(pools, r.pool)) return;
    const hint = closest(r.pool, names);
    const tail = hint ? `; did you mean \`${hint}\`?` : names.length ? ` (pools: ${names.map((n) => `\`${n}\``).join(', ')})` : ' (no pools are defined)';
    issues.push({ path: [...base, j, 'pool'], message: `no pool named \`${r.pool}\`${tail}` });
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
