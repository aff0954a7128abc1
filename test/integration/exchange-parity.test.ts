/**
 * HTTP/1.1 connections and HTTP/2 streams share one upstream exchange: whatever applies
 * to every request (the access log line, the server's request counter, the response
 * head checks) must hold for both protocols alike. Each test runs the same request
 * over both and compares.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { NO_OPENSSL, TestPki } from '../helpers/certs.js';
import { echoBackend, rawBackend, type Backend } from '../helpers/backends.js';
import { h2Request, h2Session, httpsRequest } from '../helpers/http-client.js';
import { accessLogLines, httpsYaml, proxyFor } from '../helpers/proxies.js';
import { recordUpstreamErrors } from '../helpers/pools-util.js';
import { upstreamErrorBody } from '../../src/proxy/http/local-response.js';

const skip = NO_OPENSSL;

async function backendWithBareLF(t: TestContext): Promise<Backend<net.Server>> {
  // a response head whose lines end in LF alone: it never ends in CRLF CRLF
  const b = await rawBackend((sock) => {
    sock.once('data', () => sock.write('HTTP/1.1 200 OK\nContent-Length: 2\n\nok'));
  });
  t.after(() => b.close());
  return b;
}

test('an HTTP/2 request is logged with the same fields as an HTTP/1.1 one, its protocol shown', { skip }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fulcrum-parity-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const logPath = join(dir, 'access.log');
  const pki = new TestPki(t);
  const www = pki.leaf(['www.example.com']);
  const s1 = await echoBackend(t, 'S1');
  const proxy = await proxyFor(t, httpsYaml([www], [s1.port], { listener: [`access_log: { path: "${logPath}", format: json }`] }));
  const h1 = await httpsRequest(proxy.port, { path: '/one?x=1', headers: { 'user-agent': 'parity-test' } });
  assert.equal(h1.status, 200);
  const session = await h2Session(t, proxy.port);
  const h2 = await h2Request(session, { ':path': '/two?y=2', 'user-agent': 'parity-test' });
  assert.equal(h2.status, 200);
  session.close();
  const lines = (await accessLogLines(logPath, 2)).map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(lines.length, 2);
  const [one, two] = lines as [Record<string, unknown>, Record<string, unknown>];
  assert.deepEqual(Object.keys(two).sort(), Object.keys(one).sort());
  assert.equal(one.version, '1.1');
  assert.equal(two.version, '2');
  for (const [line, target] of [
    [one, '/one?x=1'],
    [two, '/two?y=2'],
  ] as const) {
    assert.equal(line.listener, 'www');
    assert.equal(line.method, 'GET');
    assert.equal(line.target, target);
    assert.match(String(line.host), /^www\.example\.com(:\d+)?$/);
    assert.equal(line.status, 200);
    assert.equal(line.server, 'web/S1');
    assert.equal(line.user_agent, 'parity-test');
    assert.equal(line.client, '127.0.0.1');
    assert.ok((line.bytes as number) > 0, `bytes counted: ${JSON.stringify(line)}`);
  }
});

test('HTTP/2 requests count in the server total, as HTTP/1.1 ones do', { skip }, async (t) => {
  const pki = new TestPki(t);
  const www = pki.leaf(['www.example.com']);
  const s1 = await echoBackend(t, 'S1');
  const proxy = await proxyFor(t, httpsYaml([www], [s1.port]));
  const total = () => proxy.instance.counters().servers.find((s) => s.server === 'S1')!.total;
  assert.equal(total(), 0);
  assert.equal((await httpsRequest(proxy.port, { path: '/' })).status, 200);
  assert.equal(total(), 1);
  const session = await h2Session(t, proxy.port);
  for (let i = 0; i < 3; i++) assert.equal((await h2Request(session, { ':path': `/${i}` })).status, 200);
  session.close();
  assert.equal(total(), 4);
});

test('a bare LF in a server response head is refused with 502 over HTTP/1.1 and HTTP/2 alike, both answers with HSTS', { skip }, async (t) => {
  const errors = recordUpstreamErrors(t);
  const pki = new TestPki(t);
  const www = pki.leaf(['www.example.com']);
  const bad = await backendWithBareLF(t);
  // a long server timeout: a reader that waits for CRLF CRLF would answer 504 only after it
  const proxy = await proxyFor(t, httpsYaml([www], [bad.port], { listener: ['hsts: {}'], more: ['timeouts: { server: 60s }'] }));
  const started = Date.now();
  const h1 = await httpsRequest(proxy.port, { path: '/' });
  assert.equal(h1.status, 502);
  assert.match(errors.last(502), /bare LF/);
  assert.equal(h1.body.toString(), upstreamErrorBody(502), 'the body names no server, pool or address');
  assert.equal(h1.headers['strict-transport-security'], 'max-age=31536000');
  const session = await h2Session(t, proxy.port);
  const h2 = await h2Request(session, { ':path': '/' });
  session.close();
  assert.equal(h2.status, 502);
  assert.match(errors.last(502), /bare LF/);
  assert.equal(h2.body.toString(), upstreamErrorBody(502), 'the body names no server, pool or address');
  assert.equal(h2.headers['strict-transport-security'], 'max-age=31536000');
  assert.ok(Date.now() - started < 5000, 'both answered at once');
});
