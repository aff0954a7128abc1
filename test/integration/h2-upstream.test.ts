/**
 * HTTP/2 to the servers (pool `protocol: h2c` and `h2`), against node:http2 servers: the
 * header translations for HTTP/1.1 clients (RFC 9113 section 8.2), trailers both ways,
 * streams spread over connections of at most `max_streams`, TLS with ALPN, flow control
 * that keeps a slow client from stalling the other streams of the same server connection,
 * a server's GOAWAY under load (no request lost that it did not process), and h2load.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import http from 'node:http';
import http2 from 'node:http2';
import type net from 'node:net';
import { test, type TestContext } from 'node:test';
import { NO_OPENSSL, TestPki } from '../helpers/certs.js';
import { h2Request, h2Session, rawExchange, header } from '../helpers/http-client.js';
import { proxyFor } from '../helpers/proxies.js';
import { sleep, waitFor, waitForAsync } from '../helpers/wait.js';

/** What one h2 backend saw. */
interface H2Backend {
  name: string;
  port: number;
  server: http2.Http2Server | http2.Http2SecureServer;
  /** Requests (streams) that reached the handler, with their headers and body. */
  seen: Array<{ headers: http2.IncomingHttpHeaders; body: Buffer; trailers: http2.IncomingHttpHeaders | null }>;
  /** Connections (sessions) accepted. */
  sessions: number;
}

type Handler = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, b: H2Backend) => void;

/** Answers 200 with the body's length, a trailer `x-server`, after reading the request. */
const echoLength: Handler = (stream, headers, b) => {
  const s = b.seen[b.seen.length - 1]!;
  stream.on('end', () => {
    if (stream.destroyed) return;
    stream.respond({ ':status': 200, 'content-type': 'text/plain', 'x-path': String(headers[':path']) }, { waitForTrailers: true });
    stream.once('wantTrailers', () => stream.sendTrailers({ 'x-server': b.name }));
    stream.end(`${b.name} ${s.body.length}`);
  });
};

/** Answers 200 with the server's name, 150 ms after the request ended (so requests overlap). */
const slowAnswer: Handler = (stream, _headers, b) => {
  stream.on('end', () =>
    setTimeout(() => {
      if (stream.destroyed) return;
      stream.respond({ ':status': 200 });
      stream.end(b.name);
    }, 150),
  );
};

/** An h2c (or, with `tls`, h2) server on 127.0.0.1:0, recording what it saw; closed after the test. */
async function h2Backend(t: TestContext, name: string, handler: Handler = echoLength, tls?: { cert: Buffer; key: Buffer }): Promise<H2Backend> {
  const server = tls ? http2.createSecureServer({ cert: tls.cert, key: tls.key, allowHTTP1: false }) : http2.createServer();
  const b: H2Backend = { name, port: 0, server, seen: [], sessions: 0 };
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => {
    b.sessions++;
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
  });
  server.on('stream', (stream, headers) => {
    const entry = { headers, body: Buffer.alloc(0), trailers: null as http2.IncomingHttpHeaders | null };
    b.seen.push(entry);
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('trailers', (h) => (entry.trailers = h));
    stream.on('end', () => (entry.body = Buffer.concat(chunks)));
    stream.on('error', () => {});
    handler(stream, headers, b);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  b.port = (server.address() as net.AddressInfo).port;
  t.after(() => {
    for (const s of sessions) s.destroy();
    server.close();
  });
  return b;
}

function h2Yaml(backends: H2Backend[], pool: string[] = [], listener: string[] = []): string {
  return [
    'listeners:',
    '  - name: www',
    '    bind: 127.0.0.1:0',
    '    http2: { h2c: true, max_concurrent_streams: 1000 }',
    '    routes: [{ pool: web }]',
    ...listener.map((l) => `    ${l}`),
    'pools:',
    '  web:',
    '    protocol: h2c',
    '    servers:',
    ...backends.map((b) => `      - { name: ${b.name}, address: "127.0.0.1:${b.port}" }`),
    ...pool.map((l) => `    ${l}`),
    '',
  ].join('\n');
}

test('h2c pool, HTTP/1.1 clients: connection-specific fields dropped, Host as :authority, chunked bodies and trailers both ways, keep-alive', async (t) => {
  const be = await h2Backend(t, 'A');
  const proxy = await proxyFor(t, h2Yaml([be]));
  const head = [
    'POST /up?q=1 HTTP/1.1',
    'Host: www.example.com',
    'Connection: keep-alive, X-Hop',
    'Keep-Alive: timeout=5',
    'X-Hop: secret',
    'TE: trailers',
    'Transfer-Encoding: chunked',
    'Trailer: x-checksum',
    'X-Kept: yes',
  ].join('\r\n');
  const r = await rawExchange(proxy.port, `${head}\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\nx-checksum: abc\r\n\r\n`, 'POST');
  assert.equal(r.status, 200);
  assert.equal(header(r, 'transfer-encoding'), 'chunked', 'no length from the server: chunked, to carry the trailers');
  assert.equal(header(r, 'via'), '2 fulcrum', 'the response came over HTTP/2 (RFC 9110 section 7.6.3)');
  assert.match(r.rawBody.toString('latin1'), /0\r\nx-server: A\r\n\r\n$/);
  const seen = be.seen[0]!;
  assert.equal(seen.headers[':authority'], 'www.example.com');
  assert.equal(seen.headers[':path'], '/up?q=1');
  assert.equal(seen.headers[':scheme'], 'http');
  assert.equal(seen.headers['x-kept'], 'yes');
  for (const gone of ['host', 'connection', 'keep-alive', 'x-hop', 'transfer-encoding', 'te', 'upgrade']) assert.equal(seen.headers[gone], undefined, gone);
  assert.equal(seen.body.toString(), 'hello world');
  assert.equal(seen.trailers?.['x-checksum'], 'abc');

  // a length from the server stays a length; one connection carries several requests
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  for (let i = 0; i < 3; i++) {
    const body = await new Promise<{ status: number; text: string; length: string | undefined }>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: proxy.port, path: `/k${i}`, agent }, (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode!, text, length: res.headers['content-length'] }));
      }).on('error', reject);
    });
    assert.equal(body.status, 200);
    assert.equal(body.text, 'A 0');
  }
  assert.equal(be.sessions, 1, 'one HTTP/2 connection to the server');
});

test('h2c pool, HTTP/2 clients: request trailers reach the server, response trailers the client; streams per connection stay within max_streams', async (t) => {
  const be = await h2Backend(t, 'A');
  const proxy = await proxyFor(t, h2Yaml([be], ['http2: { max_streams: 2 }']));
  const session = await h2Session(t, proxy.port, { h2c: true });
  const reply = await new Promise<{ trailers: http2.IncomingHttpHeaders | null; body: string }>((resolve, reject) => {
    const stream = session.request({ ':method': 'POST', ':path': '/t', ':authority': 'www.example.com' }, { waitForTrailers: true });
    let trailers: http2.IncomingHttpHeaders | null = null;
    let body = '';
    stream.on('trailers', (h) => (trailers = h));
    stream.on('data', (c) => (body += c));
    stream.on('end', () => resolve({ trailers, body }));
    stream.on('error', reject);
    stream.on('wantTrailers', () => stream.sendTrailers({ 'x-sum': '42' }));
    stream.end('abc');
  });
  assert.equal(reply.body, 'A 3');
  assert.equal(reply.trailers?.['x-server'], 'A');
  assert.equal(be.seen[0]!.trailers?.['x-sum'], '42');

  const b2 = await h2Backend(t, 'B', slowAnswer);
  const p2 = await proxyFor(t, h2Yaml([b2], ['http2: { max_streams: 2 }']));
  const s2 = await h2Session(t, p2.port, { h2c: true });
  const replies = await Promise.all(Array.from({ length: 6 }, (_, i) => h2Request(s2, { ':path': `/p${i}` })));
  assert.ok(replies.every((r) => r.status === 200));
  assert.ok(replies.every((r) => r.headers.via === '2 fulcrum'), 'HTTP/2 clients see the version the response came over too');
  assert.equal(b2.sessions, 3, 'six requests at once, two streams per connection: three connections');
});

test('h2 pool: HTTP/2 over TLS by ALPN, one connection for many requests', { skip: NO_OPENSSL }, async (t) => {
  const pki = new TestPki(t);
  const cert = pki.leaf(['backend.internal']);
  const be = await h2Backend(t, 'T', echoLength, { cert: cert.certPem, key: cert.keyPem });
  const yaml = h2Yaml([be], [`tls: { sni: backend.internal, ca: "${cert.cert}" }`]).replace('protocol: h2c', 'protocol: h2');
  const proxy = await proxyFor(t, yaml);
  const session = await h2Session(t, proxy.port, { h2c: true });
  const replies = await Promise.all(Array.from({ length: 10 }, (_, i) => h2Request(session, { ':path': `/s${i}` })));
  assert.ok(replies.every((r) => r.status === 200 && r.body.toString() === 'T 0'));
  assert.equal(be.sessions, 1);
  assert.equal(be.seen[0]!.headers[':scheme'], 'https');

  // a server that does not speak h2 by ALPN is a connect failure: 503
  const pki2 = new TestPki(t);
  const c2 = pki2.leaf(['backend.internal']);
  const { default: https } = await import('node:https');
  const h1only = https.createServer({ cert: c2.certPem, key: c2.keyPem }, (_req, res) => res.end('h1'));
  await new Promise<void>((resolve) => h1only.listen(0, '127.0.0.1', resolve));
  t.after(() => h1only.close());
  const h1port = (h1only.address() as net.AddressInfo).port;
  const p2 = await proxyFor(t, yaml.replace(`127.0.0.1:${be.port}`, `127.0.0.1:${h1port}`).replace(`ca: "${cert.cert}"`, 'verify: false'));
  const r = await h2Request(await h2Session(t, p2.port, { h2c: true }), { ':path': '/' });
  assert.equal(r.status, 503);
});

test('h2c pool: a client that stops reading stalls only its own stream of the shared server connection', async (t) => {
  const big = Buffer.alloc(8 << 20, 0x61);
  const handler: Handler = (stream, headers) => {
    stream.on('end', () => {
      if (stream.destroyed) return;
      stream.respond({ ':status': 200 });
      stream.end(headers[':path'] === '/big' ? big : 'small');
    });
  };
  const be = await h2Backend(t, 'A', handler);
  const proxy = await proxyFor(t, h2Yaml([be]));
  const slowClient = await h2Session(t, proxy.port, { h2c: true });
  const stalled = slowClient.request({ ':path': '/big', ':authority': 'www.example.com' });
  stalled.pause(); // read nothing
  let got = 0;
  await new Promise((resolve) => stalled.once('response', resolve));
  await sleep(200);

  const other = await h2Session(t, proxy.port, { h2c: true });
  const started = Date.now();
  for (let i = 0; i < 5; i++) {
    const r = await h2Request(other, { ':path': `/small${i}` });
    assert.equal(r.body.toString(), 'small');
  }
  assert.ok(Date.now() - started < 2000, 'the other streams were not held up');
  assert.equal(be.sessions, 1, 'all on one server connection');

  const done = new Promise<void>((resolve) => stalled.on('end', resolve));
  stalled.on('data', (c: Buffer) => (got += c.length));
  stalled.resume();
  await done;
  assert.equal(got, big.length, 'the stalled response arrives whole once read');
});

test('h2c pool: a server that sends GOAWAY under load loses no request it did not process', async (t) => {
  let goneAt = 0;
  let refused = 0;
  let badBodies = 0;
  const processed = new Map<string, string>();
  const make = (name: string, goaway: boolean): Handler => (stream, headers) => {
    const id = String(headers['x-id']);
    const session = stream.session!;
    if (goaway && goneAt === 0 && processed.size >= 40) {
      // graceful: this stream and the ones before it are processed, anything later is refused
      goneAt = stream.id!;
      session.goaway(http2.constants.NGHTTP2_NO_ERROR, stream.id!);
    }
    if (goaway && goneAt !== 0 && stream.id! > goneAt) {
      refused++;
      stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
      return;
    }
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () =>
      setTimeout(() => {
        if (stream.destroyed) return;
        if (Buffer.concat(chunks).toString() !== `body ${id}`) badBodies++;
        assert.equal(processed.has(id), false, `request ${id} processed twice`);
        processed.set(id, name);
        stream.respond({ ':status': 200 });
        stream.end(name);
      }, 2),
    );
  };
  const a = await h2Backend(t, 'A', make('A', true));
  const b = await h2Backend(t, 'B', make('B', false));
  const proxy = await proxyFor(t, h2Yaml([a, b]));
  const session = await h2Session(t, proxy.port, { h2c: true });
  const N = 400;
  const statuses = await Promise.all(
    Array.from({ length: N }, (_, i) => h2Request(session, { ':method': 'POST', ':path': '/load', 'x-id': String(i), 'content-type': 'text/plain' }, `body ${i}`).then((r) => r.status)),
  );
  assert.ok(goneAt > 0, 'the server sent GOAWAY');
  assert.deepEqual(statuses.filter((s) => s !== 200), [], 'every request answered 200');
  assert.equal(processed.size, N, 'each request processed exactly once');
  assert.equal(badBodies, 0, 'every body whole, the replayed ones too');
  assert.ok(refused > 0, 'some streams were refused (and sent again)');
  assert.ok([...processed.values()].includes('A') && [...processed.values()].includes('B'));
});

test('h2c pool of one server that rotates its connections with GOAWAY: refused streams go again on a new connection', async (t) => {
  const processed = new Map<string, number>();
  let refused = 0;
  let goaways = 0;
  const handler: Handler = (stream, headers) => {
    const session = stream.session! as http2.ServerHttp2Session & { fulcrumCount?: number; fulcrumLast?: number };
    session.fulcrumCount = (session.fulcrumCount ?? 0) + 1;
    if (session.fulcrumLast === undefined && session.fulcrumCount === 50) {
      session.fulcrumLast = stream.id!;
      goaways++;
      session.goaway(http2.constants.NGHTTP2_NO_ERROR, stream.id!);
      setTimeout(() => session.close(), 50);
    }
    if (session.fulcrumLast !== undefined && stream.id! > session.fulcrumLast) {
      refused++;
      stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
      return;
    }
    const id = String(headers['x-id']);
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      if (stream.destroyed) return;
      processed.set(id, (processed.get(id) ?? 0) + 1);
      stream.respond({ ':status': 200 });
      stream.end(Buffer.concat(chunks).toString() === `body ${id}` ? 'ok' : 'bad body');
    });
  };
  const a = await h2Backend(t, 'A', handler);
  const proxy = await proxyFor(t, h2Yaml([a]));
  const session = await h2Session(t, proxy.port, { h2c: true });
  const N = 150;
  const replies = await Promise.all(
    Array.from({ length: N }, (_, i) => h2Request(session, { ':method': 'POST', ':path': '/rotate', 'x-id': String(i) }, `body ${i}`)),
  );
  assert.ok(goaways >= 2 && refused > 0, `the server rotated its connections (${goaways} GOAWAYs, ${refused} streams refused)`);
  assert.deepEqual(replies.filter((r) => r.status !== 200 || r.body.toString() !== 'ok').map((r) => `${r.status} ${r.body}`), []);
  assert.equal(processed.size, N);
  assert.ok([...processed.values()].every((n) => n === 1), 'each request processed once');
});

test('h2c pool: a quiet server connection gets PINGs, and an idle one closes after keepalive.idle_timeout', async (t) => {
  const be = await h2Backend(t, 'A');
  let pings = 0;
  let closed = 0;
  be.server.on('session', (session: http2.ServerHttp2Session) => {
    session.on('ping', () => pings++);
    session.on('close', () => closed++);
  });
  const proxy = await proxyFor(t, h2Yaml([be], ['http2: { ping_interval: 100ms }', 'keepalive: { idle_timeout: 1500ms }']));
  const session = await h2Session(t, proxy.port, { h2c: true });
  assert.equal((await h2Request(session, { ':path': '/' })).status, 200);
  await waitFor(() => pings >= 2, 3000, 'two keep-alive PINGs');
  assert.equal(closed, 0, 'not closed while within idle_timeout');
  await waitFor(() => closed === 1, 4000, 'the idle connection to close');
  assert.equal((await h2Request(session, { ':path': '/again' })).status, 200, 'a new connection for the next request');
  assert.equal(be.sessions, 2);
});

test('h2c pool: after a burst, connections beyond keepalive.max_idle close; the rest stay for the idle timeout', async (t) => {
  const be = await h2Backend(t, 'A', slowAnswer);
  let closed = 0;
  be.server.on('session', (session: http2.ServerHttp2Session) => session.on('close', () => closed++));
  const proxy = await proxyFor(t, h2Yaml([be], ['http2: { max_streams: 2 }', 'keepalive: { max_idle: 1, idle_timeout: 60s }']));
  const session = await h2Session(t, proxy.port, { h2c: true });
  const replies = await Promise.all(Array.from({ length: 6 }, (_, i) => h2Request(session, { ':path': `/b${i}` })));
  assert.ok(replies.every((r) => r.status === 200));
  assert.equal(be.sessions, 3, 'six requests at once, two streams per connection: three connections');
  await waitFor(() => closed === 2, 3000, 'the two connections beyond max_idle to close');
  await sleep(300);
  assert.equal(closed, 2, 'one idle connection is kept (max_idle 1)');
  assert.equal((await h2Request(session, { ':path': '/again' })).status, 200);
  assert.equal(be.sessions, 3, 'the kept connection carries the next request');
});

test('h2c pool: type http health checks go over HTTP/2', async (t) => {
  let aHealthy = true;
  const handler: Handler = (stream, headers, b) => {
    if (headers[':path'] === '/healthz') {
      stream.respond({ ':status': b.name === 'A' && !aHealthy ? 503 : 200 });
      stream.end('ok');
      return;
    }
    echoLength(stream, headers, b);
  };
  const a = await h2Backend(t, 'A', handler);
  const b = await h2Backend(t, 'B', handler);
  const proxy = await proxyFor(t, h2Yaml([a, b], ['health: { type: http, interval: 100ms, rise: 1, fall: 1, http: { path: /healthz, body_match: ok } }']));
  await waitFor(() => a.seen.some((s) => s.headers[':path'] === '/healthz'), 3000, 'an HTTP/2 health check on A');
  const check = a.seen.find((s) => s.headers[':path'] === '/healthz')!;
  assert.equal(check.headers['user-agent'], 'fulcrum-health');
  aHealthy = false;
  const session = await h2Session(t, proxy.port, { h2c: true });
  const onlyB = async () => (await Promise.all(Array.from({ length: 4 }, (_, i) => h2Request(session, { ':path': `/x${i}` })))).every((r) => r.body.toString().startsWith('B '));
  await waitForAsync(onlyB, 3000, 'A to be taken out by its 503');
  aHealthy = true;
  await waitForAsync(async () => !(await onlyB()), 3000, 'A to come back');
});

test('h2c pool: h2load through an h2c listener', async (t) => {
  const h2load = spawnSync('h2load', ['--version'], { encoding: 'utf8' });
  if (h2load.status !== 0) {
    t.skip('h2load (nghttp2-client) is not installed');
    return;
  }
  const a = await h2Backend(t, 'A');
  const b = await h2Backend(t, 'B');
  const proxy = await proxyFor(t, h2Yaml([a, b]));
  const run = await new Promise<string>((resolve) => {
    const child = spawn('h2load', ['-n', '2000', '-c', '4', '-m', '10', '-t', '1', `http://127.0.0.1:${proxy.port}/h2load`], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c));
    const timer = setTimeout(() => child.kill(), 30_000);
    child.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
  });
  assert.match(run, /requests: 2000 total, 2000 started, 2000 done, 2000 succeeded, 0 failed, 0 errored/);
  assert.match(run, /status codes: 2000 2xx/);
  await waitFor(() => a.seen.length + b.seen.length === 2000, 2000, 'both servers to have seen every request');
  assert.equal(a.seen.length, 1000);
});
