/**
 * TLS termination on HTTP listeners, against real clients (node:tls, node:https, curl)
 * and certificates made by openssl: certificate choice by SNI, refusing unknown names,
 * TLS versions, ALPN, session resumption, HTTP/1.1 over TLS with X-Forwarded-Proto and
 * HSTS, PROXY protocol before the handshake, and bad input that must cost only the
 * connection that sent it.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import net from 'node:net';
import { test } from 'node:test';
import tls from 'node:tls';
import { promisify } from 'node:util';
import { NO_OPENSSL, TestPki, type CertFiles } from '../helpers/certs.js';
import { waitFor, WAIT_MS } from '../helpers/wait.js';
import { startProxy, httpsYaml, proxyFor } from '../helpers/proxies.js';
import { echoBackend, type Echo, serve } from '../helpers/backends.js';
import { handshake, httpsRequest } from '../helpers/http-client.js';
import { LOOPBACK } from '../helpers/ports.js';

const run = promisify(execFile);
const skip = NO_OPENSSL;

/** Certificates for www.example.com (default), *.example.org and api.example.org. */
function certs(pki: TestPki): { www: CertFiles; wild: CertFiles; api: CertFiles } {
  return {
    www: pki.leaf(['www.example.com', 'example.com']),
    wild: pki.leaf(['*.example.org']),
    api: pki.leaf(['api.example.org']),
  };
}

test('SNI: exact names, then one-label wildcards, then the default (first) certificate', { skip }, async (t) => {
  const pki = new TestPki(t);
  const c = certs(pki);
  const s1 = await echoBackend(t, 'S1');
  const proxy = await proxyFor(t, httpsYaml([c.www, c.wild, c.api], [s1.port]));
  const cn = async (servername: string) => {
    const h = await handshake(proxy.port, { servername });
    h.sock.destroy();
    return h.cn;
  };
  assert.equal(await cn('www.example.com'), 'www.example.com');
  assert.equal(await cn('EXAMPLE.COM'), 'www.example.com');
  assert.equal(await cn('a.example.org'), '*.example.org');
  assert.equal(await cn('api.example.org'), 'api.example.org', 'an exact name wins over a wildcard listed before it');
  assert.equal(await cn('b.a.example.org'), 'www.example.com', 'a wildcard covers one label only: the default answers');
  assert.equal(await cn('unknown.test'), 'www.example.com');
  assert.equal(await cn(''), 'www.example.com', 'no server name: the default');
});

test('unknown_sni: reject fails the handshake for unknown names and for none, and serves known ones', { skip }, async (t) => {
  const pki = new TestPki(t);
  const c = certs(pki);
  const s1 = await echoBackend(t, 'S1');
  const proxy = await proxyFor(t, httpsYaml([c.www, c.wild], [s1.port], { tls: ['unknown_sni: reject'] }));
  await assert.rejects(handshake(proxy.port, { servername: 'unknown.test' }), /handshake failure|alert/i);
  await assert.rejects(handshake(proxy.port, { servername: '' }), /handshake failure|alert/i);
  const ok = await handshake(proxy.port, { servername: 'x.example.org' });
  assert.equal(ok.cn, '*.example.org');
  ok.sock.destroy();
  const r = await httpsRequest(proxy.port, { servername: 'www.example.com' });
  assert.equal(r.status, 200);
});

test('TLS versions: 1.2 and 1.3 by default; min_version TLSv1.3 refuses a 1.2-only client', { skip }, async (t) => {
  const pki = new TestPki(t);
  const c = certs(pki);
  const s1 = await echoBackend(t, 'S1');
  const open = await proxyFor(t, httpsYaml([c.www], [s1.port]));
  const v12 = await handshake(open.port, { servername: 'www.example.com', maxVersion: 'TLSv1.2' });
  assert.equal(v12.protocol, 'TLSv1.2');
  v12.sock.destroy();
  const v13 = await handshake(open.port, { servername: 'www.example.com' });
  assert.equal(v13.protocol, 'TLSv1.3');
  v13.sock.destroy();

  const strict = await proxyFor(t, httpsYaml([c.www], [s1.port], { tls: ['min_version: TLSv1.3'] }));
  await assert.rejects(handshake(strict.port, { servername: 'www.example.com', maxVersion: 'TLSv1.2' }), /protocol version|alert/i);
  const ok = await handshake(strict.port, { servername: 'www.example.com' });
  assert.equal(ok.protocol, 'TLSv1.3');
  ok.sock.destroy();
});

test('ciphers: the TLS 1.3 suites and the TLS 1.2 list given are the only ones; a list without TLS_ suites keeps the default ones for TLS 1.3, as nginx and HAProxy do', { skip }, async (t) => {
  const pki = new TestPki(t);
  const c = certs(pki);
  const s1 = await echoBackend(t, 'S1');
  const cipher = async (port: number, opts: { maxVersion?: 'TLSv1.2' | 'TLSv1.3'; ciphers?: string }) => {
    const h = await handshake(port, { servername: 'www.example.com', ...opts });
    const name = `${h.protocol} ${h.sock.getCipher().name}`;
    h.sock.destroy();
    return name;
  };
  const both = await proxyFor(t, httpsYaml([c.www], [s1.port], { tls: ['ciphers: "TLS_CHACHA20_POLY1305_SHA256:ECDHE-ECDSA-AES256-GCM-SHA384"'] }));
  assert.equal(await cipher(both.port, {}), 'TLSv1.3 TLS_CHACHA20_POLY1305_SHA256');
  assert.equal(await cipher(both.port, { maxVersion: 'TLSv1.2' }), 'TLSv1.2 ECDHE-ECDSA-AES256-GCM-SHA384');
  await assert.rejects(handshake(both.port, { servername: 'www.example.com', maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES128-GCM-SHA256' }), /handshake failure|alert|no shared cipher/i);
  const only12 = await proxyFor(t, httpsYaml([c.www], [s1.port], { tls: ['ciphers: "ECDHE-ECDSA-AES128-GCM-SHA256"'] }));
  assert.equal(await cipher(only12.port, { maxVersion: 'TLSv1.2' }), 'TLSv1.2 ECDHE-ECDSA-AES128-GCM-SHA256');
  assert.equal(await cipher(only12.port, {}), 'TLSv1.3 TLS_AES_256_GCM_SHA384');
  // a list OpenSSL cannot use is a configuration error that names the key and the list
  await assert.rejects(startProxy(httpsYaml([c.www], [s1.port], { tls: ['ciphers: "NOT-A-CIPHER"'] })), /listener www: tls\.ciphers: OpenSSL refused "NOT-A-CIPHER"/);
  await assert.rejects(handshake(only12.port, { servername: 'www.example.com', maxVersion: 'TLSv1.2', ciphers: 'ECDHE-ECDSA-AES256-GCM-SHA384' }), /handshake failure|alert|no shared cipher/i);
});

test('ALPN: h2 when offered, else http/1.1; with http2.enabled false only http/1.1', { skip }, async (t) => {
  const pki = new TestPki(t);
  const c = certs(pki);
  const s1 = await echoBackend(t, 'S1');
  const proxy = await proxyFor(t, httpsYaml([c.www], [s1.port]));
  const alpn = async (port: number, protocols?: string[]) => {
    const h = await handshake(port, { servername: 'www.example.com', ...(protocols ? { ALPNProtocols: protocols } : {}) });
    h.sock.destroy();
    return h.alpn;
  };
  assert.equal(await alpn(proxy.port, ['h2', 'http/1.1']), 'h2');
  assert.equal(await alpn(proxy.port, ['http/1.1']), 'http/1.1');
  assert.equal(await alpn(proxy.port), false);
  const h1only = await proxyFor(t, httpsYaml([c.www], [s1.port], { listener: ['http2: { enabled: false }'] }));
  assert.equal(await alpn(h1only.port, ['h2', 'http/1.1']), 'http/1.1');
});

test('session resumption with tickets, TLS 1.3 and 1.2; none with session_tickets: false', { skip }, async (t) => {
  const pki = new TestPki(t);
  const c = certs(pki);
  const s1 = await echoBackend(t, 'S1');
  const proxy = await proxyFor(t, httpsYaml([c.www, c.wild], [s1.port]));
  for (const maxVersion of ['TLSv1.3', 'TLSv1.2'] as const) {
    const first = await handshake(proxy.port, { servername: 'www.example.com', maxVersion });
    const session = await first.session();
    first.sock.destroy();
    assert.equal(first.reused, false);
    const second = await handshake(proxy.port, { servername: 'www.example.com', maxVersion, session });
    assert.equal(second.reused, true, `${maxVersion} resumed`);
    assert.equal(second.protocol, maxVersion);
    second.sock.destroy();
  }
  // a resumed TLS 1.3 connection gets a fresh ticket (as behind HAProxy and nginx), and
  // that one resumes too: a client that keeps only its latest session resumes every time
  const fresh = await handshake(proxy.port, { servername: 'www.example.com' });
  let latest = await fresh.session();
  fresh.sock.destroy();
  for (let i = 0; i < 3; i++) {
    const again = await handshake(proxy.port, { servername: 'www.example.com', session: latest });
    assert.equal(again.reused, true, `resumption ${i + 1} with the latest ticket`);
    latest = await again.session(); // rejects when the server sent no new ticket
    again.sock.destroy();
  }
  // a session of one certificate's name resumes on another certificate's name too: one set of ticket keys
  const w = await handshake(proxy.port, { servername: 'www.example.com' });
  const ws = await w.session();
  w.sock.destroy();
  const o = await handshake(proxy.port, { servername: 'www.example.com', session: ws });
  assert.equal(o.reused, true);
  o.sock.destroy();

  const off = await proxyFor(t, httpsYaml([c.www], [s1.port], { tls: ['session_tickets: false'] }));
  const a = await handshake(off.port, { servername: 'www.example.com', maxVersion: 'TLSv1.2' });
  const as = await a.session();
  a.sock.destroy();
  const b = await handshake(off.port, { servername: 'www.example.com', maxVersion: 'TLSv1.2', session: as });
  assert.equal(b.reused, false);
  b.sock.destroy();
});

test('a ticket sealed with other keys is refused quietly: a full handshake, and the connection serves', { skip }, async (t) => {
  const pki = new TestPki(t);
  const c = certs(pki);
  const s1 = await echoBackend(t, 'S1');
  const proxy = await proxyFor(t, httpsYaml([c.www], [s1.port]));
  // another server with the same certificate and its own ticket keys issues the session
  const other = tls.createServer({ cert: c.www.certPem, key: c.www.keyPem, ticketKeys: Buffer.alloc(48, 7) }, (sock) => sock.on('error', () => {}));
  const foreign = await handshake((await serve(other, { t })).port, { servername: 'www.example.com' });
  const session = await foreign.session();
  foreign.sock.destroy();
  const h = await handshake(proxy.port, { servername: 'www.example.com', session });
  assert.equal(h.reused, false, 'a ticket of other keys does not resume');
  h.sock.destroy();
  const res = await httpsRequest(proxy.port, { servername: 'www.example.com' });
  assert.equal(res.status, 200);
});

test('HTTP/1.1 over TLS: X-Forwarded-Proto https, Strict-Transport-Security, keep-alive with curl', { skip }, async (t) => {
  const pki = new TestPki(t);
  const c = certs(pki);
  const s1 = await echoBackend(t, 'S1');
  const proxy = await proxyFor(t, httpsYaml([c.www], [s1.port], { listener: ['hsts: { max_age: 1d, include_subdomains: true }'] }));
  const r = await httpsRequest(proxy.port, { path: '/a?b=1', method: 'POST', body: 'hello' });
  assert.equal(r.status, 200);
  const echo = JSON.parse(r.body) as Echo;
  assert.equal(echo.url, '/a?b=1');
  assert.equal(echo.headers['x-forwarded-proto'], 'https');
  assert.equal(echo.headers['x-forwarded-for'], '127.0.0.1');
  assert.equal(echo.bodyBytes, 5);
  assert.equal(r.headers['strict-transport-security'], 'max-age=86400; includeSubDomains');

  const url = `https://www.example.com:${proxy.port}/x`;
  const out = await run('curl', ['-sv', '--http1.1', '-k', '--resolve', `www.example.com:${proxy.port}:127.0.0.1`, url, url], { encoding: 'utf8' });
  assert.equal(out.stdout.match(/"name":"S1"/g)?.length, 2);
  assert.match(out.stderr, /Re-using existing connection|Reusing existing connection/);
  assert.match(out.stderr, /strict-transport-security: max-age=86400; includeSubDomains/i);
});

test('PROXY protocol before the TLS handshake names the client', { skip }, async (t) => {
  const pki = new TestPki(t);
  const c = certs(pki);
  const s1 = await echoBackend(t, 'S1');
  const proxy = await proxyFor(t, httpsYaml([c.www], [s1.port], { listener: ['proxy_protocol: { trusted: [127.0.0.1] }'] }));
  const raw = net.connect({ host: LOOPBACK, port: proxy.port });
  t.after(() => raw.destroy());
  await new Promise((r) => raw.once('connect', r));
  raw.write('PROXY TCP4 203.0.113.7 192.0.2.1 4321 443\r\n');
  const sock = tls.connect({ socket: raw, servername: 'www.example.com', rejectUnauthorized: false });
  await new Promise((r) => sock.once('secureConnect', r));
  sock.write('GET /p HTTP/1.1\r\nHost: www.example.com\r\nConnection: close\r\n\r\n');
  let got = '';
  sock.setEncoding('utf8');
  sock.on('data', (d: string) => (got += d));
  await new Promise((r) => sock.once('end', r));
  const echo = JSON.parse(got.slice(got.indexOf('\r\n\r\n') + 4)) as Echo;
  assert.equal(echo.headers['x-forwarded-for'], '203.0.113.7');
  assert.equal(echo.headers['x-forwarded-proto'], 'https');
});

test('bad input (plain HTTP, garbage records, a silent client) closes only that connection', { skip }, async (t) => {
  const pki = new TestPki(t);
  const c = certs(pki);
  const s1 = await echoBackend(t, 'S1');
  const proxy = await proxyFor(t, httpsYaml([c.www], [s1.port], { tls: ['handshake_timeout: 300ms'] }));
  // a client in the middle of a keep-alive TLS connection while the others misbehave
  const good = await handshake(proxy.port, { servername: 'www.example.com', ALPNProtocols: ['http/1.1'] });
  t.after(() => good.sock.destroy());
  let goodGot = '';
  good.sock.setEncoding('utf8');
  good.sock.on('data', (d: string) => (goodGot += d));
  const ask = async (path: string) => {
    const before = goodGot.length;
    good.sock.write(`GET ${path} HTTP/1.1\r\nHost: www.example.com\r\n\r\n`);
    await waitFor(() => goodGot.slice(before).includes(path), WAIT_MS, () => goodGot);
  };
  await ask('/one');

  const closedAfter = async (bytes: Buffer | string | null) => {
    const s = net.connect({ host: LOOPBACK, port: proxy.port });
    s.on('error', () => {});
    let reply = '';
    s.setEncoding('latin1');
    s.on('data', (d: string) => (reply += d));
    await new Promise((r) => s.once('connect', r));
    if (bytes !== null) s.write(bytes);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the connection stayed open')), WAIT_MS);
      s.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
    });
    return reply;
  };
  const plain = await closedAfter('GET / HTTP/1.1\r\nHost: www.example.com\r\n\r\n');
  assert.ok(!plain.includes('HTTP/1.1 200'), 'plain HTTP is not answered as HTTP');
  // a TLS record header announcing a handshake, then nonsense
  await closedAfter(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 0xde, 0xad, 0xbe, 0xef, 0x00]));
  await closedAfter(Buffer.alloc(64, 0xff));
  const started = Date.now();
  await closedAfter(null); // nothing at all: the handshake timeout closes it
  assert.ok(Date.now() - started >= 250, 'closed by the handshake timeout, not at once');

  await ask('/two');
  const r = await httpsRequest(proxy.port);
  assert.equal(r.status, 200);
});

test('max_connections counts TLS connections, handshakes included', { skip }, async (t) => {
  const pki = new TestPki(t);
  const c = certs(pki);
  const s1 = await echoBackend(t, 'S1');
  const proxy = await proxyFor(t, httpsYaml([c.www], [s1.port], { listener: ['max_connections: 2'] }));
  const a = await handshake(proxy.port, { servername: 'www.example.com' });
  const b = await handshake(proxy.port, { servername: 'www.example.com', ALPNProtocols: ['h2'] });
  t.after(() => {
    a.sock.destroy();
    b.sock.destroy();
  });
  await assert.rejects(handshake(proxy.port, { servername: 'www.example.com' }));
  a.sock.destroy();
  // the slot comes back once the proxy has seen the close
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const h = await handshake(proxy.port, { servername: 'www.example.com' }).catch(() => null);
    if (h !== null) {
      h.sock.destroy();
      break;
    }
    assert.ok(Date.now() < deadline, 'no connection accepted after one closed');
    await new Promise((r) => setTimeout(r, 20));
  }
});
