import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatIssue, loadConfigText } from '../../src/config/load.js';
import type { Config, ConfigIssue, HealthConfig, PoolConfig } from '../../src/config/types.js';
import { configOk, configIssues } from '../helpers/config.js';

const FILE = 'pools.yaml';

/** Lines 1..7: a listener routing everything to pool `web`, then `web:` itself. */
const HEAD = `listeners:
  - name: www
    bind: :8080
    routes:
      - pool: web
pools:
  web:
`;

/** A file whose pool `web` holds `lines`, indented under it: lines[0] is line 8, its key at column 5. */
function withPool(...lines: string[]): string {
  return HEAD + lines.map((l) => `    ${l}\n`).join('');
}

/** Two plain servers, for pools whose servers do not matter. */
const SERVERS = ['servers:', '  - address: 192.0.2.11:80', '  - address: 192.0.2.12:80'];

const ok = (text: string): Config => configOk(text, FILE);

function web(text: string): PoolConfig {
  return ok(text).pools.get('web')!;
}

/** Every issue as "LINE:COLUMN PATH: MESSAGE". */
const issues = (text: string): string[] => configIssues(text, FILE);

/** The single issue of a text, asserting there is exactly one. */
function only(text: string): ConfigIssue {
  const { issues: found, config } = loadConfigText(text, FILE);
  assert.equal(config, undefined);
  assert.equal(found.length, 1, found.map(formatIssue).join('\n'));
  return found[0]!;
}

/** [line, column, path] of the single issue, and its message. */
function at(text: string): [number, number, string, string] {
  const i = only(text);
  return [i.line, i.column, i.path, i.message];
}

const DEFAULT_HTTP = { method: 'GET', path: '/', host: null, expectStatus: [[200, 399]], bodyMatch: null };

describe('pools: defaults', () => {
  it('fills every new pool, server and listener default', () => {
    const config = ok(withPool(...SERVERS));
    assert.equal(config.listeners[0]!.maxConnections, 0);
    const pool = config.pools.get('web')!;
    assert.deepEqual(pool.hash, { source: 'ip' });
    assert.deepEqual(pool.sticky, { cookie: 'FULCRUM_SERVER', fallback: 'round-robin' });
    assert.equal(pool.health, null);
    assert.equal(pool.outlier, null);
    assert.equal(pool.slowStartMs, 0);
    assert.equal(pool.retries, 2);
    assert.deepEqual(pool.queue, { size: 0, timeoutMs: 5_000 });
    assert.deepEqual(pool.servers[1], {
      name: 's2',
      host: '192.0.2.12',
      port: 80,
      weight: 1,
      backup: false,
      maxConn: 0,
      checkHost: '192.0.2.12',
      checkPort: 80,
      url: 'http://192.0.2.12:80',
    });
    assert.equal(pool.sendProxy, null);
  });

  it('fills a health section with every default', () => {
    const expected: HealthConfig = {
      type: 'http',
      intervalMs: 2_000,
      fastIntervalMs: 500,
      jitter: 0.1,
      timeoutMs: 1_000,
      rise: 2,
      fall: 3,
      initial: 'up',
      http: DEFAULT_HTTP as HealthConfig['http'],
    };
    assert.deepEqual(web(withPool('health: {}', ...SERVERS)).health, expected);
    assert.deepEqual(web(withPool('health: {http: {}}', ...SERVERS)).health, expected);
  });

  it('derives fast_interval: interval / 4, at least 100ms, never above the interval', () => {
    const fast = (interval: string, timeout: string) => web(withPool(`health: {interval: ${interval}, timeout: ${timeout}}`, ...SERVERS)).health!.fastIntervalMs;
    assert.equal(fast('10s', '1s'), 2_500);
    assert.equal(fast('1s', '500ms'), 250);
    assert.equal(fast('200ms', '100ms'), 100);
    assert.equal(fast('90ms', '50ms'), 90);
    assert.equal(fast('1001ms', '1s'), 250);
  });

  it('fills an outlier section with every default', () => {
    assert.deepEqual(web(withPool('outlier: {}', ...SERVERS)).outlier, { consecutiveErrors: 5, baseEjectionMs: 30_000, maxEjectionPercent: 50, unejectOnActivePass: true });
  });

  it('does not share the default status list between pools', () => {
    const a = web(withPool('health: {}', ...SERVERS)).health!.http.expectStatus;
    const b = web(withPool('health: {}', ...SERVERS)).health!.http.expectStatus;
    assert.notEqual(a, b);
    assert.notEqual(a[0], b[0]);
  });
});

describe('pools: every new key', () => {
  it('normalises a pool that sets everything', () => {
    const pool = web(
      withPool(
        'balance: maglev',
        'hash: {header: X-User-Id}',
        'retries: 0',
        'slow_start: 1m30s',
        'queue: {size: 100, timeout: 250ms}',
        'send_proxy: v1',
        'health:',
        '  type: http',
        '  interval: 3s',
        '  fast_interval: 1s',
        '  jitter: 0',
        '  timeout: 2s',
        '  rise: 1',
        '  fall: 100',
        '  initial: down',
        '  http:',
        '    method: HEAD',
        '    path: /healthz?full=1',
        '    host: www.example.com:8080',
        '    expect_status: [200, "204", 300-302]',
        '    body_match: ok',
        'outlier: {consecutive_errors: 1000, base_ejection: 1s, max_ejection_percent: 0}',
        'servers:',
        '  - name: a',
        '    address: 192.0.2.11:80',
        '    max_conn: 1000000',
        '    check_port: 9101',
        '  - name: b',
        '    address: web-b.internal:80',
        '    weight: 0',
        '    backup: true',
        '    check_address: "[2001:db8::9]:9102"',
      ),
    );
    assert.deepEqual(pool, {
      name: 'web',
      balance: 'maglev',
      hash: { source: 'header', name: 'x-user-id' },
      sticky: { cookie: 'FULCRUM_SERVER', fallback: 'round-robin' },
      servers: [
        { name: 'a', host: '192.0.2.11', port: 80, weight: 1, backup: false, maxConn: 1_000_000, checkHost: '192.0.2.11', checkPort: 9101, url: 'http://192.0.2.11:80' },
        { name: 'b', host: 'web-b.internal', port: 80, weight: 0, backup: true, maxConn: 0, checkHost: '2001:db8::9', checkPort: 9102, url: 'http://web-b.internal:80' },
      ],
      keepalive: { maxIdle: 64, idleTimeoutMs: 4_000 },
      health: {
        type: 'http',
        intervalMs: 3_000,
        fastIntervalMs: 1_000,
        jitter: 0,
        timeoutMs: 2_000,
        rise: 1,
        fall: 100,
        initial: 'down',
        http: {
          method: 'HEAD',
          path: '/healthz?full=1',
          host: 'www.example.com:8080',
          expectStatus: [
            [200, 200],
            [204, 204],
            [300, 302],
          ],
          bodyMatch: 'ok',
        },
      },
      outlier: { consecutiveErrors: 1000, baseEjectionMs: 1_000, maxEjectionPercent: 0, unejectOnActivePass: true },
      slowStartMs: 90_000,
      retries: 0,
      queue: { size: 100, timeoutMs: 250 },
      sendProxy: 'v1',
      tls: null,
      protocol: 'http1',
      http2: { maxStreams: 100, pingIntervalMs: 30_000 },
    });
  });

  it('reads every hash source', () => {
    const hash = (h: string) => web(withPool('balance: maglev', `hash: ${h}`, ...SERVERS)).hash;
    assert.deepEqual(hash('ip'), { source: 'ip' });
    assert.deepEqual(hash('path'), { source: 'path' });
    assert.deepEqual(hash('{header: X-Tenant}'), { source: 'header', name: 'x-tenant' });
    assert.deepEqual(hash('{cookie: SessionID}'), { source: 'cookie', name: 'SessionID' });
    assert.deepEqual(hash('{query: user}'), { source: 'query', name: 'user' });
    assert.deepEqual(hash('\n      header: X-Tenant'), { source: 'header', name: 'x-tenant' });
  });

  it('reads sticky settings', () => {
    assert.deepEqual(web(withPool('balance: sticky', 'sticky: {cookie: srv_id}', ...SERVERS)).sticky, { cookie: 'srv_id', fallback: 'round-robin' });
    assert.deepEqual(web(withPool('balance: sticky', 'sticky: {fallback: least-conn}', ...SERVERS)).sticky, { cookie: 'FULCRUM_SERVER', fallback: 'least-conn' });
    assert.equal(web(withPool('balance: sticky', ...SERVERS)).balance, 'sticky');
  });

  it('accepts every balance algorithm', () => {
    for (const balance of ['round-robin', 'random', 'least-conn', 'maglev', 'sticky', 'first']) {
      const pool = web(withPool(`balance: ${balance}`, 'servers:', '  - {address: "192.0.2.11:80", max_conn: 5}', '  - address: 192.0.2.12:80'));
      assert.equal(pool.balance, balance);
    }
  });

  it('reads slow_start, with 0 allowed without a unit', () => {
    for (const [text, ms] of [['0', 0], ['0s', 0], ['"0"', 0], ['500ms', 500], ['30s', 30_000]] as const) {
      assert.equal(web(withPool(`slow_start: ${text}`, ...SERVERS)).slowStartMs, ms, text);
    }
  });

  it('reads a tcp check, and expect_status as a single value', () => {
    const tcp = web(withPool('health: {type: tcp, rise: 3}', ...SERVERS)).health!;
    assert.equal(tcp.type, 'tcp');
    assert.equal(tcp.rise, 3);
    assert.deepEqual(tcp.http, DEFAULT_HTTP);
    assert.deepEqual(web(withPool('health: {http: {expect_status: 204}}', ...SERVERS)).health!.http.expectStatus, [[204, 204]]);
    assert.deepEqual(web(withPool('health: {http: {expect_status: "200 - 299"}}', ...SERVERS)).health!.http.expectStatus, [[200, 299]]);
  });

  it('reads listener max_connections', () => {
    const config = ok(withPool(...SERVERS).replace('    bind: :8080\n', '    bind: :8080\n    max_connections: 5000\n'));
    assert.equal(config.listeners[0]!.maxConnections, 5000);
  });
});

describe('pools: unknown keys suggest the nearest', () => {
  it('in every new mapping, pointing at the key', () => {
    const cases: Array<[string[], number, number, string, string]> = [
      [['slowstart: 1s', ...SERVERS], 8, 5, 'pools.web.slowstart', 'slow_start'],
      [['retires: 1', ...SERVERS], 8, 5, 'pools.web.retires', 'retries'],
      [['balance: sticky', 'sticky: {coookie: a}', ...SERVERS], 9, 14, 'pools.web.sticky.coookie', 'cookie'],
      [['queue: {size: 1, timout: 1s}', 'servers: [{address: "192.0.2.11:80", max_conn: 1}]'], 8, 22, 'pools.web.queue.timout', 'timeout'],
      [['health:', '  intervall: 5s', ...SERVERS], 9, 7, 'pools.web.health.intervall', 'interval'],
      [['health:', '  fastinterval: 5s', ...SERVERS], 9, 7, 'pools.web.health.fastinterval', 'fast_interval'],
      [['health:', '  http:', '    expected_status: [200]', ...SERVERS], 10, 9, 'pools.web.health.http.expected_status', 'expect_status'],
      [['health:', '  http: {bodymatch: ok}', ...SERVERS], 9, 14, 'pools.web.health.http.bodymatch', 'body_match'],
      [['outlier: {max_ejection_percentage: 10}', ...SERVERS], 8, 15, 'pools.web.outlier.max_ejection_percentage', 'max_ejection_percent'],
      [['balance: maglev', 'hash: {headers: X-A}', ...SERVERS], 9, 12, 'pools.web.hash.headers', 'header'],
      [['servers:', '  - address: 192.0.2.11:80', '    max_con: 5'], 10, 9, 'pools.web.servers[0].max_con', 'max_conn'],
      [['servers:', '  - address: 192.0.2.11:80', '    checkport: 9000'], 10, 9, 'pools.web.servers[0].checkport', 'check_port'],
      [['servers:', '  - address: 192.0.2.11:80', '    backpu: true'], 10, 9, 'pools.web.servers[0].backpu', 'backup'],
    ];
    for (const [lines, line, column, path, hint] of cases) {
      const key = path.split('.').at(-1)!;
      assert.deepEqual(at(withPool(...lines)), [line, column, path, `unknown key \`${key}\`; did you mean \`${hint}\`?`], path);
    }
  });

  it('for listener max_connections', () => {
    const text = withPool(...SERVERS).replace('    bind: :8080\n', '    bind: :8080\n    max_conections: 10\n');
    assert.deepEqual(at(text), [4, 5, 'listeners[0].max_conections', 'unknown key `max_conections`; did you mean `max_connections`?']);
  });

  it('lists the pool keys when nothing is close', () => {
    assert.equal(
      only(withPool('algorithm: random', ...SERVERS)).message,
      'unknown key `algorithm` (expected one of: `balance`, `hash`, `sticky`, `servers`, `health`, `outlier`, `slow_start`, `retries`, `queue`, `keepalive`, `send_proxy`, `tls`, `protocol`, `http2`)',
    );
  });
});

describe('pools: bad values', () => {
  it('lists every balance algorithm', () => {
    assert.deepEqual(at(withPool('balance: stiky', ...SERVERS)), [
      8,
      14,
      'pools.web.balance',
      'expected one of `round-robin`, `random`, `least-conn`, `maglev`, `sticky`, `first`, got the string "stiky"; did you mean `sticky`?',
    ]);
  });

  it('explains hash mistakes', () => {
    const hash = (h: string) => at(withPool('balance: maglev', `hash: ${h}`, ...SERVERS));
    const expected = 'expected ip, path, or a mapping such as {header: X-User-Id}, {cookie: session} or {query: user}';
    assert.deepEqual(hash('IP'), [9, 11, 'pools.web.hash', `${expected}, got the string "IP"; did you mean \`ip\`?`]);
    assert.deepEqual(hash('url'), [9, 11, 'pools.web.hash', `${expected}, got the string "url"`]);
    assert.deepEqual(hash('[ip]'), [9, 11, 'pools.web.hash', `${expected}, got a list`]);
    assert.deepEqual(hash('{}'), [9, 11, 'pools.web.hash', `${expected}, got an empty mapping`]);
    assert.deepEqual(hash('header'), [9, 11, 'pools.web.hash', "hashing by header needs the header's name: write {header: X-User-Id}"]);
    assert.deepEqual(hash('{header: X-A, cookie: b}'), [9, 25, 'pools.web.hash.cookie', 'hash takes a single source: `header` is already given, so remove one of them']);
    assert.deepEqual(hash('{header: "X A"}'), [9, 20, 'pools.web.hash.header', 'invalid header name "X A": use letters, digits and !#$%&\'*+-.^_`|~, without spaces or ":"']);
    assert.deepEqual(hash('{cookie: "a=b"}'), [9, 20, 'pools.web.hash.cookie', 'invalid cookie name "a=b": a cookie name (RFC 6265) is letters, digits and !#$%&\'*+-.^_`|~, without spaces, "=", ";" or ","']);
    assert.deepEqual(hash('{query: "a&b"}'), [9, 19, 'pools.web.hash.query', 'invalid query parameter name "a&b": give the name alone, without spaces, "&", "=", "#" or "?"']);
    assert.deepEqual(hash('{header: 5}'), [9, 20, 'pools.web.hash.header', 'expected a header name such as "X-User-Id", got 5']);
  });

  it('checks sticky values', () => {
    assert.deepEqual(at(withPool('balance: sticky', 'sticky: {cookie: "my cookie"}', ...SERVERS)).slice(0, 3), [9, 22, 'pools.web.sticky.cookie']);
    assert.deepEqual(at(withPool('balance: sticky', 'sticky: {fallback: maglev}', ...SERVERS)), [
      9,
      24,
      'pools.web.sticky.fallback',
      'expected one of `round-robin`, `random`, `least-conn`, got the string "maglev"',
    ]);
    assert.match(only(withPool('balance: sticky', 'sticky: {fallback: roundrobin}', ...SERVERS)).message, /did you mean `round-robin`\?$/);
  });

  it('checks integer ranges of the new keys', () => {
    const cases: Array<[string[], number, number, string, string]> = [
      [['retries: 11', ...SERVERS], 8, 14, 'pools.web.retries', 'must be an integer from 0 to 10, got 11'],
      [['retries: -1', ...SERVERS], 8, 14, 'pools.web.retries', 'must be an integer from 0 to 10, got -1'],
      [['queue: {size: 100001}', ...SERVERS], 8, 19, 'pools.web.queue.size', 'must be an integer from 0 to 100000, got 100001'],
      [['health: {rise: 0}', ...SERVERS], 8, 20, 'pools.web.health.rise', 'must be an integer from 1 to 100, got 0'],
      [['health: {fall: 101}', ...SERVERS], 8, 20, 'pools.web.health.fall', 'must be an integer from 1 to 100, got 101'],
      [['outlier: {consecutive_errors: 0}', ...SERVERS], 8, 35, 'pools.web.outlier.consecutive_errors', 'must be an integer from 1 to 1000, got 0'],
      [['outlier: {max_ejection_percent: 100.5}', ...SERVERS], 8, 37, 'pools.web.outlier.max_ejection_percent', 'must be an integer from 0 to 100, got 100.5'],
      [['servers:', '  - address: 192.0.2.11:80', '    max_conn: 1000001'], 10, 19, 'pools.web.servers[0].max_conn', 'must be an integer from 0 to 1000000, got 1000001'],
      [['servers:', '  - address: 192.0.2.11:80', '    check_port: 0'], 10, 21, 'pools.web.servers[0].check_port', 'must be an integer from 1 to 65535, got 0'],
    ];
    for (const [lines, line, column, path, message] of cases) assert.deepEqual(at(withPool(...lines)), [line, column, path, message], path);
    const listener = withPool(...SERVERS).replace('    bind: :8080\n', '    bind: :8080\n    max_connections: -5\n');
    assert.deepEqual(at(listener), [4, 22, 'listeners[0].max_connections', 'must be an integer 0 or more, got -5']);
  });

  it('checks the other new values', () => {
    const cases: Array<[string[], number, number, string, string | RegExp]> = [
      [['slow_start: 30', ...SERVERS], 8, 17, 'pools.web.slow_start', /^duration 30 needs a unit/],
      [['queue: {timeout: 0}', ...SERVERS], 8, 22, 'pools.web.queue.timeout', /^a timeout of 0 would expire at once/],
      [['health: {type: htp}', ...SERVERS], 8, 20, 'pools.web.health.type', 'expected one of `http`, `tcp`, `grpc`, got the string "htp"; did you mean `http`?'],
      [['health: {interval: 0}', ...SERVERS], 8, 24, 'pools.web.health.interval', /^an interval of 0 would check without pause/],
      [['health: {jitter: 1.5}', ...SERVERS], 8, 22, 'pools.web.health.jitter', 'must be a number from 0 to 1, got 1.5'],
      [['health: {initial: dwn}', ...SERVERS], 8, 23, 'pools.web.health.initial', 'expected one of `up`, `down`, got the string "dwn"; did you mean `down`?'],
      [['health:', ...SERVERS], 8, 5, 'pools.web.health', 'expected a mapping, got an empty value'],
      [['health: {http: {method: "GET /"}}', ...SERVERS], 8, 29, 'pools.web.health.http.method', /^invalid method "GET \/": a method is a single word/],
      [['health: {http: {path: healthz}}', ...SERVERS], 8, 27, 'pools.web.health.http.path', 'check path "healthz" must start with "/"'],
      [['health: {http: {path: "/a b"}}', ...SERVERS], 8, 27, 'pools.web.health.http.path', 'check path "/a b" may not contain spaces, control characters or "#"'],
      [['health: {http: {host: "*.example.com"}}', ...SERVERS], 8, 27, 'pools.web.health.http.host', /a wildcard is not allowed/],
      [['health: {http: {body_match: ""}}', ...SERVERS], 8, 33, 'pools.web.health.http.body_match', 'an empty body_match matches every body: leave it out instead'],
      [['health: {http: {expect_status: []}}', ...SERVERS], 8, 36, 'pools.web.health.http.expect_status', /^the status list is empty/],
      [['outlier: {base_ejection: 0}', ...SERVERS], 8, 30, 'pools.web.outlier.base_ejection', /^an ejection of 0 would end at once/],
      [['servers:', '  - address: 192.0.2.11:80', '    backup: yes'], 10, 17, 'pools.web.servers[0].backup', 'expected true or false, got the string "yes"'],
      [['servers:', '  - address: 192.0.2.11:80', '    check_address: 192.0.2.11'], 10, 24, 'pools.web.servers[0].check_address', /^"192.0.2.11": missing port/],
    ];
    for (const [lines, line, column, path, message] of cases) {
      const [l, c, p, m] = at(withPool(...lines));
      assert.deepEqual([l, c, p], [line, column, path], `${path}: ${m}`);
      if (typeof message === 'string') assert.equal(m, message);
      else assert.match(m, message);
    }
  });

  it('checks expect_status element by element', () => {
    assert.deepEqual(issues(withPool('health:', '  http:', '    expect_status: [200, 399-300, 2xx, 700, "abc", 204-]', ...SERVERS)), [
      '10:30 pools.web.health.http.expect_status[1]: the range "399-300" goes backwards: write the lower status first, e.g. "300-399"',
      '10:39 pools.web.health.http.expect_status[2]: write the class "2xx" as the range "200-299"',
      '10:44 pools.web.health.http.expect_status[3]: status 700 is out of range: expected 100 to 599',
      '10:49 pools.web.health.http.expect_status[4]: expected a status such as 200 or a range such as "200-399", got the string "abc"',
      '10:56 pools.web.health.http.expect_status[5]: expected a status such as 200 or a range such as "200-399", got the string "204-"',
    ]);
  });
});

describe('pools: cross-checks', () => {
  it('wants max_conn on every server of balance: first but the last', () => {
    const text = withPool(
      'balance: first',
      'servers:',
      '  - address: 192.0.2.11:80', // line 10: no max_conn
      '  - address: 192.0.2.12:80', // line 11
      '    max_conn: 0', // line 12: explicit 0
      '  - address: 192.0.2.13:80', // line 13: the last may go without
    );
    const why = 'needs a max_conn above 0: without one it takes every request and the servers after it are never used (only the last server may go without)';
    assert.deepEqual(issues(text), [
      `10:9 pools.web.servers[0]: balance: first fills each server up to its max_conn before using the next, so server \`s1\` ${why}`,
      `12:19 pools.web.servers[1].max_conn: balance: first fills each server up to its max_conn before using the next, so server \`s2\` ${why}`,
    ]);
    assert.ok(ok(withPool('balance: first', 'servers:', '  - {address: "192.0.2.11:80", max_conn: 10}', '  - {address: "192.0.2.12:80", max_conn: 10}', '  - address: 192.0.2.13:80')));
    // One server: nothing comes after it.
    assert.ok(ok(withPool('balance: first', 'servers: [{address: "192.0.2.11:80"}]')));
  });

  it('balance: first counts primaries and backups apart, and skips drained servers', () => {
    // The last primary and the last backup may each go without; a weight-0 server is never picked.
    assert.ok(
      ok(
        withPool(
          'balance: first',
          'servers:',
          '  - {address: "192.0.2.11:80", max_conn: 10}',
          '  - {address: "192.0.2.12:80"}',
          '  - {address: "192.0.2.13:80", weight: 0}',
          '  - {address: "192.0.2.14:80", backup: true, max_conn: 5}',
          '  - {address: "192.0.2.15:80", backup: true}',
        ),
      ),
    );
    const backups = withPool('balance: first', 'servers:', '  - {address: "192.0.2.11:80"}', '  - {name: b1, address: "192.0.2.14:80", backup: true}', '  - {address: "192.0.2.15:80", backup: true}');
    assert.deepEqual(at(backups), [
      11,
      9,
      'pools.web.servers[1]',
      'balance: first fills each server up to its max_conn before using the next, so server `b1` needs a max_conn above 0: without one it takes every request and the servers after it are never used (only the last backup server may go without)',
    ]);
  });

  it('refuses hash unless balance is maglev', () => {
    assert.deepEqual(at(withPool('hash: {header: X-A}', ...SERVERS)), [
      8,
      5,
      'pools.web.hash',
      'hash is used only by balance: maglev, and this pool uses round-robin (the default): remove `hash` or set `balance: maglev`',
    ]);
    assert.deepEqual(at(withPool('balance: sticky', 'hash: ip', ...SERVERS)), [
      9,
      5,
      'pools.web.hash',
      'hash is used only by balance: maglev, and this pool uses sticky: remove `hash` or set `balance: maglev`',
    ]);
  });

  it('refuses sticky unless balance is sticky', () => {
    assert.deepEqual(at(withPool('balance: maglev', 'sticky: {cookie: srv}', ...SERVERS)), [
      9,
      5,
      'pools.web.sticky',
      'sticky is used only by balance: sticky, and this pool uses maglev: remove `sticky` or set `balance: sticky`',
    ]);
  });

  it('does not add a cross-check to a balance the schema refuses', () => {
    const issue = only(withPool('balance: maglv', 'hash: path', ...SERVERS));
    assert.equal(issue.path, 'pools.web.balance');
  });

  it('refuses a pool of backups only', () => {
    assert.deepEqual(at(withPool('servers:', '  - {address: "192.0.2.11:80", backup: true}', '  - {address: "192.0.2.12:80", backup: true}')), [
      9,
      7,
      'pools.web.servers',
      'every server of pool `web` is a backup, and backups take requests only while no primary server is usable, so none ever would: make at least one server a primary (leave out `backup` or set `backup: false`)',
    ]);
    assert.match(only(withPool('servers: [{address: "192.0.2.11:80", backup: true}]')).message, /^the only server of pool `web` is a backup/);
    assert.ok(ok(withPool('servers:', '  - {address: "192.0.2.11:80", backup: false}', '  - {address: "192.0.2.12:80", backup: true}')));
  });

  it('refuses a queue that can never fill', () => {
    assert.deepEqual(at(withPool('queue: {size: 10}', ...SERVERS)), [
      8,
      19,
      'pools.web.queue.size',
      'no server of pool `web` sets max_conn, so this queue can never fill: requests wait in it only while every usable server is at its max_conn; set max_conn on the servers, or leave out the queue',
    ]);
    assert.ok(ok(withPool('queue: {size: 10}', 'servers:', '  - {address: "192.0.2.11:80", max_conn: 100}', '  - address: 192.0.2.12:80')));
    assert.ok(ok(withPool('queue: {size: 0, timeout: 1s}', ...SERVERS)));
  });

  it('refuses check_address together with check_port', () => {
    assert.deepEqual(at(withPool('servers:', '  - address: 192.0.2.11:80', '    check_address: 192.0.2.11:9000', '    check_port: 9001')), [
      11,
      5 + 4,
      'pools.web.servers[0].check_port',
      "give check_address or check_port, not both: check_port sends the health checks to another port of the server's own host, check_address to another host and port",
    ]);
  });

  it('wants the check timeout no longer than the interval, and defaults it to fit', () => {
    const why = 'each check must end, or time out, before the next one is due';
    assert.deepEqual(at(withPool('health: {interval: 1s, timeout: 1500ms}', ...SERVERS)), [8, 37, 'pools.web.health.timeout', `timeout (1s500ms) must not be longer than interval (1s): ${why}`]);
    assert.deepEqual(at(withPool('health: {timeout: 2500ms}', ...SERVERS)), [
      8,
      23,
      'pools.web.health.timeout',
      `timeout (2s500ms) must not be longer than interval (2s, the default): ${why}`,
    ]);
    // A timeout equal to the interval is fine (HAProxy's default), and without one the
    // timeout is 1s or the interval when that is shorter.
    assert.deepEqual(loadConfigText(withPool('health: {interval: 1s, timeout: 1s}', ...SERVERS), 'test.yaml').issues, []);
    const short = loadConfigText(withPool('health:', '  interval: 800ms', ...SERVERS), 'test.yaml');
    assert.equal(short.config!.pools.get('web')!.health!.timeoutMs, 800);
    // A bad interval is reported once, by the schema.
    assert.equal(only(withPool('health: {interval: 1x, timeout: 5s}', ...SERVERS)).path, 'pools.web.health.interval');
  });

  it('wants fast_interval no longer than interval', () => {
    assert.deepEqual(at(withPool('health: {fast_interval: 3s}', ...SERVERS)), [
      8,
      29,
      'pools.web.health.fast_interval',
      "fast_interval (3s) must not be longer than interval (2s, the default): it is the quicker pace used while a server's state is changing",
    ]);
    assert.equal(web(withPool('health: {fast_interval: 2s}', ...SERVERS)).health!.fastIntervalMs, 2_000);
  });

  it('refuses http settings on a tcp check', () => {
    assert.deepEqual(at(withPool('health:', '  type: tcp', '  http: {path: /ping}', ...SERVERS)), [
      10,
      7,
      'pools.web.health.http',
      '`http` settings apply only to type: http checks, and this check is type: tcp: remove `http` or set `type: http`',
    ]);
  });

  it('reports every pool problem at once, in file order', () => {
    const text = withPool(
      'balance: first', // 8
      'hash: ip', // 9
      'sticky: {cookie: x}', // 10
      'queue: {size: 5}', // 11
      'health: {type: tcp, interval: 500ms, timeout: 600ms, http: {}}', // 12
      'servers:', // 13
      '  - {address: "192.0.2.11:80", backup: true}', // 14
      '  - {address: "192.0.2.12:80", backup: true, check_port: 1, check_address: "192.0.2.12:2"}', // 15
    );
    assert.deepEqual(
      issues(text).map((i) => i.split(': ')[0]),
      [
        '9:5 pools.web.hash',
        '10:5 pools.web.sticky',
        '11:19 pools.web.queue.size',
        '12:51 pools.web.health.timeout',
        '12:58 pools.web.health.http',
        '14:7 pools.web.servers',
        '14:9 pools.web.servers[0]',
        '15:50 pools.web.servers[1].check_port',
      ],
    );
  });
});

describe('health.tls', () => {
  const pool = (lines: string) => `listeners:
  - { name: www, bind: "127.0.0.1:0", routes: [{ pool: web }] }
pools:
  web:
    servers: [{ address: 192.0.2.10:443 }]
${lines}`;
  it('is refused without the pool\'s tls, and with type tcp', () => {
    const noTls = configIssues(pool('    health: { type: http, tls: true }\n'), FILE);
    assert.ok(noTls.some((i) => /pools\.web\.health\.tls: health\.tls sends the checks with the pool's `tls` settings, and this pool has no `tls`/.test(i)), noTls.join('\n'));
    const tcp = configIssues(pool('    tls: { verify: false }\n    health: { type: tcp, tls: true }\n'), FILE);
    assert.ok(tcp.some((i) => /pools\.web\.health\.tls: health\.tls is for type http checks of HTTP\/1\.1 pools, and type tcp checks only connect/.test(i)), tcp.join('\n'));
    const c = configOk(pool('    tls: { verify: false }\n    health: { type: http, tls: false }\n'), FILE);
    assert.equal(c.pools.get('web')!.health!.tls, false);
    assert.equal(configOk(pool('    tls: { verify: false }\n    health: { type: http }\n'), FILE).pools.get('web')!.health!.tls, undefined, 'absent: the pool decides');
  });
});
