import { plainRoute } from '../../src/config/listeners/route.js';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { formatIssue, loadConfigFile, loadConfigText } from '../../src/config/load.js';
import type { Config, ConfigIssue } from '../../src/config/types.js';
import { configOk } from '../helpers/config.js';

const FILE = 'test.yaml';

/** Issues as "LINE:COLUMN PATH" strings, for exact position checks. */
function where(text: string): string[] {
  return loadConfigText(text, FILE).issues.map((i) => `${i.line}:${i.column} ${i.path}`);
}

/** The single issue of a text, asserting there is exactly one. */
function only(text: string): ConfigIssue {
  const { issues, config } = loadConfigText(text, FILE);
  assert.equal(config, undefined);
  assert.equal(issues.length, 1, issues.map(formatIssue).join('\n'));
  return issues[0]!;
}

const ok = (text: string): Config => configOk(text, FILE);

/** A valid file: one listener on :8080 routing everything to pool web. */
const MINIMAL = `listeners:
  - name: www
    bind: :8080
    routes:
      - pool: web
pools:
  web:
    servers:
      - address: 192.0.2.11:80
      - address: 192.0.2.12:80
`;

describe('loadConfigText: defaults and normalisation', () => {
  it('fills in every default', () => {
    const timeouts = { headerMs: 10_000, keepAliveMs: 60_000, connectMs: 5_000, serverMs: 60_000, clientMs: 60_000, bodyMs: 30_000 };
    const limits = { headerBytes: 16_384, urlBytes: 8_192, headerCount: 100, bodyMinRate: 500 };
    const expected: Config = {
      source: FILE,
      listeners: [
        {
          name: 'www',
          host: '0.0.0.0',
          port: 8080,
          mode: 'http',
          routes: [plainRoute('web')],
          forwarded: { headers: 'x-forwarded', trusted: [], via: true },
          noRoute: { status: 404, body: 'no route for this host and path\n' },
          access: { allow: null, deny: null },
          timeouts,
          limits,
          maxConnections: 0,
          maxConnectionsPerClient: null,
          newConnectionsPerClient: null,
          proxyProtocol: null,
          accessLog: null,
          requestId: null,
          redirect: { status: 307 },
          tcp: { idleMs: 300_000, helloTimeoutMs: 5_000 },
          udp: { sessionIdleMs: 30_000, maxSessions: 10_000, perPacket: false },
          tls: null,
          http2: { enabled: true, h2c: false, maxConcurrentStreams: 100, initialStreamWindow: 65_536, initialConnectionWindow: 1_048_576, maxHeaderListSize: null },
          httpsRedirect: null,
          hsts: null,
          errorPages: {},
          compression: null,
        },
      ],
      pools: new Map([
        [
          'web',
          {
            name: 'web',
            balance: 'round-robin',
            hash: { source: 'ip' },
            sticky: { cookie: 'FULCRUM_SERVER', fallback: 'round-robin' },
            servers: [
              { name: 's1', host: '192.0.2.11', port: 80, weight: 1, backup: false, maxConn: 0, checkHost: '192.0.2.11', checkPort: 80, url: 'http://192.0.2.11:80' },
              { name: 's2', host: '192.0.2.12', port: 80, weight: 1, backup: false, maxConn: 0, checkHost: '192.0.2.12', checkPort: 80, url: 'http://192.0.2.12:80' },
            ],
            keepalive: { maxIdle: 64, idleTimeoutMs: 4_000 },
            health: null,
            outlier: null,
            slowStartMs: 0,
            retries: 2,
            queue: { size: 0, timeoutMs: 5_000 },
            sendProxy: null,
            tls: null,
            protocol: 'http1',
            http2: { maxStreams: 100, pingIntervalMs: 30_000 },
          },
        ],
      ]),
      timeouts,
      limits,
      dns: null,
      runtime: { workers: 'auto', drainMs: 300_000, shutdownMs: 10_000, controlSocket: null, user: null },
      logging: { level: 'info', format: 'auto' },
      vrrp: null,
      bgp: null,
      services: [],
      admin: null,
    };
    assert.deepEqual(ok(MINIMAL), expected);
  });

  it('does not share the default trusted list between listeners', () => {
    const config = ok(MINIMAL);
    const again = ok(MINIMAL);
    assert.notEqual(config.listeners[0]!.forwarded.trusted, again.listeners[0]!.forwarded.trusted);
  });

  it('parses binds, hosts, paths, forwarded and merges listener overrides over the globals', () => {
    const config = ok(`listeners:
  - name: v6
    bind: "[::1]:0"
    routes:
      - host: [WWW.Example.COM:8080, "*.Example.com", "[2001:DB8::1]:80"]
        path: /api/
        pool: api
      - host: static.example.com
        pool: web
    forwarded: {headers: both, trusted: [10.0.0.0/8, 192.0.2.1, "2001:DB8::/32"], via: false}
    no_route: {status: 503}
    timeouts: {server: 2m}
    limits: {header_count: 50}
  - name: local
    bind: localhost:0
    routes: [{pool: web}]
pools:
  web:
    servers: [{address: "web.internal:8080", weight: 0}]
  api:
    balance: least-conn
    servers:
      - {name: a, address: "[2001:db8::2]:443", weight: 256}
    keepalive: {max_idle: 0, idle_timeout: 1m30s}
timeouts: {header: 5s, client: 250ms}
limits: {header_size: 32KiB}
`);
    const [v6, local] = config.listeners;
    assert.equal(v6!.host, '::1');
    assert.equal(v6!.port, 0);
    assert.equal(local!.host, 'localhost');
    assert.deepEqual(v6!.routes, [
      plainRoute('api', ['www.example.com', '*.example.com', '[2001:db8::1]'], '/api/'),
      plainRoute('web', ['static.example.com'], ''),
    ]);
    assert.deepEqual(v6!.forwarded, { headers: 'both', trusted: ['10.0.0.0/8', '192.0.2.1/32', '2001:db8::/32'], via: false });
    assert.deepEqual(v6!.noRoute, { status: 503, body: 'no route for this host and path\n' });
    assert.deepEqual(config.timeouts, { headerMs: 5_000, keepAliveMs: 60_000, connectMs: 5_000, serverMs: 60_000, clientMs: 250, bodyMs: 30_000 });
    assert.deepEqual(v6!.timeouts, { ...config.timeouts, serverMs: 120_000 });
    assert.deepEqual(local!.timeouts, config.timeouts);
    assert.deepEqual(config.limits, { headerBytes: 32_768, urlBytes: 8_192, headerCount: 100, bodyMinRate: 500 });
    assert.deepEqual(v6!.limits, { ...config.limits, headerCount: 50 });
    assert.deepEqual(config.pools.get('web')!.servers, [
      { name: 's1', host: 'web.internal', port: 8080, weight: 0, backup: false, maxConn: 0, checkHost: 'web.internal', checkPort: 8080, url: 'http://web.internal:8080' },
    ]);
    assert.deepEqual(config.pools.get('api'), {
      name: 'api',
      balance: 'least-conn',
      hash: { source: 'ip' },
      sticky: { cookie: 'FULCRUM_SERVER', fallback: 'round-robin' },
      servers: [{ name: 'a', host: '2001:db8::2', port: 443, weight: 256, backup: false, maxConn: 0, checkHost: '2001:db8::2', checkPort: 443, url: 'http://[2001:db8::2]:443' }],
      keepalive: { maxIdle: 0, idleTimeoutMs: 90_000 },
      health: null,
      outlier: null,
      slowStartMs: 0,
      retries: 2,
      queue: { size: 0, timeoutMs: 5_000 },
      sendProxy: null,
      tls: null,
      protocol: 'http1',
      http2: { maxStreams: 100, pingIntervalMs: 30_000 },
    });
  });

  it('keeps pools in file order, even names that look like numbers', () => {
    const config = ok(`${MINIMAL}  "2":
    servers: [{address: "192.0.2.13:80"}]
  "1":
    servers: [{address: "192.0.2.14:80"}]
`);
    assert.deepEqual([...config.pools.keys()], ['web', '2', '1']);
  });

  it('accepts YAML anchors and merge keys', () => {
    const config = ok(`${MINIMAL}  copy:
    <<: &shared {balance: random}
    servers: [{address: "192.0.2.13:80"}]
`);
    assert.equal(config.pools.get('copy')!.balance, 'random');
  });

  it('ignores a byte-order mark', () => {
    const issue = only(`\uFEFFlisteners: []\npools: {}\n`);
    assert.equal(`${issue.line}:${issue.column}`, '1:12');
  });
});

describe('loadConfigText: YAML errors', () => {
  it('reports syntax errors with positions and stops there', () => {
    const { issues, config } = loadConfigText('listeners: [1, 2\npools: {web\nbogus: 1\n', FILE);
    assert.equal(config, undefined);
    assert.deepEqual(
      issues.map((i) => `${i.line}:${i.column} ${i.path}`),
      ['2:1 ', '3:1 '],
    );
    assert.match(issues[0]!.message, /Flow sequence .* end with a \]/);
  });

  it('reports duplicate keys', () => {
    const issue = only(`${MINIMAL}listeners: []\n`);
    assert.deepEqual([issue.line, issue.column, issue.path], [11, 1, '']);
    assert.match(issue.message, /Map keys must be unique/);
  });

  it('explains an unquoted wildcard host, which YAML reads as an alias', () => {
    const issue = only(MINIMAL.replace('      - pool: web', '      - host: *.example.com\n        pool: web'));
    assert.deepEqual([issue.line, issue.column], [5, 15]);
    assert.equal(issue.message, 'alias `*.example.com` has no anchor `&.example.com` before it; to write a wildcard host, quote it: "*.example.com"');
  });

  it('refuses a list or a mapping as a key', () => {
    const issue = only(`${MINIMAL}  ? [a, b]\n  : {servers: [{address: "192.0.2.13:80"}]}\n`);
    assert.deepEqual([issue.line, issue.column, issue.path], [11, 5, '']);
    assert.match(issue.message, /a key must be a plain value/);
  });

  it('refuses several documents in one file', () => {
    const issue = only(`${MINIMAL}---\nlisteners: []\n`);
    assert.equal(issue.line, 11);
    assert.match(issue.message, /more than one YAML document/);
  });

  it('reports an empty file (or one with only comments) at line 0', () => {
    for (const text of ['', '# nothing yet\n']) {
      const issue = only(text);
      assert.deepEqual([issue.line, issue.column, issue.path], [0, 0, '']);
      assert.match(issue.message, /holds no configuration/);
    }
  });

  it('wants a mapping at the top', () => {
    const issue = only('- listeners\n');
    assert.deepEqual([issue.line, issue.column, issue.path, issue.message], [1, 1, '', 'expected a mapping, got a list']);
  });
});

describe('loadConfigText: schema errors', () => {
  it('suggests the nearest key for an unknown key, pointing at the key', () => {
    const issue = only(MINIMAL.replace('    bind: :8080', '    bind: :8080\n    tmeouts: {server: 1s}'));
    assert.deepEqual([issue.line, issue.column, issue.path], [4, 5, 'listeners[0].tmeouts']);
    assert.equal(issue.message, 'unknown key `tmeouts`; did you mean `timeouts`?');
  });

  it('suggests across case and underscores', () => {
    const issue = only(`${MINIMAL}limits:\n  headerSize: 1KiB\n`);
    assert.equal(issue.path, 'limits.headerSize');
    assert.equal(issue.message, 'unknown key `headerSize`; did you mean `header_size`?');
  });

  it('lists the allowed keys when nothing is close', () => {
    const issue = only(`${MINIMAL}workers: 4\n`);
    assert.deepEqual([issue.line, issue.column, issue.path], [11, 1, 'workers']);
    assert.equal(issue.message, 'unknown key `workers` (expected one of: `listeners`, `pools`, `timeouts`, `limits`, `dns`, `runtime`, `logging`, `vrrp`, `services`, `admin`, `bgp`)');
  });

  it('points a missing key at the map that lacks it', () => {
    const issue = only(MINIMAL.replace('    bind: :8080\n', ''));
    assert.deepEqual([issue.line, issue.column, issue.path], [2, 5, 'listeners[0].bind']);
    assert.equal(issue.message, 'missing required key `bind`');
    const top = only('listeners:\n  - {name: www, bind: ":8080", routes: [{pool: web}]}\n');
    assert.deepEqual([top.line, top.column, top.path, top.message], [1, 1, 'pools', 'missing required key `pools`']);
  });

  it('points an empty value at its key', () => {
    const issue = only(MINIMAL.replace('bind: :8080', 'bind:'));
    assert.deepEqual([issue.line, issue.column, issue.path], [3, 5, 'listeners[0].bind']);
    assert.equal(issue.message, 'expected HOST:PORT such as "127.0.0.1:8080" or ":8080", got an empty value');
  });

  it('names the expected and the actual type', () => {
    const issue = only(MINIMAL.replace('    routes:\n      - pool: web', '    routes: {pool: web}'));
    assert.deepEqual([issue.line, issue.column, issue.path, issue.message], [4, 13, 'listeners[0].routes', 'expected a list, got a mapping']);
    const via = only(MINIMAL.replace('    bind: :8080', '    bind: :8080\n    forwarded: {via: "yes"}'));
    assert.deepEqual([via.line, via.column, via.path, via.message], [4, 22, 'listeners[0].forwarded.via', 'expected true or false, got the string "yes"']);
  });

  it('suggests the nearest value of an enum', () => {
    const issue = only(MINIMAL.replace('  web:\n', '  web:\n    balance: roundrobin\n'));
    assert.deepEqual([issue.line, issue.column, issue.path], [8, 14, 'pools.web.balance']);
    assert.equal(issue.message, 'expected one of `round-robin`, `random`, `least-conn`, `maglev`, `sticky`, `first`, got the string "roundrobin"; did you mean `round-robin`?');
  });

  it('checks weights are integers from 0 to 256', () => {
    for (const [weight, got] of [['300', '300'], ['1.5', '1.5'], ['-1', '-1'], ['"2"', 'the string "2"']] as const) {
      const issue = only(MINIMAL.replace('      - address: 192.0.2.12:80', `      - address: 192.0.2.12:80\n        weight: ${weight}`));
      assert.deepEqual([issue.line, issue.column, issue.path], [11, 17, 'pools.web.servers[1].weight']);
      assert.equal(issue.message, `must be an integer from 0 to 256, got ${got}`);
    }
  });

  it('checks ports: 0..65535 for binds, 1..65535 for servers', () => {
    assert.equal(only(MINIMAL.replace(':8080', ':70000')).message, 'port 70000 in ":70000" is out of range: expected 0 to 65535');
    assert.ok(ok(MINIMAL.replace(':8080', ':0')));
    const zero = only(MINIMAL.replace('192.0.2.12:80', '192.0.2.12:0'));
    assert.deepEqual([zero.line, zero.column, zero.path], [10, 18, 'pools.web.servers[1].address']);
    assert.match(zero.message, /port 0 .* cannot be connected to/);
  });

  it('checks bind and address forms', () => {
    const cases: Array<[string, RegExp]> = [
      ['127.0.0.1', /missing port; write HOST:PORT/],
      ['::1:8080', /reads as an IPv6 address without a port/],
      ['"[::1:8080"', /missing "\]"/],
      ['300.1.1.1:80', /not a valid IPv4 address/],
      ['bad_host!:80', /neither an IP address nor a valid host name/],
      ['127.0.0.1:http', /invalid port "http"/],
    ];
    for (const [bind, message] of cases) {
      const issue = only(MINIMAL.replace('bind: :8080', `bind: ${bind}`));
      assert.equal(issue.path, 'listeners[0].bind');
      assert.match(issue.message, message);
    }
  });

  it('checks no_route status codes: 200 to 599, and never a bodiless 204 or 304', () => {
    for (const status of [99, 101, 600]) {
      const issue = only(MINIMAL.replace('    bind: :8080', `    bind: :8080\n    no_route: {status: ${status}}`));
      assert.deepEqual([issue.line, issue.column, issue.path], [4, 24, 'listeners[0].no_route.status']);
      assert.equal(issue.message, `must be an integer from 200 to 599, got ${status}`);
    }
    const noBody = only(MINIMAL.replace('    bind: :8080', '    bind: :8080\n    no_route: {status: 204}'));
    assert.match(noBody.message, /cannot be 204 or 304/);
  });

  it('refuses a zero timeout', () => {
    const issue = only(MINIMAL + 'timeouts: {keepalive: 0}\n');
    assert.equal(issue.path, 'timeouts.keepalive');
    assert.match(issue.message, /positive duration/);
  });

  it('needs at least one listener, route and server', () => {
    assert.deepEqual(where('listeners: []\npools: {}\n'), ['1:12 listeners']);
    assert.deepEqual(where(MINIMAL.replace('    routes:\n      - pool: web', '    routes: []')), ['4:13 listeners[0].routes']);
    const noServers = only(MINIMAL.replace(/    servers:\n.*\n.*\n/, '    servers: []\n'));
    assert.deepEqual([noServers.line, noServers.column, noServers.path], [8, 14, 'pools.web.servers']);
    assert.match(noServers.message, /a pool needs at least one server/);
  });

  it('checks durations and sizes with their units', () => {
    assert.deepEqual(where(`${MINIMAL}timeouts: {header: 10, server: 2x}\nlimits: {url_size: 8 KB, header_size: lots}\n`), [
      '11:20 timeouts.header',
      '11:32 timeouts.server',
      '12:39 limits.header_size',
    ]);
    assert.match(only(`${MINIMAL}timeouts: {header: 10}\n`).message, /duration 10 needs a unit/);
  });

  it('checks route hosts, paths and trusted CIDRs element by element', () => {
    assert.deepEqual(
      where(
        MINIMAL.replace(
          '      - pool: web',
          '      - host: [ok.example.com, "a.*.com", "*"]\n        path: api\n        pool: web\n    forwarded: {trusted: [10.1.0.0/8, 10.0.0.0/33]}',
        ),
      ),
      ['5:32 listeners[0].routes[0].host[1]', '5:43 listeners[0].routes[0].host[2]', '6:15 listeners[0].routes[0].path', '8:27 listeners[0].forwarded.trusted[0]', '8:39 listeners[0].forwarded.trusted[1]'],
    );
  });
});

describe('loadConfigText: host patterns', () => {
  it('explains host pattern mistakes', () => {
    const message = (host: string) => only(MINIMAL.replace('      - pool: web', `      - host: ${host}\n        pool: web`)).message;
    assert.equal(message('"*"'), '"*" alone is not a host pattern: leave out `host` to match every host');
    assert.equal(message('[]'), 'the host list is empty: leave out `host` to match every host');
    assert.match(message('example.com.'), /without the trailing dot/);
    assert.match(message('"a.*.com"'), /only allowed as the whole first label/);
  });
});

describe('loadConfigText: cross-checks', () => {
  it('suggests the nearest pool for an unknown route pool', () => {
    const issue = only(MINIMAL.replace('- pool: web', '- pool: wbe'));
    assert.deepEqual([issue.line, issue.column, issue.path], [5, 15, 'listeners[0].routes[0].pool']);
    assert.equal(issue.message, 'no pool named `wbe`; did you mean `web`?');
    assert.equal(only(MINIMAL.replace('- pool: web', '- pool: images')).message, 'no pool named `images` (pools: `web`)');
  });

  it('wants unique listener names and binds, except port 0', () => {
    const second = `  - name: www\n    bind: 0.0.0.0:8080\n    routes: [{pool: web}]\n`;
    const text = MINIMAL.replace('pools:', `${second}pools:`);
    assert.deepEqual(where(text), ['6:11 listeners[1].name', '7:11 listeners[1].bind']);
    const [name, bind] = loadConfigText(text, FILE).issues;
    assert.equal(name!.message, 'duplicate listener name `www`: listeners[0] already uses it');
    assert.equal(bind!.message, 'bind 0.0.0.0:8080 is already used by listeners[0] (:8080): each listener needs its own address and port');
    assert.match(only(MINIMAL.replace('pools:', `  - {name: b, bind: "[::]:8080", routes: [{pool: web}]}\npools:`)).message, /overlaps listeners\[0\]/);
    const ephemeral = MINIMAL.replace(':8080', '127.0.0.1:0').replace('pools:', `  - {name: b, bind: "127.0.0.1:0", routes: [{pool: web}]}\npools:`);
    assert.equal(ok(ephemeral).listeners.length, 2);
  });

  it('wants unique server names within a pool, counting default names', () => {
    const explicit = only(MINIMAL.replace('      - address: 192.0.2.12:80', '      - address: 192.0.2.12:80\n        name: s1'));
    assert.deepEqual([explicit.line, explicit.column, explicit.path], [11, 15, 'pools.web.servers[1].name']);
    assert.equal(explicit.message, 'duplicate server name `s1` in pool `web`: servers[0] already uses it as its default name; give each server a distinct `name`');
    const defaulted = only(MINIMAL.replace('      - address: 192.0.2.11:80', '      - address: 192.0.2.11:80\n        name: s2'));
    assert.deepEqual([defaulted.line, defaulted.column, defaulted.path], [11, 9, 'pools.web.servers[1]']);
    assert.match(defaulted.message, /`s2` \(its default name\)/);
    // The same name in two pools is fine.
    assert.ok(ok(`${MINIMAL}  other:\n    servers: [{address: "192.0.2.13:80"}]\n`));
  });

  it('refuses pool names that would not work as identifiers, at the key', () => {
    const issue = only(`${MINIMAL}  "my pool":\n    servers: [{address: "192.0.2.13:80"}]\n`);
    assert.deepEqual([issue.line, issue.column, issue.path], [11, 3, 'pools["my pool"]']);
    assert.match(issue.message, /invalid pool name "my pool"/);
  });

  it('reports a route hidden by an earlier one', () => {
    const text = MINIMAL.replace(
      '      - pool: web',
      '      - host: "*.example.com"\n        pool: web\n      - host: www.example.com\n        path: /api/\n        pool: web',
    );
    const issue = only(text);
    assert.deepEqual([issue.line, issue.column, issue.path], [7, 9, 'listeners[0].routes[1]']);
    assert.match(issue.message, /can never match: listeners\[0\]\.routes\[0\] comes first/);
    // A more specific route first is fine.
    assert.ok(ok(MINIMAL.replace('      - pool: web', '      - path: /api/\n        pool: web\n      - pool: web')));
  });

  it('wants url_size below header_size', () => {
    const issue = only(`${MINIMAL}limits: {header_size: 4KiB}\n`);
    assert.deepEqual([issue.line, issue.column, issue.path], [11, 23, 'limits.header_size']);
    assert.equal(issue.message, 'url_size (8192 bytes) must be smaller than header_size (4096 bytes): the request line is part of the head');
  });
});

describe('loadConfigText: every problem at once', () => {
  it('reports schema errors and cross-checks together, in file order', () => {
    const text = `listeners:
  - name: www
    bind: 127.0.0.1:8080
    routes:
      - pool: wbe
  - name: www
    bnd: :9090
pools:
  web:
    balance: roundrobin
    servers:
      - address: 192.0.2.11:80
        weight: 300
workers: 2
`;
    const lines = loadConfigText(text, 'lb.yaml').issues.map(formatIssue);
    assert.deepEqual(lines, [
      'lb.yaml:5:15: listeners[0].routes[0].pool: no pool named `wbe`; did you mean `web`?',
      'lb.yaml:6:5: listeners[1].bind: missing required key `bind`',
      'lb.yaml:6:5: listeners[1].routes: missing required key `routes`',
      'lb.yaml:6:11: listeners[1].name: duplicate listener name `www`: listeners[0] already uses it',
      'lb.yaml:7:5: listeners[1].bnd: unknown key `bnd`; did you mean `bind`?',
      'lb.yaml:10:14: pools.web.balance: expected one of `round-robin`, `random`, `least-conn`, `maglev`, `sticky`, `first`, got the string "roundrobin"; did you mean `round-robin`?',
      'lb.yaml:13:17: pools.web.servers[0].weight: must be an integer from 0 to 256, got 300',
      'lb.yaml:14:1: workers: unknown key `workers` (expected one of: `listeners`, `pools`, `timeouts`, `limits`, `dns`, `runtime`, `logging`, `vrrp`, `services`, `admin`, `bgp`)',
    ]);
  });
});

describe('loadConfigFile and formatIssue', () => {
  it('loads a file and names it as the source', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'fulcrum-config-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const path = join(dir, 'lb.yaml');
    await writeFile(path, MINIMAL);
    const { config, issues } = await loadConfigFile(path);
    assert.deepEqual(issues, []);
    assert.equal(config!.source, path);
  });

  it('reports a missing file as one issue at line 0', async () => {
    const { config, issues } = await loadConfigFile('/nonexistent/fulcrum.yaml');
    assert.equal(config, undefined);
    assert.deepEqual(issues, [
      { file: '/nonexistent/fulcrum.yaml', line: 0, column: 0, path: '', message: 'cannot read the configuration file: no such file' },
    ]);
    assert.equal(formatIssue(issues[0]!), '/nonexistent/fulcrum.yaml: cannot read the configuration file: no such file');
  });

  it('reports a directory as unreadable', async () => {
    const { issues } = await loadConfigFile(tmpdir());
    assert.equal(issues[0]!.message, 'cannot read the configuration file: it is a directory');
  });

  it('formats FILE:LINE:COLUMN: PATH: MESSAGE', () => {
    assert.equal(formatIssue({ file: 'a.yaml', line: 3, column: 7, path: 'pools.web', message: 'bad' }), 'a.yaml:3:7: pools.web: bad');
    assert.equal(formatIssue({ file: 'a.yaml', line: 3, column: 7, path: '', message: 'bad' }), 'a.yaml:3:7: bad');
  });
});

describe('examples/', () => {
  it('every example loads without an issue (but https.yaml\'s certificates, which live on the machine)', async () => {
    const dir = fileURLToPath(new URL('../../../examples/', import.meta.url));
    const files = (await readdir(dir)).filter((f) => /\.ya?ml$/.test(f));
    for (const name of ['seed.yaml', 'routing.yaml', 'health.yaml', 'algorithms.yaml', 'tcp.yaml', 'udp.yaml', 'redirect.yaml']) assert.ok(files.includes(name), `${name} not in ${files.join(', ')}`);
    for (const f of files) {
      const { issues } = await loadConfigFile(join(dir, f));
      const machineFiles = (i: (typeof issues)[number]) => f === 'https.yaml' && /\/etc\/fulcrum\/\S+: no such file$/.test(i.message);
      assert.deepEqual(issues.filter((i) => !machineFiles(i)).map(formatIssue), [], f);
    }
  });

  it('the seed balances www.example.com over S1 and S2 with round robin', async () => {
    const dir = fileURLToPath(new URL('../../../examples/', import.meta.url));
    const { config } = await loadConfigFile(join(dir, 'seed.yaml'));
    const web = config!.pools.get('web')!;
    assert.equal(web.balance, 'round-robin');
    assert.deepEqual(
      web.servers.map((s) => `${s.name}=${s.host}:${s.port}`),
      ['S1=192.0.2.11:80', 'S2=192.0.2.12:80'],
    );
    assert.deepEqual(config!.listeners[0]!.routes[0]!.hosts, ['www.example.com', 'example.com']);
  });

  it('the health example checks / every second on 127.0.0.1:9001 and :9002, with retries and outlier detection', async () => {
    const dir = fileURLToPath(new URL('../../../examples/', import.meta.url));
    const { config } = await loadConfigFile(join(dir, 'health.yaml'));
    assert.deepEqual([config!.listeners[0]!.host, config!.listeners[0]!.port], ['127.0.0.1', 8080]);
    const web = config!.pools.get('web')!;
    assert.deepEqual(
      web.servers.map((s) => `${s.host}:${s.port}`),
      ['127.0.0.1:9001', '127.0.0.1:9002'],
    );
    assert.equal(web.retries, 2);
    assert.ok(web.outlier);
    const health = web.health!;
    assert.deepEqual(
      [health.type, health.intervalMs, health.rise, health.fall, health.http.method, health.http.path],
      ['http', 1_000, 2, 2, 'GET', '/'],
    );
  });

  it('the algorithms example shows maglev by header, sticky, first with max_conn and a queue, a backup and slow start', async () => {
    const dir = fileURLToPath(new URL('../../../examples/', import.meta.url));
    const { config } = await loadConfigFile(join(dir, 'algorithms.yaml'));
    const pools = [...config!.pools.values()];
    assert.deepEqual(
      pools.map((p) => p.balance),
      ['maglev', 'sticky', 'first', 'round-robin'],
    );
    assert.deepEqual(pools[0]!.hash, { source: 'header', name: 'x-user-id' });
    assert.ok(pools[2]!.servers[0]!.maxConn > 0 && pools[2]!.queue.size > 0);
    assert.ok(pools.some((p) => p.servers.some((s) => s.backup)));
    assert.ok(pools.some((p) => p.slowStartMs > 0));
  });
});
