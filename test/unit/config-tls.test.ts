import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { formatIssue, loadConfigFile, loadConfigText } from '../../src/config/load.js';
import type { Config } from '../../src/config/types.js';
import { configOk, configIssues } from '../helpers/config.js';

const FILE = '/etc/fulcrum/lb.yaml';

const ok = (text: string): Config => configOk(text, FILE);

/** Every issue as "LINE:COLUMN PATH: MESSAGE". */
const issues = (text: string): string[] => configIssues(text, FILE);

const POOLS = ['pools:', '  web:', '    servers: [{ address: 192.0.2.11:80 }]'];

/** One listener `l` (lines 2..) with the given lines under it (4 spaces in), routing to `web`. */
function listener(...lines: string[]): string {
  return ['listeners:', '  - name: l', '    bind: 127.0.0.1:443', ...lines.map((l) => `    ${l}`), ...POOLS, ''].join('\n');
}

const TLS = 'tls: { certificates: [{ cert: www.pem, key: www.key }] }';
const ROUTES = 'routes: [{ pool: web }]';

describe('listener tls, http2, https_redirect, hsts', () => {
  it('normalises every key with its default; paths relative to the configuration file', () => {
    const l = ok(listener(TLS, ROUTES)).listeners[0]!;
    assert.deepEqual(l.tls, {
      certificates: [{ cert: '/etc/fulcrum/www.pem', key: '/etc/fulcrum/www.key', names: null }],
      minVersion: 'TLSv1.2',
      ciphers: null,
      unknownSni: 'default',
      sessionTickets: true,
      sessionTimeoutS: 300,
      handshakeTimeoutMs: 10_000,
    });
    assert.deepEqual(l.http2, { enabled: true, h2c: false, maxConcurrentStreams: 100, initialStreamWindow: 65_536, initialConnectionWindow: 1_048_576, maxHeaderListSize: null });
    assert.equal(l.httpsRedirect, null);
    assert.equal(l.hsts, null);
  });

  it('reads every key', () => {
    const l = ok(
      listener(
        'tls:',
        '  certificates:',
        '    - { cert: /a.pem, key: /a.key, names: ["*.example.org", API.example.org] }',
        '  min_version: TLSv1.3',
        '  ciphers: "ECDHE+AESGCM"',
        '  unknown_sni: reject',
        '  session_tickets: false',
        '  session_timeout: 1h',
        '  handshake_timeout: 3s',
        'http2: { max_concurrent_streams: 50, initial_stream_window: 1MiB, initial_connection_window: 4MiB, max_header_list_size: 32KiB }',
        'hsts: { max_age: 2w, include_subdomains: true, preload: true }',
        ROUTES,
      ),
    ).listeners[0]!;
    assert.deepEqual(l.tls!.certificates[0]!.names, ['*.example.org', 'api.example.org']);
    assert.deepEqual([l.tls!.minVersion, l.tls!.ciphers, l.tls!.unknownSni, l.tls!.sessionTickets, l.tls!.sessionTimeoutS, l.tls!.handshakeTimeoutMs], ['TLSv1.3', 'ECDHE+AESGCM', 'reject', false, 3600, 3000]);
    assert.deepEqual(l.http2, { enabled: true, h2c: false, maxConcurrentStreams: 50, initialStreamWindow: 1 << 20, initialConnectionWindow: 4 << 20, maxHeaderListSize: 32 << 10 });
    assert.deepEqual(l.hsts, { maxAgeS: 1_209_600, includeSubdomains: true, preload: true });
  });

  it('https_redirect: routes may be left out; status and port', () => {
    const l = ok(listener('https_redirect: { status: 308, port: 8443 }')).listeners[0]!;
    assert.deepEqual(l.httpsRedirect, { status: 308, port: 8443 });
    assert.deepEqual(l.routes, []);
  });

  it('refuses bad values with the key path', () => {
    assert.deepEqual(
      issues(
        listener(
          'tls:',
          '  certificates: [{ cert: a.pem }, { cert: "", key: b.key, names: [192.0.2.1, "a.example.com:443"] }]',
          '  min_version: TLSv1.1',
          '  session_timeout: 0',
          'http2: { initial_stream_window: 1KiB }',
          'https_redirect: { status: 302 }',
          ROUTES,
        ),
      ),
      [
        '5:22 listeners[0].tls.certificates[0].key: missing required key `key`',
        '5:47 listeners[0].tls.certificates[1].cert: expected a file path such as "/etc/fulcrum/www.example.com.pem", got the string ""',
        '5:71 listeners[0].tls.certificates[1].names[0]: 192.0.2.1: a TLS client never sends an IP address as the server name (RFC 6066); the default certificate answers clients that connect by address',
        '5:82 listeners[0].tls.certificates[1].names[1]: "a.example.com:443": a server name has no port',
        "6:20 listeners[0].tls.min_version: expected one of `TLSv1.2`, `TLSv1.3`, got the string \"TLSv1.1\"; did you mean `TLSv1.2`?",
        '7:24 listeners[0].tls.session_timeout: a session timeout of 0 would make every session expire at once: give a time such as "5m", or set `session_tickets: false`',
        '8:37 listeners[0].http2.initial_stream_window: must be from 16384 to 2147483647 bytes, got 1024',
        '9:5 listeners[0].https_redirect: this listener serves HTTPS itself (`tls`), so redirecting its requests to HTTPS would send clients back to it forever: put `https_redirect` on the plain-HTTP listener',
        '9:31 listeners[0].https_redirect.status: expected 301 or 308 (a permanent move: browsers remember it; 308 keeps the method and body), got 302',
      ],
    );
  });

  it('cross-checks: modes, combinations, routes, names served twice', () => {
    assert.deepEqual(issues(listener('mode: tcp', TLS, 'hsts: {}', ROUTES)), [
      '5:5 listeners[0].tls: `tls` terminates HTTPS on mode http or redirect listeners, and this listener is mode: tcp: remove `tls` (a tcp listener passes TLS through to the servers, routed by SNI)',
      '6:5 listeners[0].hsts: `hsts` is an HTTP header sent over HTTPS, and this listener is mode: tcp: remove `hsts`',
    ]);
    assert.deepEqual(issues(listener('hsts: {}', 'http2: { max_concurrent_streams: 10 }', ROUTES)), [
      '4:5 listeners[0].hsts: browsers ignore Strict-Transport-Security received over plain HTTP (RFC 6797 section 8.1): put `hsts` on the listener with `tls`',
      '5:5 listeners[0].http2: this listener has no `tls`, so clients cannot ask for HTTP/2 by ALPN: add `tls`, or set `h2c: true` to accept HTTP/2 with prior knowledge over plain TCP',
    ]);
    assert.deepEqual(issues(listener('mode: redirect', TLS, 'http2: {}', ROUTES)), [
      '6:5 listeners[0].http2: `http2` applies to mode http listeners, and this listener is mode: redirect: remove `http2`',
    ]);
    assert.deepEqual(issues(listener('https_redirect: {}', 'no_route: { status: 404 }')), [
      '5:5 listeners[0].no_route: with `https_redirect`, requests that match no route are redirected to HTTPS, so `no_route` is never used: remove it',
    ]);
    assert.deepEqual(issues(listener('mode: http')), ['2:5 listeners[0].routes: missing required key `routes`']);
    assert.deepEqual(
      issues(listener('tls:', '  certificates:', '    - { cert: a.pem, key: a.key, names: [www.example.com] }', '    - { cert: b.pem, key: b.key, names: ["*.example.com", WWW.example.com] }', ROUTES)),
      ['7:63 listeners[0].tls.certificates[1].names[1]: www.example.com is already served by listeners[0].tls.certificates[0], which comes first: this certificate would never be chosen for it; remove the name from one of them'],
    );
    ok(listener('mode: redirect', TLS, 'redirect: { status: 302 }', ROUTES));
    ok(listener('http2: { h2c: true }', ROUTES));
  });
});

describe('pool tls', () => {
  const pool = (...lines: string[]) =>
    ['listeners:', '  - name: l', '    bind: 127.0.0.1:80', '    routes: [{ pool: web }]', 'pools:', '  web:', '    servers: [{ address: 192.0.2.11:443 }]', ...lines.map((l) => `    ${l}`), ''].join('\n');

  it('`tls: true` and every key', () => {
    assert.deepEqual(ok(pool('tls: true')).pools.get('web')!.tls, { sni: null, verify: true, ca: null, cert: null, key: null, minVersion: 'TLSv1.2' });
    assert.deepEqual(ok(pool('tls: { sni: Backend.Internal, verify: true, ca: ca.pem, cert: c.pem, key: /k.key, min_version: TLSv1.3 }')).pools.get('web')!.tls, {
      sni: 'backend.internal',
      verify: true,
      ca: '/etc/fulcrum/ca.pem',
      cert: '/etc/fulcrum/c.pem',
      key: '/k.key',
      minVersion: 'TLSv1.3',
    });
  });

  it('refuses what cannot work', () => {
    assert.deepEqual(issues(pool('tls: { sni: 192.0.2.1, cert: c.pem, verify: false, ca: ca.pem }', 'send_proxy: v2')), [
      '8:17 pools.web.tls.sni: "192.0.2.1" is not a host name: SNI carries a DNS name (RFC 6066), never an address or a port',
      '8:28 pools.web.tls.cert: a client certificate needs both `cert` and `key`: add `key`, or remove `cert`',
      '8:56 pools.web.tls.ca: with `verify: false` no certificate is checked, so `ca` is never used: remove `ca`, or verify (the default)',
      '9:5 pools.web.send_proxy: a PROXY header goes before the TLS handshake, which this version does not send on TLS connections to servers: remove `send_proxy` or `tls`',
    ]);
    const tcp = ['listeners:', '  - name: l', '    bind: 127.0.0.1:80', '    mode: tcp', '    routes: [{ pool: web }]', 'pools:', '  web:', '    tls: {}', '    servers: [{ address: 192.0.2.11:443 }]', ''].join('\n');
    assert.deepEqual(issues(tcp), [
      '8:5 pools.web.tls: pool `web` is used by listeners[0].routes[0] (mode: tcp), which relays bytes without reading HTTP; TLS to servers is for HTTP pools: remove `tls` (TLS from clients passes through a tcp listener as it is), or give that listener its own pool',
    ]);
  });
});

describe('examples/https.yaml', () => {
  it('serves www.example.com over HTTPS with HTTP/2 and HSTS, redirects port 80, re-encrypts to one pool', async () => {
    const dir = fileURLToPath(new URL('../../../examples/', import.meta.url));
    // The file names certificates under /etc/fulcrum that this machine does not have:
    // `fulcrum check` says so (as `haproxy -c` and `nginx -t` would), and nothing else.
    const { issues: missing } = await loadConfigFile(join(dir, 'https.yaml'));
    assert.deepEqual(
      missing.map((i) => `${i.path}: ${/\/etc\/fulcrum\/\S+: no such file$/.exec(i.message)?.[0]}`),
      [
        'listeners[0].tls.certificates[0].cert: /etc/fulcrum/www.example.com.pem: no such file',
        'listeners[0].tls.certificates[1].cert: /etc/fulcrum/wildcard.example.com.pem: no such file',
        'pools.secure-backends.tls.ca: /etc/fulcrum/internal-ca.pem: no such file',
      ],
    );
    const text = readFileSync(join(dir, 'https.yaml'), 'utf8');
    const { config, issues: found } = loadConfigText(text, join(dir, 'https.yaml'));
    assert.deepEqual(found.map(formatIssue), []);
    const [www, plain] = config!.listeners;
    assert.equal(www!.port, 443);
    assert.equal(www!.tls!.certificates[0]!.cert, '/etc/fulcrum/www.example.com.pem');
    assert.deepEqual(www!.routes[0]!.hosts, ['www.example.com', 'example.com']);
    assert.ok(www!.http2.enabled);
    assert.equal(www!.hsts!.maxAgeS, 365 * 86_400);
    assert.deepEqual(plain!.httpsRedirect, { status: 301, port: 443 });
    assert.equal(config!.pools.get('secure-backends')!.tls!.verify, true);
  });
});
