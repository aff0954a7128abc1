/**
 * Route rules at the edge, over HTTP/1.1 and HTTP/2 alike (one exchange applies them):
 * matching by method, header, query parameter, client network, path regex and priority;
 * weighted splits; path rewrites; request and response header rules; redirects and
 * direct answers; allow and deny lists.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NO_OPENSSL } from '../helpers/certs.js';
import type { Echo } from '../helpers/backends.js';
import { h2Request, h2Session, httpsRequest } from '../helpers/http-client.js';
import { policyProxy } from '../helpers/proxies.js';
import { tempDir } from '../helpers/files.js';
import bcrypt from 'bcryptjs';

const skip = NO_OPENSSL;

test('route rules hold the same over HTTP/1.1 and HTTP/2', { skip }, async (t) => {
  const proxy = await policyProxy(
    t,
    () => `    routes:
      - name: api
        path: /api/
        pool: web
        rewrite: { strip_prefix: true }
        request_headers: { set: { X-Route: "\${route} for \${client_ip} over \${tls_version}" }, remove: [X-Secret] }
        response_headers: { set: { X-Frame-Options: DENY }, remove: [X-Served-By] }
      - { path: /admin/, pool: web, allow: [192.0.2.0/24] }
      - { path: /open/, pool: web, deny: [127.0.0.0/8] }
      - { path: /healthz, respond: { status: 200, body: "ok\\n" } }
      - { path: /old/, redirect: { status: 301, prefix: /new/ } }
      - { path: /v1/, pool: web, rewrite: { regex: "^/v1/(.*)$", replace: "/legacy?page=$1" } }
      - { priority: 10, headers: [{ name: X-Canary, exact: "1" }], pool: canary }
      - { path: /form, methods: [POST], pool: canary }
      - { query: [{ name: debug, present: true }], pool: canary }
      - { path_regex: "^/items/[0-9]+$", pool: canary }
      - { path: /split/, split: [{ pool: web, weight: 0 }, { pool: canary, weight: 1 }] }
      - { path: /sticky/, split: [{ pool: web, weight: 1 }, { pool: canary, weight: 1 }], split_by: { header: X-User } }
      - pool: web`,
  );
  const session = await h2Session(t, proxy.port);
  type Got = { status: number; headers: Record<string, string | string[] | undefined>; body: string };
  const both = async (path: string, opts: { method?: string; headers?: Record<string, string> } = {}): Promise<[Got, Got]> => {
    const h1 = await httpsRequest(proxy.port, { path, method: opts.method, headers: opts.headers, body: opts.method === 'POST' ? 'x' : undefined });
    const h2 = await h2Request(session, { ':path': path, ':method': opts.method ?? 'GET', ...opts.headers }, opts.method === 'POST' ? 'x' : undefined);
    return [
      { status: h1.status, headers: h1.headers, body: h1.body.toString() },
      { status: h2.status, headers: h2.headers as Got['headers'], body: h2.body.toString() },
    ];
  };
  const served = (g: Got) => (g.body.startsWith('{') ? (JSON.parse(g.body) as Echo) : null);

  for (const g of await both('/api/users?id=7', { headers: { 'x-secret': 'hush' } })) {
    const echo = served(g)!;
    assert.equal(echo.name, 'web');
    assert.equal(echo.url, '/users?id=7', 'the prefix is stripped, the query kept');
    assert.match(String(echo.headers['x-route']), /^api for 127\.0\.0\.1 over TLSv1\.3$/);
    assert.equal(echo.headers['x-secret'], undefined, 'removed before the server');
    assert.equal(g.headers['x-frame-options'], 'DENY');
    assert.equal(g.headers['x-served-by'], undefined, 'removed from the response');
  }
  for (const g of await both('/admin/panel')) assert.equal(g.status, 403, 'loopback is not in 192.0.2.0/24');
  for (const g of await both('/open/x')) assert.equal(g.status, 403, 'loopback is denied');
  for (const g of await both('/healthz')) assert.deepEqual([g.status, g.body], [200, 'ok\n']);
  for (const g of await both('/old/a/b?c=1')) {
    assert.equal(g.status, 301);
    assert.equal(g.headers.location, 'https://www.example.com/new/a/b?c=1');
  }
  for (const g of await both('/v1/12')) assert.equal(served(g)!.url, '/legacy?page=12');
  for (const g of await both('/api/x', { headers: { 'x-canary': '1' } })) assert.equal(served(g)!.name, 'canary', 'priority 10 comes before /api/');
  for (const g of await both('/form', { method: 'POST' })) assert.equal(served(g)!.name, 'canary');
  for (const g of await both('/form')) assert.equal(served(g)!.name, 'web', 'GET is not in methods');
  for (const g of await both('/page?debug')) assert.equal(served(g)!.name, 'canary');
  for (const g of await both('/items/42')) assert.equal(served(g)!.name, 'canary');
  for (const g of await both('/items/x')) assert.equal(served(g)!.name, 'web');
  for (const g of await both('/split/x')) assert.equal(served(g)!.name, 'canary', 'weight 0 gets nothing');
  // the same X-User always gets the same pool
  for (const user of ['alice', 'bob', 'carol', 'dave']) {
    const names = new Set<string>();
    for (let i = 0; i < 3; i++) for (const g of await both('/sticky/x', { headers: { 'x-user': user } })) names.add(served(g)!.name);
    assert.equal(names.size, 1, `${user} stays on one pool`);
  }
  session.close();
});

test('a listener\'s access list refuses a client before any route', { skip }, async (t) => {
  const proxy = await policyProxy(t, () => '    access: { allow: [192.0.2.0/24, 198.51.100.0/24] }\n    routes: [{ pool: web }]');
  const r = await httpsRequest(proxy.port, { path: '/' });
  assert.equal(r.status, 403);
  assert.equal(proxy.instance.counters().servers[0]!.total, 0, 'nothing reached the server');
});

test('basic authentication from an htpasswd file of bcrypt hashes, over HTTP/1.1 and HTTP/2', { skip }, async (t) => {
  const dir = tempDir('fulcrum-auth-', t);
  const htpasswd = dir.write('htpasswd', `# users\nalice:${bcrypt.hashSync('wonderland', 4)}\n`);
  const proxy = await policyProxy(
    t,
    () => `    routes:
      - { path: /private/, pool: web, basic_auth: { realm: Staff, htpasswd: "${htpasswd}" } }
      - { path: /status, respond: { status: 200, body: "fine\\n" }, basic_auth: { htpasswd: "${htpasswd}" } }
      - pool: web`,
  );
  const session = await h2Session(t, proxy.port);
  const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
  for (const [auth, want] of [
    [undefined, 401],
    [basic('alice', 'nope'), 401],
    [basic('bob', 'wonderland'), 401],
    ['Bearer x', 401],
    [basic('alice', 'wonderland'), 200],
    [basic('alice', 'wonderland'), 200],
  ] as const) {
    const headers: Record<string, string> = auth === undefined ? {} : { authorization: auth };
    const h1 = await httpsRequest(proxy.port, { path: '/private/x', headers });
    const h2 = await h2Request(session, { ':path': '/private/x', ...headers });
    for (const r of [h1, h2]) {
      assert.equal(r.status, want, `${auth}`);
      if (want === 401) assert.equal(r.headers['www-authenticate'], 'Basic realm="Staff", charset="UTF-8"');
    }
  }
  const ok = await httpsRequest(proxy.port, { path: '/status', headers: { authorization: basic('alice', 'wonderland') } });
  assert.deepEqual([ok.status, ok.body.toString()], [200, 'fine\n']);
  assert.equal((await httpsRequest(proxy.port, { path: '/status' })).status, 401);
  session.close();
});

test('routes by the TLS server name (SNI) over HTTP/1.1 and HTTP/2, whatever the Host header says', { skip }, async (t) => {
  const proxy = await policyProxy(
    t,
    () => `    routes:
      - { sni: "*.internal.example.com", pool: canary }
      - { sni: api.example.com, path: /v1/, pool: canary }
      - pool: web`,
  );
  const name = (body: Buffer | string) => (JSON.parse(body.toString()) as Echo).name;
  const cases: Array<[string, string, string]> = [
    ['db.internal.example.com', '/', 'canary'],
    ['api.example.com', '/v1/x', 'canary'],
    ['api.example.com', '/v2/x', 'web'],
    ['www.example.com', '/v1/x', 'web'],
  ];
  for (const [servername, path, want] of cases) {
    const h1 = await httpsRequest(proxy.port, { servername, path, host: 'www.example.com' });
    assert.equal(name(h1.body), want, `HTTP/1.1 with SNI ${servername} ${path}`);
    const session = await h2Session(t, proxy.port, { servername });
    const h2 = await h2Request(session, { ':path': path, ':authority': 'www.example.com' });
    assert.equal(name(h2.body), want, `HTTP/2 with SNI ${servername} ${path}`);
    session.close();
  }
});

