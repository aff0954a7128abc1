import { plainRoute } from '../../src/config/listeners/route.js';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { formatIssue, loadConfigFile } from '../../src/config/load.js';
import type { Config, ListenerConfig } from '../../src/config/types.js';
import { configOk, configIssues } from '../helpers/config.js';

const FILE = 'l4.yaml';

const ok = (text: string): Config => configOk(text, FILE);

/** Every issue as "LINE:COLUMN PATH: MESSAGE". */
const issues = (text: string): string[] => configIssues(text, FILE);

/**
 * A file with one listener (lines 2..) of the given mode and extra lines (each indented
 * under the listener, its keys at column 5), routing to pool `web` (one server).
 * Line 1 `listeners:`, 2 `- name: l`, 3 `bind`, 4 `mode`, 5 `routes:`, 6 `- pool: web`,
 * then the extra lines from line 7; after them `pools:`, `web:` and its `servers` line.
 */
function listener(mode: string | undefined, ...extra: string[]): string {
  return [
    'listeners:',
    '  - name: l',
    '    bind: 127.0.0.1:7000',
    ...(mode === undefined ? [] : [`    mode: ${mode}`]),
    '    routes:',
    '      - pool: web',
    ...extra.map((l) => `    ${l}`),
    'pools:',
    '  web:',
    '    servers: [{address: "127.0.0.1:5201"}]',
    '',
  ].join('\n');
}

function only(text: string): string {
  const found = issues(text);
  assert.equal(found.length, 1, found.join('\n'));
  return found[0]!;
}

const TCP_DEFAULTS = { idleMs: 300_000, helloTimeoutMs: 5_000 };
const UDP_DEFAULTS = { sessionIdleMs: 30_000, maxSessions: 10_000, perPacket: false };

describe('layer 4: defaults per mode', () => {
  for (const mode of [undefined, 'http', 'redirect', 'tcp', 'udp'] as const) {
    it(`fills every new default for ${mode === undefined ? 'a listener without a mode' : `mode: ${mode}`}`, () => {
      const config = ok(listener(mode));
      const l = config.listeners[0]!;
      const expected: Pick<ListenerConfig, 'mode' | 'proxyProtocol' | 'redirect' | 'tcp' | 'udp'> = {
        mode: mode ?? 'http',
        proxyProtocol: null,
        redirect: { status: 307 },
        tcp: TCP_DEFAULTS,
        udp: UDP_DEFAULTS,
      };
      assert.deepEqual({ mode: l.mode, proxyProtocol: l.proxyProtocol, redirect: l.redirect, tcp: l.tcp, udp: l.udp }, expected);
      const web = config.pools.get('web')!;
      assert.equal(web.sendProxy, null);
      assert.equal(web.servers[0]!.url, 'http://127.0.0.1:5201');
    });
  }

  it('derives a server URL from its address: http://HOST:PORT, IPv6 in brackets, host names as written', () => {
    const config = ok(`listeners:
  - {name: go, bind: ":8080", mode: redirect, routes: [{pool: web}]}
pools:
  web:
    servers:
      - address: 192.0.2.11:80
      - address: "[2001:DB8::1]:8080"
      - address: Web-2.Internal:443
`);
    assert.deepEqual(
      config.pools.get('web')!.servers.map((s) => s.url),
      ['http://192.0.2.11:80', 'http://[2001:db8::1]:8080', 'http://web-2.internal:443'],
    );
  });

  it('does not share default objects between listeners', () => {
    const [a, b] = ok(listener('tcp').replace('pools:', '  - {name: m, bind: "127.0.0.1:7001", mode: tcp, routes: [{pool: web}]}\npools:')).listeners;
    assert.notEqual(a!.tcp, b!.tcp);
    assert.notEqual(a!.udp, b!.udp);
    assert.notEqual(a!.redirect, b!.redirect);
  });
});

describe('layer 4: every new key', () => {
  it('reads proxy_protocol.trusted as CIDRs or addresses, normalised like forwarded.trusted, on http, redirect and tcp', () => {
    for (const mode of ['http', 'redirect', 'tcp']) {
      const l = ok(listener(mode, 'proxy_protocol:', '  trusted: [127.0.0.1, 10.0.0.0/8, "2001:DB8::/32", "::1"]')).listeners[0]!;
      assert.deepEqual(l.proxyProtocol, { trusted: ['127.0.0.1/32', '10.0.0.0/8', '2001:db8::/32', '::1/128'] });
    }
    assert.deepEqual(ok(listener('tcp', 'proxy_protocol: {trusted: 192.0.2.0/24}')).listeners[0]!.proxyProtocol, { trusted: ['192.0.2.0/24'] });
  });

  it('reads redirect.status: 301, 302, 303, 307 and 308', () => {
    for (const status of [301, 302, 303, 307, 308]) {
      assert.deepEqual(ok(listener('redirect', `redirect: {status: ${status}}`)).listeners[0]!.redirect, { status });
    }
    assert.deepEqual(ok(listener('redirect', 'redirect: {}')).listeners[0]!.redirect, { status: 307 });
  });

  it('reads tcp.idle_timeout and tcp.hello_timeout', () => {
    const tcp = (extra: string) => ok(listener('tcp', extra).replace('      - pool: web', '      - {host: www.example.com, pool: web}')).listeners[0]!.tcp;
    assert.deepEqual(tcp('tcp: {idle_timeout: 1h, hello_timeout: 250ms}'), { idleMs: 3_600_000, helloTimeoutMs: 250 });
    assert.deepEqual(tcp('tcp: {idle_timeout: 90s}'), { idleMs: 90_000, helloTimeoutMs: 5_000 });
    assert.deepEqual(tcp('tcp: {}'), TCP_DEFAULTS);
  });

  it('reads udp.session_idle, udp.max_sessions and udp.per_packet', () => {
    const udp = (extra: string) => ok(listener('udp', extra)).listeners[0]!.udp;
    assert.deepEqual(udp('udp: {session_idle: 2m, max_sessions: 1, per_packet: true}'), { sessionIdleMs: 120_000, maxSessions: 1, perPacket: true });
    assert.deepEqual(udp('udp: {max_sessions: 1000000}'), { ...UDP_DEFAULTS, maxSessions: 1_000_000 });
    assert.deepEqual(udp('udp: {}'), UDP_DEFAULTS);
  });

  it('reads send_proxy: v1 or v2, for http and tcp listeners', () => {
    for (const mode of ['http', 'tcp']) {
      for (const v of ['v1', 'v2']) {
        const text = listener(mode).replace('  web:\n', `  web:\n    send_proxy: ${v}\n`);
        assert.equal(ok(text).pools.get('web')!.sendProxy, v);
      }
    }
  });

  it('reads a server url: scheme, host and port, normalised, without a trailing slash', () => {
    const url = (u: string) => ok(listener('redirect').replace('{address: "127.0.0.1:5201"}', `{address: "127.0.0.1:5201", url: "${u}"}`)).pools.get('web')!.servers[0]!.url;
    assert.equal(url('https://s1.example.com'), 'https://s1.example.com');
    assert.equal(url('https://s1.example.com/'), 'https://s1.example.com');
    assert.equal(url('HTTPS://S1.Example.COM:8443/'), 'https://s1.example.com:8443');
    assert.equal(url('https://s1.example.com:443'), 'https://s1.example.com');
    assert.equal(url('http://s1.example.com:80/'), 'http://s1.example.com');
    assert.equal(url('http://192.0.2.11:8080'), 'http://192.0.2.11:8080');
    assert.equal(url('http://[2001:DB8::1]:8080/'), 'http://[2001:db8::1]:8080');
  });

  it('routes a tcp listener by TLS server name: exact, wildcard, and a default route', () => {
    const l = ok(
      listener('tcp').replace(
        '      - pool: web\n',
        '      - {host: WWW.Example.com, pool: web}\n      - {host: ["*.api.example.com", api.example.com], pool: web}\n      - pool: web\n',
      ),
    ).listeners[0]!;
    assert.deepEqual(l.routes, [
      plainRoute('web', ['www.example.com'], ''),
      plainRoute('web', ['*.api.example.com', 'api.example.com'], ''),
      plainRoute('web', [], ''),
    ]);
  });

  it('accepts any health check type, and round-robin, random, least-conn, first and maglev by ip, behind tcp and udp listeners', () => {
    for (const mode of ['tcp', 'udp']) {
      for (const pool of ['health: {type: http}', 'health: {type: tcp}', 'balance: random', 'balance: least-conn', 'balance: first', 'balance: maglev', 'balance: maglev\n    hash: ip']) {
        ok(listener(mode).replace('  web:\n', `  web:\n    ${pool}\n`));
      }
    }
  });
});

describe('layer 4: bad values of the new keys', () => {
  it('suggests the nearest mode', () => {
    assert.equal(only(listener('tpc')), "4:11 listeners[0].mode: expected one of `http`, `redirect`, `tcp`, `udp`, got the string \"tpc\"; did you mean `tcp`?");
  });

  it('wants proxy_protocol.trusted: present, not empty, each a CIDR or address', () => {
    assert.equal(only(listener('tcp', 'proxy_protocol: {}')), '7:21 listeners[0].proxy_protocol.trusted: missing required key `trusted`');
    assert.equal(
      only(listener('tcp', 'proxy_protocol: {trusted: []}')),
      '7:31 listeners[0].proxy_protocol.trusted: the trusted list is empty, so every connection would be refused: list the balancers in front of Fulcrum (CIDRs or addresses), or leave out `proxy_protocol`',
    );
    assert.deepEqual(issues(listener('tcp', 'proxy_protocol:', '  trusted: [10.0.0.0/8, 10.1.2.3/8, nope]', '  trust: []')), [
      '8:29 listeners[0].proxy_protocol.trusted[1]: "10.1.2.3/8" has bits set after the /8 prefix; did you mean "10.0.0.0/8"?',
      '8:41 listeners[0].proxy_protocol.trusted[2]: "nope" is not an IP address or CIDR such as "10.0.0.0/8" or "2001:db8::/32"',
      '9:7 listeners[0].proxy_protocol.trust: unknown key `trust`; did you mean `trusted`?',
    ]);
    assert.equal(only(listener('tcp', 'proxy_protocol: true')), '7:21 listeners[0].proxy_protocol: expected a mapping, got true');
  });

  it('wants a redirect status of 301, 302, 303, 307 or 308', () => {
    assert.equal(only(listener('redirect', 'redirect: {status: 200}')), '7:24 listeners[0].redirect.status: expected one of 301, 302, 303, 307 or 308, got 200');
    assert.equal(only(listener('redirect', 'redirect: {status: "307"}')), '7:24 listeners[0].redirect.status: expected one of 301, 302, 303, 307 or 308, got the string "307"');
  });

  it('wants positive tcp and udp durations, and 1 to 1000000 sessions', () => {
    assert.deepEqual(issues(listener('tcp', 'tcp: {idle_timeout: 0, hello_timeout: 5}').replace('      - pool: web', '      - {host: a.example.com, pool: web}')), [
      '7:25 listeners[0].tcp.idle_timeout: a timeout of 0 would expire at once; give a positive duration such as "1s"',
      '7:43 listeners[0].tcp.hello_timeout: duration 5 needs a unit: write "5ms" or "5s" (units: ms, s, m, h); only 0 may be written without one',
    ]);
    assert.deepEqual(issues(listener('udp', 'udp: {session_idle: 0s, max_sessions: 0, per_packet: yes}')), [
      '7:25 listeners[0].udp.session_idle: a session idle time of 0 would end every session at once; give a positive duration such as "1s"',
      '7:43 listeners[0].udp.max_sessions: must be an integer from 1 to 1000000, got 0',
      '7:58 listeners[0].udp.per_packet: expected true or false, got the string "yes"',
    ]);
    assert.equal(only(listener('udp', 'udp: {max_session: 5}')), '7:11 listeners[0].udp.max_session: unknown key `max_session`; did you mean `max_sessions`?');
  });

  it('wants send_proxy v1 or v2', () => {
    assert.equal(
      only(listener('tcp').replace('  web:\n', '  web:\n    send_proxy: V2\n')),
      '9:17 pools.web.send_proxy: expected one of `v1`, `v2`, got the string "V2"; did you mean `v2`?',
    );
    assert.equal(only(listener('tcp').replace('  web:\n', '  web:\n    send_proxy: true\n')), '9:17 pools.web.send_proxy: expected one of `v1`, `v2`, got true');
  });

  it('wants a server url with scheme http or https, a host, an optional port, and nothing more', () => {
    const url = (u: string) => only(listener('redirect').replace('{address: "127.0.0.1:5201"}', `{address: "127.0.0.1:5201", url: ${u}}`));
    const at = '9:48 pools.web.servers[0].url: ';
    assert.equal(url('s1.example.com'), `${at}"s1.example.com" has no scheme: write "https://s1.example.com" or "http://s1.example.com"`);
    assert.equal(url('"ftp://s1.example.com"'), `${at}"ftp://s1.example.com": a redirect sends browsers to an http:// or https:// URL, not ftp://`);
    const bare = 'give only the scheme, host and port, e.g. "https://s1.example.com": a redirect appends the request\'s own path and query to it';
    assert.equal(url('"https://s1.example.com/app/"'), `${at}"https://s1.example.com/app/": ${bare}`);
    assert.equal(url('"https://s1.example.com/?a=1"'), `${at}"https://s1.example.com/?a=1": ${bare}`);
    assert.equal(url('"https://s1.example.com?"'), `${at}"https://s1.example.com?": ${bare}`);
    assert.equal(url('"https://s1.example.com#top"'), `${at}"https://s1.example.com#top": ${bare}`);
    assert.equal(url('"https://user:pw@s1.example.com"'), `${at}"https://user:pw@s1.example.com": leave out the user name and password: browsers warn about them, and every client would see them`);
    assert.equal(url('"http://s1.example.com:0"'), `${at}"http://s1.example.com:0": port 0 cannot be connected to: expected 1 to 65535`);
    assert.equal(url('"http://s1.example.com:70000"'), `${at}"http://s1.example.com:70000" is not a valid URL such as "https://s1.example.com" or "http://192.0.2.11:8080"`);
    assert.equal(url('"http://s1 .example.com"'), `${at}"http://s1 .example.com": a URL may not contain spaces`);
    assert.equal(url('"http://s1!.example.com"'), `${at}"http://s1!.example.com": "s1!.example.com" is neither an IP address nor a valid host name`);
    assert.equal(url('80'), `${at}expected a URL such as "https://s1.example.com", got 80`);
  });
});

describe('layer 4: keys of another mode', () => {
  it('refuses tcp, udp and redirect settings on a listener of another mode, naming its mode', () => {
    assert.deepEqual(issues(listener(undefined, 'tcp: {}', 'udp: {}', 'redirect: {}')), [
      '6:5 listeners[0].tcp: `tcp` settings apply only to mode: tcp, and this listener is mode: http (the default): remove `tcp` or set `mode: tcp`',
      '7:5 listeners[0].udp: `udp` settings apply only to mode: udp, and this listener is mode: http (the default): remove `udp` or set `mode: udp`',
      '8:5 listeners[0].redirect: `redirect` settings apply only to mode: redirect, and this listener is mode: http (the default): remove `redirect` or set `mode: redirect`',
    ]);
    assert.deepEqual(issues(listener('tcp', 'udp: {}', 'redirect: {status: 302}')), [
      '7:5 listeners[0].udp: `udp` settings apply only to mode: udp, and this listener is mode: tcp: remove `udp` or set `mode: udp`',
      '8:5 listeners[0].redirect: `redirect` settings apply only to mode: redirect, and this listener is mode: tcp: remove `redirect` or set `mode: redirect`',
    ]);
    assert.deepEqual(issues(listener('udp', 'tcp: {}')), ['7:5 listeners[0].tcp: `tcp` settings apply only to mode: tcp, and this listener is mode: udp: remove `tcp` or set `mode: tcp`']);
    assert.deepEqual(issues(listener('redirect', 'tcp: {idle_timeout: 1m}')), [
      '7:5 listeners[0].tcp: `tcp` settings apply only to mode: tcp, and this listener is mode: redirect: remove `tcp` or set `mode: tcp`',
    ]);
  });

  it('refuses the HTTP keys on tcp and udp listeners', () => {
    const http = ['forwarded: {headers: none}', 'no_route: {status: 503}', 'limits: {header_count: 10}'];
    assert.deepEqual(issues(listener('tcp', ...http)), [
      "7:5 listeners[0].forwarded: `forwarded` adds HTTP headers, and this listener is mode: tcp, which relays bytes without reading HTTP: remove `forwarded` (to tell the servers the client's address, set `send_proxy` on the pool)",
      '8:5 listeners[0].no_route: `no_route` is an HTTP answer, and this listener is mode: tcp: a connection that matches no route is closed; remove `no_route`, or end the routes with one without `host` to catch every other connection',
      '9:5 listeners[0].limits: `limits` bound HTTP request heads, and this listener is mode: tcp, which relays bytes without reading HTTP: remove `limits`',
    ]);
    assert.deepEqual(issues(listener('udp', ...http)), [
      '7:5 listeners[0].forwarded: `forwarded` adds HTTP headers, and this listener is mode: udp, which relays datagrams without reading HTTP: remove `forwarded`',
      '8:5 listeners[0].no_route: `no_route` is an HTTP answer, and this listener is mode: udp: its one route takes every datagram; remove `no_route`',
      '9:5 listeners[0].limits: `limits` bound HTTP request heads, and this listener is mode: udp, which relays datagrams without reading HTTP: remove `limits`',
    ]);
    // The same keys are fine in mode redirect, which reads HTTP.
    ok(listener('redirect', ...http, 'timeouts: {header: 1s}', 'max_connections: 5', 'proxy_protocol: {trusted: [10.0.0.0/8]}'));
  });

  it('allows only timeouts.connect on a tcp listener, and no timeouts on a udp listener', () => {
    ok(listener('tcp', 'timeouts: {connect: 1s}'));
    assert.deepEqual(issues(listener('tcp', 'timeouts:', '  connect: 1s', '  header: 1s', '  client: 1m')), [
      '9:7 listeners[0].timeouts.header: timeouts.header applies to HTTP, and this listener is mode: tcp, which uses only timeouts.connect: remove `header` (an idle connection is closed after `tcp.idle_timeout`)',
      '10:7 listeners[0].timeouts.client: timeouts.client applies to HTTP, and this listener is mode: tcp, which uses only timeouts.connect: remove `client` (an idle connection is closed after `tcp.idle_timeout`)',
    ]);
    assert.equal(
      only(listener('udp', 'timeouts: {connect: 1s}')),
      '7:5 listeners[0].timeouts: `timeouts` apply to TCP connections and HTTP, and this listener is mode: udp: remove `timeouts` (a session ends after `udp.session_idle` without a datagram)',
    );
    // The global timeouts are fine whatever the modes.
    ok(`${listener('udp')}timeouts: {header: 5s}\n`);
  });

  it('refuses proxy_protocol and max_connections on a udp listener', () => {
    assert.deepEqual(issues(listener('udp', 'proxy_protocol: {trusted: [127.0.0.1]}', 'max_connections: 100')), [
      '7:5 listeners[0].proxy_protocol: a PROXY protocol header is accepted on TCP connections only (mode http, redirect or tcp), and this listener is mode: udp: remove `proxy_protocol`',
      '8:5 listeners[0].max_connections: max_connections counts TCP connections, and this listener is mode: udp: limit the sessions with `udp.max_sessions` instead',
    ]);
  });
});

describe('layer 4: routes per mode', () => {
  it('refuses a path on a tcp route, at the key', () => {
    assert.equal(
      only(listener('tcp').replace('      - pool: web', '      - {host: www.example.com, path: /api/, pool: web}')),
      '6:33 listeners[0].routes[0].path: a tcp listener routes by TLS server name (SNI) only, and never sees an HTTP path: remove `path`',
    );
  });

  it('refuses an IP address as a TLS server name', () => {
    const never = 'can never match: a TLS client never sends an IP address as the server name (RFC 6066), and one connecting by address sends none; a route without `host` catches those connections';
    assert.deepEqual(issues(listener('tcp').replace('      - pool: web', '      - {host: 192.0.2.1, pool: web}\n      - {host: [www.example.com, "[2001:db8::1]"], pool: web}\n      - pool: web')), [
      `6:16 listeners[0].routes[0].host: 192.0.2.1 ${never}`,
      `7:34 listeners[0].routes[1].host[1]: [2001:db8::1] ${never}`,
    ]);
  });

  it('still reports tcp routes hidden by an earlier one', () => {
    assert.equal(
      only(listener('tcp').replace('      - pool: web', '      - pool: web\n      - {host: www.example.com, pool: web}')),
      '7:9 listeners[0].routes[1]: this route can never match: listeners[0].routes[0] comes first and matches every request it would (first match wins; move the more specific route up, or give it a higher `priority`)',
    );
  });

  it('refuses tcp.hello_timeout when no route names a host', () => {
    assert.equal(
      only(listener('tcp', 'tcp: {idle_timeout: 1m, hello_timeout: 2s}')),
      '7:29 listeners[0].tcp.hello_timeout: hello_timeout bounds the wait for a PROXY header or a TLS ClientHello, and this listener expects neither (no `proxy_protocol`, no route with a `host`): remove `hello_timeout`',
    );
  });

  it('wants exactly one udp route, without host or path', () => {
    const text = listener('udp').replace('      - pool: web', '      - {host: a.example.com, path: /x, pool: web}\n      - pool: web\n      - pool: nope');
    assert.deepEqual(issues(text), [
      "6:10 listeners[0].routes[0].host: a udp listener's route takes no `host`: a datagram carries no host name or path to route by; remove `host`",
      "6:31 listeners[0].routes[0].path: a udp listener's route takes no `path`: a datagram carries no host name or path to route by; remove `path`",
      '7:9 listeners[0].routes[1]: a udp listener takes exactly one route, since a datagram carries no host name or path to choose a route by: remove this route (send what it names to another listener)',
      '8:9 listeners[0].routes[2]: a udp listener takes exactly one route, since a datagram carries no host name or path to choose a route by: remove this route (send what it names to another listener)',
      '8:15 listeners[0].routes[2].pool: no pool named `nope` (pools: `web`)',
    ]);
  });
});

describe('layer 4: pools behind tcp and udp listeners', () => {
  /** Lines 1-6: two listeners (tcp `t`, udp `u`) on pools `web` and `logs`; line 7 `pools:`, line 8 `web:`, then `web`'s lines. */
  function behind(web: string[], logs: string[] = []): string {
    return [
      'listeners:',
      '  - {name: t, bind: "127.0.0.1:7000", mode: tcp, routes: [{pool: web}]}',
      '  - name: u',
      '    bind: 127.0.0.1:7000',
      '    mode: udp',
      '    routes: [{pool: logs}]',
      'pools:',
      '  web:',
      ...web.map((l) => `    ${l}`),
      '    servers: [{address: "127.0.0.1:5201"}]',
      '  logs:',
      ...logs.map((l) => `    ${l}`),
      '    servers: [{address: "127.0.0.1:5514"}]',
      '',
    ].join('\n');
  }

  it('refuses balance: sticky, a hash key the listener cannot provide, at the pool', () => {
    assert.equal(
      only(behind(['balance: sticky'])),
      "9:14 pools.web.balance: balance: sticky reads a cookie, a hash key listener `t` (mode: tcp, listeners[0].routes[0]) cannot provide, since it relays bytes without reading HTTP: route that listener to a pool balanced another way (maglev hashes the client's IP)",
    );
    assert.equal(
      only(behind([], ['balance: sticky', 'sticky: {cookie: s}'])),
      "11:14 pools.logs.balance: balance: sticky reads a cookie, a hash key listener `u` (mode: udp, listeners[1].routes[0]) cannot provide, since it relays datagrams without reading HTTP: route that listener to a pool balanced another way (maglev hashes the client's IP)",
    );
  });

  it('refuses maglev hashing a header, cookie, path or query, at the hash', () => {
    const cannot = 'a hash key listener `t` (mode: tcp, listeners[0].routes[0]) cannot provide, since it relays bytes without reading HTTP: hash by `ip` (the default), or route that listener to another pool';
    const hash = (h: string) => only(behind(['balance: maglev', `hash: ${h}`]));
    assert.equal(hash('{header: X-User-Id}'), `10:11 pools.web.hash: this pool's maglev hashes the header X-User-Id, ${cannot}`);
    assert.equal(hash('{cookie: session}'), `10:11 pools.web.hash: this pool's maglev hashes the cookie session, ${cannot}`);
    assert.equal(hash('{query: user}'), `10:11 pools.web.hash: this pool's maglev hashes the query parameter user, ${cannot}`);
    assert.equal(hash('path'), `10:11 pools.web.hash: this pool's maglev hashes the request path, ${cannot}`);
  });

  it('reports a pool once, at its first tcp or udp user, and not for its http users', () => {
    const text = [
      'listeners:',
      '  - {name: h, bind: "127.0.0.1:8080", routes: [{pool: web}]}',
      '  - {name: t, bind: "127.0.0.1:7000", mode: tcp, routes: [{host: a.example.com, pool: web}, {pool: web}]}',
      '  - {name: t2, bind: "127.0.0.1:7001", mode: tcp, routes: [{pool: web}]}',
      'pools:',
      '  web: {balance: sticky, servers: [{address: "127.0.0.1:5201"}]}',
      '',
    ].join('\n');
    assert.deepEqual(issues(text), [
      "6:18 pools.web.balance: balance: sticky reads a cookie, a hash key listener `t` (mode: tcp, listeners[1].routes[0]) cannot provide, since it relays bytes without reading HTTP: route that listener to a pool balanced another way (maglev hashes the client's IP)",
    ]);
    // Behind http and redirect listeners every algorithm has its input.
    ok(text.replace(/, mode: tcp.*\n/g, ', routes: [{pool: web}]}\n').replace('"127.0.0.1:7001", routes', '"127.0.0.1:7001", mode: redirect, routes'));
  });

  it('refuses send_proxy on a pool behind a udp listener, at the key', () => {
    assert.equal(
      only(behind(['send_proxy: v2'], ['send_proxy: v1'])),
      '12:5 pools.logs.send_proxy: pool `logs` is used by listener `u` (mode: udp, listeners[1].routes[0]), and a PROXY header is sent only at the start of a TCP connection: remove `send_proxy`, or give that listener its own pool',
    );
  });

  it('does not judge the pools of extra udp routes, which are refused already', () => {
    const text = behind(['balance: sticky', 'send_proxy: v2']).replace('routes: [{pool: logs}]', 'routes: [{pool: logs}, {pool: web}]');
    assert.deepEqual(
      issues(text).map((i) => i.split(': ')[0]),
      ['6:28 listeners[1].routes[1]', '9:14 pools.web.balance'],
    );
  });
});

describe('layer 4: binds', () => {
  const two = (a: string, b: string) => `listeners:\n  - {name: a, bind: "${a}"}\n  - {name: b, bind: "${b}"}\npools:\n  web: {servers: [{address: "127.0.0.1:5201"}]}\n`;
  const lst = (mode: string) => (mode === 'http' ? '' : `, mode: ${mode}`);
  const text = (modeA: string, bindA: string, modeB: string, bindB: string) =>
    two(bindA, bindB).replace(`"${bindA}"}`, `"${bindA}"${lst(modeA)}, routes: [{pool: web}]}`).replace(`b, bind: "${bindB}"}`, `b, bind: "${bindB}"${lst(modeB)}, routes: [{pool: web}]}`);

  it('lets a udp listener share an address and port with a tcp, http or redirect listener', () => {
    for (const other of ['tcp', 'http', 'redirect']) {
      ok(text('udp', '127.0.0.1:5353', other, '127.0.0.1:5353'));
      ok(text(other, '0.0.0.0:5353', 'udp', '127.0.0.1:5353'));
    }
  });

  it('refuses two udp listeners on one address and port, and two TCP-based ones', () => {
    assert.equal(
      only(text('udp', '127.0.0.1:5353', 'udp', '127.0.0.1:5353')),
      '3:21 listeners[1].bind: bind 127.0.0.1:5353 is already used by listeners[0] (127.0.0.1:5353): each udp listener needs its own address and port (it may share one with a listener of another mode)',
    );
    assert.equal(
      only(text('udp', ':5353', 'udp', '127.0.0.1:5353')),
      '3:21 listeners[1].bind: bind 127.0.0.1:5353 overlaps listeners[0] (:5353): each udp listener needs its own address and port (it may share one with a listener of another mode)',
    );
    assert.equal(
      only(text('tcp', '127.0.0.1:7000', 'redirect', '127.0.0.1:7000')),
      '3:21 listeners[1].bind: bind 127.0.0.1:7000 is already used by listeners[0] (127.0.0.1:7000): each listener needs its own address and port',
    );
  });

  it('says which protocol the DNS server shares with a listener on its address', () => {
    const dns = (mode: string) => `${text('tcp', '127.0.0.1:7000', mode, '127.0.0.1:5353')}dns:\n  listen: 127.0.0.1:5353\n  zones: [{origin: example.com}]\n`;
    assert.equal(only(dns('udp')), '7:11 dns.listen: 127.0.0.1:5353 is already used by listeners[1] (127.0.0.1:5353): the DNS server listens on UDP there too, so give it another address or port');
    assert.equal(only(dns('tcp')), '7:11 dns.listen: 127.0.0.1:5353 is already used by listeners[1] (127.0.0.1:5353): the DNS server listens on TCP there too, so give it another address or port');
  });
});

describe('layer 4: examples', () => {
  const dir = fileURLToPath(new URL('../../../examples/', import.meta.url));
  async function example(name: string): Promise<Config> {
    const { config, issues: found } = await loadConfigFile(join(dir, name));
    assert.deepEqual(found.map(formatIssue), []);
    return config!;
  }

  it('tcp.yaml balances TCP on 127.0.0.1:7000 over 127.0.0.1:5201, and routes TLS by SNI', async () => {
    const config = await example('tcp.yaml');
    const plain = config.listeners.find((l) => l.host === '127.0.0.1' && l.port === 7000)!;
    assert.equal(plain.mode, 'tcp');
    assert.deepEqual(plain.routes, [plainRoute('iperf', [], '')]);
    assert.deepEqual(
      config.pools.get('iperf')!.servers.map((s) => `${s.host}:${s.port}`),
      ['127.0.0.1:5201'],
    );
    const tls = config.listeners.find((l) => l.name === 'tls')!;
    assert.equal(tls.mode, 'tcp');
    assert.deepEqual(
      tls.routes.map((r) => [r.hosts, r.pool]),
      [
        [['www.example.com'], 'web-tls'],
        [['*.api.example.com'], 'api-tls'],
        [[], 'default-tls'],
      ],
    );
    assert.equal(config.pools.get('web-tls')!.sendProxy, 'v2');
    assert.deepEqual(config.listeners.find((l) => l.name === 'edge')!.proxyProtocol, { trusted: ['127.0.0.1/32'] });
  });

  it('udp.yaml relays syslog in sessions and DNS per packet, beside a tcp listener on the same port', async () => {
    const config = await example('udp.yaml');
    const byName = new Map(config.listeners.map((l) => [l.name, l]));
    assert.deepEqual(byName.get('syslog')!.udp, UDP_DEFAULTS);
    assert.deepEqual(byName.get('dns-udp')!.udp, { ...UDP_DEFAULTS, perPacket: true });
    assert.equal(byName.get('dns-tcp')!.mode, 'tcp');
    assert.equal(byName.get('dns-tcp')!.port, byName.get('dns-udp')!.port);
  });

  it('redirect.yaml sends clients to S1 and S2 by their public URLs with a 307', async () => {
    const config = await example('redirect.yaml');
    const l = config.listeners[0]!;
    assert.equal(l.mode, 'redirect');
    assert.deepEqual(l.redirect, { status: 307 });
    assert.deepEqual(
      config.pools.get(l.routes[0]!.pool!)!.servers.map((s) => `${s.name} ${s.url}`),
      ['S1 https://s1.example.com', 'S2 https://s2.example.com'],
    );
  });
});
