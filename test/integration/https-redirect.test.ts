/**
 * HTTP to HTTPS: a plain listener with `https_redirect` answers what no route matches
 * with 301 or 308 to the same URL over HTTPS (curl as the client), keeps the connection,
 * and still proxies the routes it has (an ACME challenge path).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import net from 'node:net';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { LOOPBACK } from '../helpers/ports.js';
import { SocketReader, h2Request, h2Session } from '../helpers/http-client.js';
import { echoBackend, type Echo } from '../helpers/backends.js';
import { proxyFor } from '../helpers/proxies.js';
import { findBinary } from '../helpers/spawn.js';

const run = promisify(execFile);
const skip = findBinary('curl') === undefined ? 'curl is not installed (Debian package curl)' : false;

function yaml(redirect: string, routes: string, backend: number): string {
  return [
    'listeners:',
    '  - name: http',
    '    bind: 127.0.0.1:0',
    `    https_redirect: ${redirect}`,
    '    http2: { h2c: true }',
    ...(routes === '' ? [] : [`    routes: ${routes}`]),
    'pools:',
    '  acme:',
    `    servers: [{ address: "127.0.0.1:${backend}" }]`,
    '',
  ].join('\n');
}

test('every request to the HTTPS URL: 301, host without port, path and query kept; keep-alive kept', { skip }, async (t) => {
  const s1 = await echoBackend(t, 'S1');
  const proxy = await proxyFor(t, yaml('{}', '', s1.port));
  const url = `http://www.example.com:${proxy.port}/a/b?c=d&e`;
  const out = await run('curl', ['-sv', '--resolve', `www.example.com:${proxy.port}:127.0.0.1`, url, `http://www.example.com:${proxy.port}/second`], { encoding: 'utf8' });
  assert.match(out.stderr, /< HTTP\/1\.1 301 Moved Permanently/);
  assert.match(out.stderr, /< Location: https:\/\/www\.example\.com\/a\/b\?c=d&e\r?\n/);
  assert.match(out.stderr, /< Location: https:\/\/www\.example\.com\/second\r?\n/);
  assert.match(out.stderr, /Re-using existing connection|Reusing existing connection/);
  assert.equal(s1.connections, 0, 'nothing reached a server');
});

test('308 to another port; routes still proxied (ACME); absolute-form targets; HTTP/1.0 without Host gets 400; h2c redirected too', { skip }, async (t) => {
  const s1 = await echoBackend(t, 'ACME');
  const proxy = await proxyFor(t, yaml('{ status: 308, port: 8443 }', '[{ path: /.well-known/acme-challenge/, pool: acme }]', s1.port));
  const head = async (args: string[]) => (await run('curl', ['-s', '-o', '/dev/null', '-D', '-', ...args], { encoding: 'utf8' })).stdout;
  const r = await head(['-X', 'POST', '-d', 'x', '-H', 'Host: WWW.Example.COM:80', `http://127.0.0.1:${proxy.port}/form`]);
  assert.match(r, /^HTTP\/1\.1 308 Permanent Redirect/);
  assert.match(r, /\r\nLocation: https:\/\/www\.example\.com:8443\/form\r\n/);

  const acme = await run('curl', ['-s', '-H', 'Host: www.example.com', `http://127.0.0.1:${proxy.port}/.well-known/acme-challenge/token`], { encoding: 'utf8' });
  const e = JSON.parse(acme.stdout) as Echo;
  assert.equal(e.url, '/.well-known/acme-challenge/token');
  assert.equal(e.headers['x-forwarded-proto'], 'http');

  const abs = await head(['--proxy', `http://127.0.0.1:${proxy.port}`, 'http://shop.example.com/cart?x=1']);
  assert.match(abs, /\r\nLocation: https:\/\/shop\.example\.com:8443\/cart\?x=1\r\n/);

  const sock = net.connect({ host: LOOPBACK, port: proxy.port });
  t.after(() => sock.destroy());
  const reader = new SocketReader(sock);
  sock.write('GET /old HTTP/1.0\r\n\r\n');
  const answer = (await reader.readToEnd()).toString('latin1');
  assert.match(answer, /^HTTP\/1\.1 400 Bad Request/);
  assert.match(answer, /names no host/);

  const h2 = await h2Session(t, proxy.port, { h2c: true });
  const r2 = await h2Request(h2, { ':path': '/h2?q', ':scheme': 'http' });
  assert.equal(r2.status, 308);
  assert.equal(r2.headers.location, 'https://www.example.com:8443/h2?q');
});
