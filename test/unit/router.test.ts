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
