import assert from 'node:assert/strict';
import { test } from 'node:test';
import { hostName, Router } from '../../src/proxy/http/router.js';
import { plainRoute } from '../../src/config/listeners/route.js';

test('routes match exact and wildcard hosts, path prefixes, first match wins', () => {
  const r = new Router(
    [
      plainRoute('api', ['www.example.com'], '/api/'),
      plainRoute('web', ['www.example.com'], ''),
      plainRoute('wild', ['*.example.com'], ''),
      plainRoute('static', [], '/static/'),
    ],
    (r) => r.pool!,
  );
  assert.equal(r.match('www.example.com', '/api/x'), 'api');
  assert.equal(r.match('WWW.Example.COM:8080', '/'), 'web');
  assert.equal(r.match('a.example.com', '/'), 'wild');
  assert.equal(r.match('example.com', '/'), undefined);
  assert.equal(r.match('other', '/static/a.css'), 'static');
  assert.equal(r.match(undefined, '/'), undefined);
  assert.equal(r.match('other', 'http://www.example.com/api/v1'), 'api');
});

test('host names lose port, brackets stay for IPv6, trailing dot goes', () => {
  assert.equal(hostName('Example.com.:80'), 'example.com');
  assert.equal(hostName('[::1]:8080'), '[::1]');
});

test('routes found through their hosts are tried in the same order as a plain scan (random tables)', () => {
  const hosts = ['a.example.com', 'b.example.com', 'c.example.com', '*.example.com', '*.b.example.com'];
  const paths = ['', '/api/', '/api/v1/', '/static/'];
  let seed = 7;
  const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
  for (let table = 0; table < 200; table++) {
    const routes = Array.from({ length: 1 + rnd(12) }, (_v, i) => {
      const names = rnd(4) === 0 ? [] : Array.from({ length: 1 + rnd(2) }, () => hosts[rnd(hosts.length)]!);
      return { ...plainRoute(`r${i}`, [...new Set(names)], paths[rnd(paths.length)]!), priority: rnd(3) - 1 };
    });
    const r = new Router(routes, (x) => x.pool!);
    const order = routes.map((x, i) => ({ x, i })).sort((p, q) => q.x.priority - p.x.priority || p.i - q.i).map((p) => p.x);
    for (const host of ['a.example.com', 'x.b.example.com', 'example.com', 'c.example.com:80', 'other']) {
      for (const path of ['/', '/api/v1/x', '/static/s.css', '/api/']) {
        const name = hostName(host);
        const want = order.find((x) => {
          const hostOk = x.hosts.length === 0 || x.hosts.some((h) => (h.startsWith('*.') ? name.endsWith(h.slice(1)) && name.length > h.length - 1 : h === name));
          return hostOk && path.startsWith(x.pathPrefix);
        })?.pool;
        assert.equal(r.match(host, path), want, `table ${table}: ${host}${path}`);
      }
    }
  }
});
