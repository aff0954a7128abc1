/**
 * Cross-checks of the TLS and HTTP/2 keys that no single field can make: which listener
 * modes take `tls`, `http2`, `https_redirect` and `hsts`, combinations that cannot work
 * (a redirect to HTTPS on an HTTPS listener loops; HSTS over plain HTTP is ignored by
 * browsers), the routes a redirecting listener may leave out, certificates listed for the
 * same name twice, and pools whose `tls` cannot work with their other keys or listeners.
 * Like validate.ts they run on the raw data and skip values the schema rejects.
 */
import { parseHostPattern } from '../common/address.js';
import { formatPath, type KeyPath } from '../locate.js';
import type { ListenerMode } from '../types.js';
import { attempt, isObj, list, modeOf, modeText, type Obj, type PathIssue } from '../validate.js';

/** Runs every TLS check of a file's raw data and appends what it finds to `issues`. */
export function checkTls(listeners: unknown[], pools: Obj | undefined, issues: PathIssue[]): void {
  const poolUsers = new Map<string, { index: number; mode: ListenerMode; route: number }>();
  listeners.forEach((l, i) => {
    if (!isObj(l)) return;
    const mode = modeOf(l);
    if (l.routes === undefined && (l.https_redirect === undefined || mode !== 'http')) {
      issues.push({ path: ['listeners', i, 'routes'], message: 'missing required key `routes`' });
    }
    if (mode === undefined) return;
    checkListener(l, i, mode, issues);
    if (mode === 'tcp' || mode === 'udp') {
      list(l.routes).forEach((r, j) => {
        if (isObj(r) && typeof r.pool === 'string' && !poolUsers.has(r.pool)) poolUsers.set(r.pool, { index: i, mode, route: j });
      });
    }
  });
  if (pools === undefined) return;
  for (const [name, pool] of Object.entries(pools)) {
    if (!isObj(pool) || pool.tls === undefined) continue;
    checkPoolTls(name, pool, poolUsers.get(name), issues);
  }
}

function checkListener(l: Obj, i: number, mode: ListenerMode, issues: PathIssue[]): void {
  const base: KeyPath = ['listeners', i];
  const is = `this listener is ${modeText(l, mode)}`;
  const key = (name: string, message: string) => issues.push({ path: [...base, name], at: 'key', message });
  const tls = l.tls !== undefined;

  if (tls && mode !== 'http' && mode !== 'redirect') {
    const instead = mode === 'tcp' ? ' (a tcp listener passes TLS through to the servers, routed by SNI)' : '';
    key('tls', `\`tls\` terminates HTTPS on mode http or redirect listeners, and ${is}: remove \`tls\`${instead}`);
  }
  if (l.http2 !== undefined) {
    if (mode !== 'http') {
      key('http2', `\`http2\` applies to mode http listeners, and ${is}: remove \`http2\``);
    } else if (!tls && !(isObj(l.http2) && l.http2.h2c === true)) {
      key('http2', 'this listener has no `tls`, so clients cannot ask for HTTP/2 by ALPN: add `tls`, or set `h2c: true` to accept HTTP/2 with prior knowledge over plain TCP');
    }
  }
  if (l.https_redirect !== undefined) {
    if (mode !== 'http') key('https_redirect', `\`https_redirect\` applies to mode http listeners, and ${is}: remove \`https_redirect\``);
    else if (tls) key('https_redirect', 'this listener serves HTTPS itself (`tls`), so redirecting its requests to HTTPS would send clients back to it forever: put `https_redirect` on the plain-HTTP listener');
    else if (l.no_route !== undefined) key('no_route', 'with `https_redirect`, requests that match no route are redirected to HTTPS, so `no_route` is never used: remove it');
  }
  if (l.hsts !== undefined) {
    if (mode === 'tcp' || mode === 'udp') key('hsts', `\`hsts\` is an HTTP header sent over HTTPS, and ${is}: remove \`hsts\``);
    else if (!tls) key('hsts', 'browsers ignore Strict-Transport-Security received over plain HTTP (RFC 6797 section 8.1): put `hsts` on the listener with `tls`');
  }
  if (tls && isObj(l.tls)) checkCertificateNames(list(l.tls.certificates), [...base, 'tls', 'certificates'], issues);
}

/** A name given explicitly to two certificates: the second is never chosen for it. */
function checkCertificateNames(certs: unknown[], base: KeyPath, issues: PathIssue[]): void {
  const seen = new Map<string, number>();
  certs.forEach((c, j) => {
    if (!isObj(c) || c.names === undefined) return;
    const names = typeof c.names === 'string' ? [c.names] : list(c.names);
    names.forEach((n, k) => {
      if (typeof n !== 'string') return;
      const name = attempt(() => parseHostPattern(n));
      if (name === undefined) return;
      const first = seen.get(name);
      if (first === undefined) {
        seen.set(name, j);
        return;
      }
      if (first === j) return;
      const path: KeyPath = typeof c.names === 'string' ? [...base, j, 'names'] : [...base, j, 'names', k];
      issues.push({ path, message: `${name} is already served by ${formatPath([...base, first])}, which comes first: this certificate would never be chosen for it; remove the name from one of them` });
    });
  });
}

function checkPoolTls(name: string, pool: Obj, user: { index: number; mode: ListenerMode; route: number } | undefined, issues: PathIssue[]): void {
  const base: KeyPath = ['pools', name, 'tls'];
  if (user !== undefined) {
    issues.push({
      path: base,
      at: 'key',
      message: `pool \`${name}\` is used by ${formatPath(['listeners', user.index, 'routes', user.route])} (mode: ${user.mode}), which relays bytes without reading HTTP; TLS to servers is for HTTP pools: remove \`tls\` (TLS from clients passes through a tcp listener as it is), or give that listener its own pool`,
    });
  }
  if (pool.send_proxy !== undefined) {
    issues.push({
      path: ['pools', name, 'send_proxy'],
      at: 'key',
      message: 'a PROXY header goes before the TLS handshake, which this version does not send on TLS connections to servers: remove `send_proxy` or `tls`',
    });
  }
  const tls = pool.tls;
  if (!isObj(tls)) return;
  if ((tls.cert === undefined) !== (tls.key === undefined)) {
    const [has, lacks] = tls.cert === undefined ? ['key', 'cert'] : ['cert', 'key'];
    issues.push({ path: [...base, has], at: 'key', message: `a client certificate needs both \`cert\` and \`key\`: add \`${lacks}\`, or remove \`${has}\`` });
  }
  if (tls.verify === false && tls.ca !== undefined) {
    issues.push({ path: [...base, 'ca'], at: 'key', message: 'with `verify: false` no certificate is checked, so `ca` is never used: remove `ca`, or verify (the default)' });
  }
}
