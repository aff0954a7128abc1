/** The route rules in the configuration: what a route may say, and the problems `fulcrum check` reports. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { configIssues, configOk } from '../helpers/config.js';

const file = (routes: string, mode = 'http', more = '') => `listeners:
  - name: www
    bind: 127.0.0.1:0
    mode: ${mode}
    routes:
${routes}
${more}pools:
  web: { servers: [{ address: 192.0.2.11:80 }] }
  canary: { servers: [{ address: 192.0.2.12:80 }] }
`;

describe('route rules in the configuration', () => {
  it('reads matching, targets and rules into their normal forms', () => {
    const c = configOk(
      file(`      - name: api
        path: /api/
        methods: [get, Post]
        headers: [{ name: X-Canary, exact: "1" }, { name: Authorization, present: false }]
        query: [{ name: debug, regex: "^(1|true)$" }]
        client: 192.0.2.0/24
        priority: 5
        split: [{ pool: web, weight: 90 }, { pool: canary, weight: 10 }]
        split_by: { cookie: session }
        rewrite: { prefix: /v2/ }
        request_headers: { set: { X-Route: "\${route}" }, remove: [X-Debug] }
        response_headers: { add: { X-Frame-Options: DENY } }
        deny: [192.0.2.9]
      - { path: /health, respond: { status: 204 } }
      - { path: /old/, redirect: { status: 308, scheme: https, host: new.example.com } }
      - pool: web`),
      'r.yaml',
    );
    const [api, health, old] = c.listeners[0]!.routes;
    assert.deepEqual(api!.methods, ['GET', 'POST']);
    assert.deepEqual(api!.headers, [
      { name: 'x-canary', kind: 'exact', value: '1' },
      { name: 'authorization', kind: 'absent' },
    ]);
    assert.deepEqual(api!.query, [{ name: 'debug', kind: 'regex', value: '^(1|true)$' }]);
    assert.deepEqual(api!.clients, ['192.0.2.0/24']);
    assert.deepEqual(api!.split, { pools: [{ pool: 'web', weight: 90 }, { pool: 'canary', weight: 10 }], by: { kind: 'cookie', name: 'session' } });
    assert.deepEqual(api!.rewrite, { kind: 'prefix', to: '/v2/' });
    assert.deepEqual(api!.requestHeaders, { set: [['X-Route', '${route}']], add: [], remove: ['x-debug'] });
    assert.deepEqual(api!.deny, ['192.0.2.9/32']);
    assert.equal(api!.pool, null);
    assert.deepEqual(health!.respond, { status: 204, body: '', contentType: 'text/plain; charset=utf-8' });
    assert.deepEqual(old!.redirect, { status: 308, scheme: 'https', host: 'new.example.com', port: null, path: null, prefix: null });
  });

  it('says what is wrong, where', () => {
    const issues = configIssues(
      file(`      - { path: /a/, pool: web, respond: { status: 200 } }
      - { path: /b/ }
      - { path: /c/, split: [{ pool: nope, weight: 1 }] }
      - { path: /d/, pool: web, headers: [{ name: X-A, exact: "1", present: true }] }
      - { path: /e/, pool: web, request_headers: { set: { X-A: "\${nope}" } } }
      - { path: /f/, pool: web, path_regex: "(" }
      - { path: /g/, pool: web, rewrite: { regex: "^/g/" } }
      - pool: web
      - { path: /h/, pool: web }
      - { path: /i/, pool: canary, priority: 1, methods: [GET] }`),
      'r.yaml',
    );
    const has = (re: RegExp) => assert.ok(issues.some((i) => re.test(i)), `${re} in:\n${issues.join('\n')}`);
    has(/routes\[0\]: a route takes one of `pool`, `split`, `redirect` or `respond`, not `pool` and `respond`/);
    has(/routes\[1\]: a route needs one of `pool`, `split`, `redirect` or `respond`/);
    has(/routes\[2\]\.split\[0\]\.pool: no pool named `nope`/);
    has(/routes\[3\]\.headers\[0\]: give exactly one of `exact`, `prefix`, `regex` or `present`/);
    has(/routes\[4\]\.request_headers\.set\.X-A: unknown variable \$\{nope\}/);
    has(/routes\[5\]\.path_regex: not a valid regular expression/);
    has(/routes\[6\]\.rewrite: `regex` and `replace` go together/);
    has(/routes\[8\]: this route can never match: listeners\[0\]\.routes\[7\] comes first/);
    assert.ok(!issues.some((i) => /routes\[9\]: this route can never match/.test(i)), 'a route with priority 1 and a condition is tried first and shadows nothing');
  });

  it('tcp routes read no HTTP', () => {
    const issues = configIssues(file('      - { pool: web, methods: [GET], allow: [192.0.2.0/24] }', 'tcp', '    access: { deny: [192.0.2.1] }\n'), 'r.yaml');
    assert.ok(issues.some((i) => /routes\[0\]\.methods: `methods` reads or answers HTTP/.test(i)), issues.join('\n'));
    assert.ok(issues.some((i) => /routes\[0\]\.allow: `allow` reads or answers HTTP/.test(i)), issues.join('\n'));
    assert.ok(issues.some((i) => /listeners\[0\]\.access: `access` answers refused clients with 403/.test(i)), issues.join('\n'));
  });

  it('reads rate limits, per-client connection limits and SNI, and says what is wrong with them', () => {
    const c = configOk(
      file(`      - { path: /a/, pool: web, rate_limit: { rate: 600/m } }
      - { path: /b/, pool: web, rate_limit: { rate: 0.5, burst: 4, key: { header: X-Api-Key } } }
      - pool: web`, 'http', '    max_connections_per_client: 20\n    new_connections_per_client: 5/s\n'),
      'r.yaml',
    );
    const [a, b] = c.listeners[0]!.routes;
    assert.deepEqual(a!.rateLimit, { perSecond: 10, burst: 10, key: { kind: 'client' } });
    assert.deepEqual(b!.rateLimit, { perSecond: 0.5, burst: 4, key: { kind: 'header', name: 'x-api-key' } });
    assert.equal(c.listeners[0]!.maxConnectionsPerClient, 20);
    assert.equal(c.listeners[0]!.newConnectionsPerClient, 5);

    const issues = configIssues(
      file(`      - { path: /a/, pool: web, rate_limit: { rate: 10/fortnight } }
      - { path: /b/, pool: web, rate_limit: { rate: 10/s, key: ip } }
      - pool: web`, 'http', '    new_connections_per_client: -1\n    max_connections_per_client: 5\n    proxy_protocol: { trusted: [192.0.2.1] }\n'),
      'r.yaml',
    );
    const has = (re: RegExp) => assert.ok(issues.some((i) => re.test(i)), `${re} in:\n${issues.join('\n')}`);
    has(/^6:\d+ listeners\[0\]\.routes\[0\]\.rate_limit\.rate: expected a rate such as "10\/s"/);
    has(/listeners\[0\]\.routes\[1\]\.rate_limit\.key: expected client, route or \{header: NAME\}/);
    has(/listeners\[0\]\.new_connections_per_client: a rate must be above 0/);
    has(/listeners\[0\]\.max_connections_per_client: max_connections_per_client counts connections by their source address at accept, and with `proxy_protocol`/);

    const plain = configIssues(file('      - { pool: web, sni: api.example.com }'), 'r.yaml');
    assert.ok(plain.some((i) => /routes\[0\]\.sni: `sni` is the TLS server name a client sends, and this listener has no `tls`/.test(i)), plain.join('\n'));
    const tcp = configIssues(file('      - { pool: web, rate_limit: { rate: 1/s } }', 'tcp'), 'r.yaml');
    assert.ok(tcp.some((i) => /routes\[0\]\.rate_limit: `rate_limit` reads or answers HTTP/.test(i)), tcp.join('\n'));
    const udp = configIssues(file('      - { pool: web }', 'udp', '    max_connections_per_client: 2\n'), 'r.yaml');
    assert.ok(udp.some((i) => /listeners\[0\]\.max_connections_per_client: max_connections_per_client counts TCP connections/.test(i)), udp.join('\n'));
  });
});
