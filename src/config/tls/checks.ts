/**
 * Cross-checks of the TLS and HTTP/2 keys that no single field can make: which listener
 * modes take `tls`, `http2`, `https_redirect` and `hsts`, combinations that cannot work
 * (a redirect to HTTPS on an HTTPS listener loops; HSTS over plain HTTP is ignored by
 * browsers), the routes a redirecting listener may leave out, certificates listed for the
 * same name twice, and pools whose `tls` cannot work with their other keys or listeners.
 * They read listeners and pools field by field (common/parsed.ts).
 */
import { formatPath, type KeyPath } from '../locate.js';
import type { ListenerMode } from '../types.js';
import { isObj, list, parseFields, type PathIssue } from '../common/parsed.js';
import { modeText, routesOf, type ListenerPart } from '../listeners/checks.js';
import type { FileParts } from '../parts.js';
import type { PoolPart } from '../pools/checks.js';
import { poolTlsFields } from './schema.js';

const poolTls = poolTlsFields();

/** Runs every TLS check of the file's listeners and pools and appends what it finds to `issues`. */
export function checkTls(parts: FileParts, issues: PathIssue[]): void {
  const poolUsers = new Map<string, { index: number; mode: ListenerMode; route: number }>();
  parts.listeners.forEach((l, i) => {
    if (!l) return;
    const mode = l.fields.mode;
    if (!l.given('routes') && (!l.given('https_redirect') || mode !== 'http')) {
      issues.push({ path: ['listeners', i, 'routes'], message: 'missing required key `routes`' });
    }
    if (mode === undefined) return;
    checkListener(l, i, mode, issues);
    if (mode === 'tcp' || mode === 'udp') {
      routesOf(l).forEach((r, j) => {
        const pool = r?.fields.pool;
        if (pool !== undefined && !poolUsers.has(pool)) poolUsers.set(pool, { index: i, mode, route: j });
      });
    }
  });
  for (const [name, pool] of parts.pools ?? []) {
    if (!pool?.given('tls')) continue;
    checkPoolTls(name, pool, poolUsers.get(name), issues);
  }
}

function checkListener(l: ListenerPart, i: number, mode: ListenerMode, issues: PathIssue[]): void {
  const base: KeyPath = ['listeners', i];
  const is = `this listener is ${modeText(l, mode)}`;
  const key = (name: string, message: string) => issues.push({ path: [...base, name], at: 'key', message });
  const tls = l.given('tls');

  if (tls && mode !== 'http' && mode !== 'redirect') {
    const instead = mode === 'tcp' ? ' (a tcp listener passes TLS through to the servers, routed by SNI)' : '';
    key('tls', `\`tls\` terminates HTTPS on mode http or redirect listeners, and ${is}: remove \`tls\`${instead}`);
  }
  const http2 = l.fields.http2;
  if (l.given('http2')) {
    if (mode !== 'http') {
      key('http2', `\`http2\` applies to mode http listeners, and ${is}: remove \`http2\``);
    } else if (!tls && http2 !== undefined && !http2.h2c) {
      key('http2', 'this listener has no `tls`, so clients cannot ask for HTTP/2 by ALPN: add `tls`, or set `h2c: true` to accept HTTP/2 with prior knowledge over plain TCP');
    }
  }
  if (l.given('https_redirect')) {
    if (mode !== 'http') key('https_redirect', `\`https_redirect\` applies to mode http listeners, and ${is}: remove \`https_redirect\``);
    else if (tls) key('https_redirect', 'this listener serves HTTPS itself (`tls`), so redirecting its requests to HTTPS would send clients back to it forever: put `https_redirect` on the plain-HTTP listener');
    else if (l.given('no_route')) key('no_route', 'with `https_redirect`, requests that match no route are redirected to HTTPS, so `no_route` is never used: remove it');
  }
  if (l.given('hsts')) {
    if (mode === 'tcp' || mode === 'udp') key('hsts', `\`hsts\` is an HTTP header sent over HTTPS, and ${is}: remove \`hsts\``);
    else if (!tls) key('hsts', 'browsers ignore Strict-Transport-Security received over plain HTTP (RFC 6797 section 8.1): put `hsts` on the listener with `tls`');
  }
  const certificates = l.fields.tls?.certificates;
  if (certificates && isObj(l.raw.tls)) checkCertificateNames(certificates, list(l.raw.tls.certificates), [...base, 'tls', 'certificates'], issues);
}

/** A name given explicitly to two certificates (`written` as the file has them): the second is never chosen for it. */
function checkCertificateNames(certs: ReadonlyArray<{ names: string[] | null }>, written: unknown[], base: KeyPath, issues: PathIssue[]): void {
  const seen = new Map<string, number>();
  certs.forEach((c, j) => {
    const one = isObj(written[j]) && typeof written[j].names === 'string';
    (c.names ?? []).forEach((name, k) => {
      const first = seen.get(name);
      if (first === undefined) {
        seen.set(name, j);
        return;
      }
      if (first === j) return;
      const path: KeyPath = one ? [...base, j, 'names'] : [...base, j, 'names', k];
      issues.push({ path, message: `${name} is already served by ${formatPath([...base, first])}, which comes first: this certificate would never be chosen for it; remove the name from one of them` });
    });
  });
}

function checkPoolTls(name: string, pool: PoolPart, user: { index: number; mode: ListenerMode; route: number } | undefined, issues: PathIssue[]): void {
  const base: KeyPath = ['pools', name, 'tls'];
  if (user !== undefined) {
    issues.push({
      path: base,
      at: 'key',
      message: `pool \`${name}\` is used by ${formatPath(['listeners', user.index, 'routes', user.route])} (mode: ${user.mode}), which relays bytes without reading HTTP; TLS to servers is for HTTP pools: remove \`tls\` (TLS from clients passes through a tcp listener as it is), or give that listener its own pool`,
    });
  }
  if (pool.given('send_proxy')) {
    issues.push({
      path: ['pools', name, 'send_proxy'],
      at: 'key',
      message: 'a PROXY header goes before the TLS handshake, which this version does not send on TLS connections to servers: remove `send_proxy` or `tls`',
    });
  }
  // `tls: true` is every default.
  const tls = parseFields(poolTls, pool.raw.tls === true ? {} : pool.raw.tls);
  if (!tls) return;
  if (tls.given('cert') !== tls.given('key')) {
    const [has, lacks] = tls.given('cert') ? ['cert', 'key'] : ['key', 'cert'];
    issues.push({ path: [...base, has], at: 'key', message: `a client certificate needs both \`cert\` and \`key\`: add \`${lacks}\`, or remove \`${has}\`` });
  }
  if (tls.fields.verify === false && tls.given('ca')) {
    issues.push({ path: [...base, 'ca'], at: 'key', message: 'with `verify: false` no certificate is checked, so `ca` is never used: remove `ca`, or verify (the default)' });
  }
}
