/**
 * HTTP/2 to clients, proxied to HTTP/1.1 servers, with real clients: curl --http2,
 * node:http2, h2load, and raw frames for what no client library sends. Covers the
 * translation both ways, many streams on one connection, flow control and backpressure
 * both ways, limits, GOAWAY on stop and on demand, h2c with prior knowledge, retries and
 * errors of the pools, and protocol errors answered with the right codes without
 * touching other connections.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import http2 from 'node:http2';
import tls from 'node:tls';
import { test } from 'node:test';
import { promisify } from 'node:util';
import type { HttpFrontend } from '../../src/proxy/http/frontend.js';
import { NO_OPENSSL, TestPki } from '../helpers/certs.js';
import { waitFor, once, WAIT_MS } from '../helpers/wait.js';
import { closedPort } from '../helpers/ports.js';
import { httpBackend, echoBackend, type Echo } from '../helpers/backends.js';
import { h2Request, h2Session } from '../helpers/http-client.js';
import { httpsYaml, proxyFor } from '../helpers/proxies.js';
import { findBinary } from '../helpers/spawn.js';
import { ERR, FLAG, FRAME, frame, get, headers, RawH2, setting } from '../helpers/h2-frames.js';
import { recordUpstreamErrors } from '../helpers/pools-util.js';
import { upstreamErrorBody } from '../../src/proxy/http/local-response.js';

const run = promisify(execFile);
const skip = NO_OPENSSL;
const H2LOAD = findBinary('h2load');
const CURL = findBinary('curl');

test('curl --http2: requests reach the HTTP/1.1 server translated, responses come back as HTTP/2', { skip: skip || (CURL === undefined && 'curl is not installed') }, async (t) => {
  const pki = new TestPki(t);
  const www = pki.leaf(['www.example.com']);
  const s1 = await echoBackend(t, 'S1');
  const proxy = await proxyFor(t, httpsYaml([www], [s1.port], { listener: ['hsts: {}'] }));
  const url = `https://www.example.com:${proxy.port}/a/b?c=d`;
  const out = await run(
    'curl',
    ['-sk', '--http2', '-i', '--resolve', `www.example.com:${proxy.port}:127.0.0.1`, '-H', 'Cookie: a=1', '-H', 'X-Test: yes', '--data-binary', 'hello h2', url],
    { encoding: 'utf8' },
  );
  assert.match(out.stdout, /^HTTP\/2 200/);
  assert.match(out.stdout, /\nvia: 1\.1 fulcrum\r?\n/);
  assert.match(out.stdout, /\nstrict-transport-security: max-age=31536000\r?\n/);
  const echo = JSON.parse(out.stdout.slice(out.stdout.indexOf('{'))) as Echo;
  assert.equal(echo.httpVersion, '1.1');
  assert.equal(echo.method, 'POST');
  assert.equal(echo.url, '/a/b?c=d');
  assert.equal(echo.headers.host, `www.example.com:${proxy.port}`);
  assert.equal(echo.headers['x-forwarded-proto'], 'https');
  assert.equal(echo.headers.via, '2 fulcrum');
  assert.equal(echo.headers['x-test'], 'yes');
  assert.equal(echo.headers.cookie, 'a=1');
  assert.equal(echo.bodyBytes, 8);
});

test('node:http2: 60 concurrent streams on one connection, cookies joined, both servers used over reused connections', { skip }, async (t) => {
  const pki = new TestPki(t);
  const www = pki.leaf(['www.example.com']);
  const s1 = await echoBackend(t, 'S1');
  const s2 = await echoBackend(t, 'S2');
  const proxy = await proxyFor(t, httpsYaml([www], [s1.port, s2.port]));
  const session = await h2Session(t, proxy.port);
  const replies = await Promise.all(
    Array.from({ length: 60 }, (_, i) => h2Request(session, { ':path': `/n/${i}`, cookie: ['a=1', 'b=2'] })),
  );
  const by = new Map<string, number>();
  replies.forEach((r, i) => {
    assert.equal(r.status, 200);
    const e = JSON.parse(r.body.toString()) as Echo;
    assert.equal(e.url, `/n/${i}`);
    assert.equal(e.headers.cookie, 'a=1; b=2');
    by.set(e.name, (by.get(e.name) ?? 0) + 1);
  });
  assert.deepEqual([by.get('S1'), by.get('S2')], [30, 30]);
  // sequential requests reuse the pooled upstream connections
  const before = s1.connections + s2.connections;
  for (let i = 0; i < 10; i++) assert.equal((await h2Request(session, { ':path': '/again' })).status, 200);
  assert.equal(s1.connections + s2.connections, before);
});

test('flow control both ways: a stalled client stops the server, a large upload and download arrive whole', { skip }, async (t) => {
  const pki = new TestPki(t);
  const www = pki.leaf(['www.example.com']);
  const total = 32 << 20;
  let blocked = false;
  let written = 0;
  const big = await httpBackend((req, res) => {
    if (req.url === '/upload') {
      const h = createHash('sha256');
      let n = 0;
      req.on('data', (c: Buffer) => {
        h.update(c);
        n += c.length;
      });
      req.on('end', () => res.end(`${n} ${h.digest('hex')} ${req.headers['transfer-encoding'] ?? '-'} ${req.headers['content-length'] ?? '-'}`));
      return;
    }
    res.writeHead(200, { 'content-length': total });
    const chunk = Buffer.alloc(64 << 10, 7);
    const pump = () => {
      while (written < total) {
        written += chunk.length;
        if (!res.write(chunk)) {
          blocked = true;
          res.once('drain', pump);
          return;
        }
      }
      res.end();
    };
    pump();
  });
  t.after(() => big.close());
  const proxy = await proxyFor(t, httpsYaml([www], [big.port]));
  const session = await h2Session(t, proxy.port);

  // download, with the client not reading for a while
  const stream = session.request({ ':path': '/download', ':authority': 'www.example.com' });
  stream.pause();
  await waitFor(() => blocked, WAIT_MS, 'the server to be blocked by backpressure');
  const writtenWhileStalled = written;
  await new Promise((r) => setTimeout(r, 200));
  assert.ok(written === writtenWhileStalled, 'nothing more is written while the client reads nothing');
  assert.ok(written < total / 2, `only windows and buffers are in flight (${written} of ${total} bytes)`);
  let got = 0;
  stream.on('data', (c: Buffer) => (got += c.length));
  stream.resume();
  await once(stream, 'end');
  assert.equal(got, total);

  // uploads: without a length (relayed chunked) and with one
  const data = randomBytes(6 << 20);
  const sum = createHash('sha256').update(data).digest('hex');
  const chunked = await h2Request(session, { ':method': 'POST', ':path': '/upload' }, data);
  assert.equal(chunked.body.toString(), `${data.length} ${sum} chunked -`);
  const sized = await h2Request(session, { ':method': 'PUT', ':path': '/upload', 'content-length': String(data.length) }, data);
  assert.equal(sized.body.toString(), `${data.length} ${sum} - ${data.length}`);
  // an empty DATA frame ending a GET: no body, no framing
  const empty = await h2Request(session, { ':method': 'GET', ':path': '/upload' }, Buffer.alloc(0));
  assert.equal(empty.body.toString(), `0 ${createHash('sha256').digest('hex')} - -`);
});

test('h2load: bounded load over TLS and over h2c, every request answered', { skip: skip || (H2LOAD === undefined && 'h2load is not installed (Debian package nghttp2-client)') }, async (t) => {
  const pki = new TestPki(t);
  const www = pki.leaf(['www.example.com']);
  const s1 = await echoBackend(t, 'S1');
  const s2 = await echoBackend(t, 'S2');
  const proxy = await proxyFor(t, httpsYaml([www], [s1.port, s2.port], {
    more: ['  - name: h2c', '    bind: 127.0.0.1:0', '    http2: { h2c: true }', '    routes: [{ pool: web }]'],
  }));
  for (const url of [`https://127.0.0.1:${proxy.ports[0]}/`, `http://127.0.0.1:${proxy.ports[1]}/`]) {
    const out = await run(H2LOAD!, ['-n', '2000', '-c', '4', '-m', '20', url], { encoding: 'utf8', timeout: 60_000 });
    assert.match(out.stdout, /requests: 2000 total, 2000 started, 2000 done, 2000 succeeded, 0 failed, 0 errored/, out.stdout);
    assert.match(out.stdout, /status codes: 2000 2xx/);
  }
});

test('settings follow the edge limits; streams beyond max_concurrent_streams are refused', { skip }, async (t) => {
  const pki = new TestPki(t);
  const www = pki.leaf(['www.example.com']);
  const held: http.ServerResponse[] = [];
  const hold = await httpBackend((req, res) => {
    req.resume();
    held.push(res);
  });
  t.after(() => {
    for (const r of held) r.destroy();
    return hold.close();
  });
  const proxy = await proxyFor(t, httpsYaml([www], [hold.port], { listener: ['http2: { max_concurrent_streams: 2 }'] }));
  const raw = await RawH2.open(t, proxy.port);
  const settings = raw.frames.find((f) => f.type === FRAME.SETTINGS && (f.flags & FLAG.ACK) === 0)!;
  assert.equal(setting(settings, 3), 2, 'MAX_CONCURRENT_STREAMS');
  assert.equal(setting(settings, 4), 65_536, 'INITIAL_WINDOW_SIZE');
  assert.equal(setting(settings, 6), 16_384, 'MAX_HEADER_LIST_SIZE (limits.header_size)');
  assert.equal(setting(settings, 2), 0, 'ENABLE_PUSH');
  const conn = await raw.waitFor((f) => f.type === FRAME.WINDOW_UPDATE && f.stream === 0, 'the connection WINDOW_UPDATE');
  assert.equal(conn.payload.readUInt32BE(0) + 65_535, 1 << 20, 'connection window 1 MiB');
  raw.send(headers(1, get('/1')), headers(3, get('/3')));
  await waitFor(() => held.length === 2, WAIT_MS, 'two requests at the server');
  for (const r of held.splice(0)) r.end('done');
  await raw.waitFor((f) => f.type === FRAME.HEADERS && f.stream === 3, 'the answer on stream 3');
  assert.ok(raw.answered(1));
  await new Promise((r) => setTimeout(r, 100)); // streams 1 and 3 are closed on both sides
  // a client that opens more streams than it was allowed: the third never reaches a
  // server; nghttp2 makes it a connection error (PROTOCOL_ERROR) once the SETTINGS are
  // acknowledged, so the other two are reset as well
  raw.send(headers(5, get('/5')), headers(7, get('/7')), headers(9, get('/9')));
  await waitFor(() => raw.closed || raw.frames.some((f) => f.type === FRAME.GOAWAY), WAIT_MS, 'the connection to end');
  const goaway = raw.frames.find((f) => f.type === FRAME.GOAWAY);
  if (goaway !== undefined) assert.equal(goaway.payload.readUInt32BE(4), ERR.PROTOCOL_ERROR);
  for (const f of raw.frames.filter((x) => x.type === FRAME.RST_STREAM)) assert.equal(f.payload.readUInt32BE(0), ERR.PROTOCOL_ERROR);
  assert.equal(raw.answered(9), false);
  assert.ok(held.length <= 2, `at most two requests at the server (${held.length})`);
});

test('protocol errors: GOAWAY or RST_STREAM with the right code, other connections unaffected', { skip }, async (t) => {
  const pki = new TestPki(t);
  const www = pki.leaf(['www.example.com']);
  const s1 = await echoBackend(t, 'S1');
  const proxy = await proxyFor(t, httpsYaml([www], [s1.port]));
  const bystander = await h2Session(t, proxy.port);
  const stillFine = async () => assert.equal((await h2Request(bystander, { ':path': '/ok' })).status, 200);
  await stillFine();

  // stream errors: the stream is reset, the connection goes on
  const raw = await RawH2.open(t, proxy.port);
  raw.send(headers(1, get('/x', [['Connection', 'close']])));
  assert.equal(await raw.reset(1), ERR.PROTOCOL_ERROR, 'upper-case field name');
  raw.send(headers(3, get('/x', [['connection', 'keep-alive']])));
  assert.equal(await raw.reset(3), ERR.PROTOCOL_ERROR, 'connection-specific field');
  raw.send(headers(5, [[':method', 'GET'], [':path', '/x']]));
  assert.equal(await raw.reset(5), ERR.PROTOCOL_ERROR, 'no :scheme');
  raw.send(headers(7, get('/fine')));
  await raw.waitFor((f) => f.type === FRAME.HEADERS && f.stream === 7, 'an answer on the same connection');
  assert.equal(raw.closed, false);

  // connection errors: GOAWAY with the code
  const bad = [
    { what: 'DATA on stream 0', frames: [frame(FRAME.DATA, 0, 0, Buffer.from('x'))], code: ERR.PROTOCOL_ERROR },
    { what: 'a SETTINGS frame of 5 bytes', frames: [frame(FRAME.SETTINGS, 0, 0, Buffer.alloc(5))], code: ERR.FRAME_SIZE_ERROR },
    { what: 'an even stream id from the client', frames: [headers(2, get('/x'))], code: ERR.PROTOCOL_ERROR },
    { what: 'an invalid header block', frames: [frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 1, Buffer.from([0xff, 0xff, 0xff, 0xff]))], code: ERR.COMPRESSION_ERROR },
    { what: 'a window overflowing 2^31-1', frames: [frame(FRAME.WINDOW_UPDATE, 0, 0, Buffer.from([0x7f, 0xff, 0xff, 0xff]))], code: ERR.FLOW_CONTROL_ERROR },
    { what: 'a PING of 7 bytes', frames: [frame(FRAME.PING, 0, 0, Buffer.alloc(7))], code: ERR.FRAME_SIZE_ERROR },
    { what: 'CONTINUATION without HEADERS', frames: [frame(FRAME.CONTINUATION, FLAG.END_HEADERS, 1)], code: ERR.PROTOCOL_ERROR },
    { what: 'HTTP/1.1 after the preface', frames: [Buffer.from('GET / HTTP/1.1\r\n\r\n')], code: ERR.FRAME_SIZE_ERROR },
    { what: 'a HEADERS frame larger than SETTINGS_MAX_FRAME_SIZE', frames: [headers(1, get('/x', [['x-big', 'a'.repeat(20_000)]]))], code: ERR.FRAME_SIZE_ERROR },
  ];
  for (const b of bad) {
    const c = await RawH2.open(t, proxy.port);
    c.send(...b.frames);
    assert.equal(await c.goaway(), b.code, b.what);
    // a request after the GOAWAY is not served
    c.send(headers(11, get('/after')));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(c.answered(11), false, `no answer after ${b.what}`);
    c.sock.destroy();
    await stillFine();
  }
  // not HTTP/2 at all after ALPN h2: no connection preface
  const junk = tls.connect({ host: '127.0.0.1', port: proxy.port, servername: 'www.example.com', ALPNProtocols: ['h2'], rejectUnauthorized: false });
  t.after(() => junk.destroy());
  junk.on('error', () => {});
  await once(junk, 'secureConnect');
  const back: Buffer[] = [];
  junk.on('data', (c: Buffer) => back.push(c));
  junk.write('GET / HTTP/1.1\r\nHost: www.example.com\r\n\r\n');
  await once(junk, 'close');
  const bytes = Buffer.concat(back);
  const goaway = bytes.indexOf(Buffer.from([0x07, 0x00, 0x00, 0x00, 0x00, 0x00]), 3);
  assert.ok(goaway > 0, 'a GOAWAY came back');
  assert.equal(bytes.readUInt32BE(goaway + 10), ERR.PROTOCOL_ERROR);
  await stillFine();
});

test('a header list over the limit is refused (431 or ENHANCE_YOUR_CALM), the connection goes on', { skip }, async (t) => {
  const pki = new TestPki(t);
  const www = pki.leaf(['www.example.com']);
  const s1 = await echoBackend(t, 'S1');
  const proxy = await proxyFor(t, httpsYaml([www], [s1.port], { listener: ['limits: { header_size: 4KiB, url_size: 2KiB }'] }));
  const session = await h2Session(t, proxy.port);
  const big = await h2Request(session, { ':path': '/big', 'x-big': 'a'.repeat(6000) }).then(
    (r) => `status ${r.status}`,
    (e: Error) => `reset: ${e.message}`,
  );
  // over SETTINGS_MAX_HEADER_LIST_SIZE (limits.header_size): node:http2 resets the stream
  // while reading the header block, or, when the block arrived whole, the translated head
  // is over the same limit and the answer is 431
  assert.match(big, /^(status 431|reset: Stream closed with error code NGHTTP2_ENHANCE_YOUR_CALM)$/);
  assert.equal((await h2Request(session, { ':path': '/small' })).status, 200);
});

test('GOAWAY: on demand (reload) and on stop; streams in flight finish', { skip }, async (t) => {
  const pki = new TestPki(t);
  const www = pki.leaf(['www.example.com']);
  const held: http.ServerResponse[] = [];
  const slow = await httpBackend((req, res) => {
    req.resume();
    if (req.url === '/hold') held.push(res);
    else res.end('quick');
  });
  t.after(() => slow.close());
  const proxy = await proxyFor(t, httpsYaml([www], [slow.port]));
  const fe = proxy.instance.listeners[0] as HttpFrontend;

  const a = await h2Session(t, proxy.port);
  const inFlight = h2Request(a, { ':path': '/hold' });
  await waitFor(() => held.length === 1, WAIT_MS, 'the request at the server');
  const goaway = once<number>(a, 'goaway');
  fe.goAway();
  const [code] = await goaway;
  assert.equal(code, http2.constants.NGHTTP2_NO_ERROR);
  held[0]!.end('finished after GOAWAY');
  assert.equal((await inFlight).body.toString(), 'finished after GOAWAY');
  // a new connection is served as before
  const b = await h2Session(t, proxy.port);
  assert.equal((await h2Request(b, { ':path': '/q' })).body.toString(), 'quick');

  const inFlight2 = h2Request(b, { ':path': '/hold' });
  await waitFor(() => held.length === 2, WAIT_MS, 'the second held request');
  const goaway2 = once<number>(b, 'goaway');
  const stopped = proxy.stop();
  assert.equal((await goaway2)[0], http2.constants.NGHTTP2_NO_ERROR);
  held[1]!.end('finished during stop');
  assert.equal((await inFlight2).body.toString(), 'finished during stop');
  await stopped;
});

test('h2c with prior knowledge beside HTTP/1.1 on one plain listener', { skip }, async (t) => {
  const s1 = await echoBackend(t, 'S1');
  const proxy = await proxyFor(t, [
    'listeners:',
    '  - name: plain',
    '    bind: 127.0.0.1:0',
    '    http2: { h2c: true }',
    '    routes: [{ pool: web }]',
    'pools:',
    '  web:',
    `    servers: [{ address: "127.0.0.1:${s1.port}" }]`,
    '',
  ].join('\n'));
  const session = await h2Session(t, proxy.port, { h2c: true });
  const r = await h2Request(session, { ':path': '/h2c', ':scheme': 'http' });
  const e = JSON.parse(r.body.toString()) as Echo;
  assert.equal(e.headers['x-forwarded-proto'], 'http');
  assert.equal(e.headers.via, '2 fulcrum');
  const h1 = await new Promise<string>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: proxy.port, path: '/h1' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
  assert.equal((JSON.parse(h1) as Echo).headers.via, '1.1 fulcrum');
});

test('pools behind HTTP/2: retries on another server, 503 with Retry-After, 502, a reset stream frees its server connection', { skip }, async (t) => {
  const errors = recordUpstreamErrors(t);
  const pki = new TestPki(t);
  const www = pki.leaf(['www.example.com']);
  const dead = await closedPort();
  const s2 = await echoBackend(t, 'S2');
  const proxy = await proxyFor(t, httpsYaml([www], [dead, s2.port], { more: [] }));
  const session = await h2Session(t, proxy.port);
  for (let i = 0; i < 4; i++) {
    const r = await h2Request(session, { ':path': `/r${i}` });
    assert.equal(r.status, 200);
    assert.equal((JSON.parse(r.body.toString()) as Echo).name, 'S2');
  }

  const none = await proxyFor(t, httpsYaml([www], [dead], {}));
  const s = await h2Session(t, none.port);
  const r503 = await h2Request(s, { ':path': '/' });
  assert.equal(r503.status, 503);
  assert.equal(r503.headers['retry-after'], '1');
  assert.match(errors.last(503), /could not connect to server/);
  assert.equal(r503.body.toString(), upstreamErrorBody(503), 'the body names no server, pool or address');

  let closedByProxy = false;
  const garbage = await httpBackend(() => {});
  garbage.server.removeAllListeners('request');
  garbage.server.on('connection', (sock) => {
    sock.once('data', (d: Buffer) => {
      if (d.toString().includes('/garbage')) sock.end('NOT HTTP\r\n\r\n');
      else sock.once('close', () => (closedByProxy = true));
    });
  });
  t.after(() => garbage.close());
  const gp = await proxyFor(t, httpsYaml([www], [garbage.port], {}));
  const gs = await h2Session(t, gp.port);
  const r502 = await h2Request(gs, { ':path': '/garbage' });
  assert.equal(r502.status, 502);
  // a client reset mid-request: the server connection is closed, not reused half-read
  const stream = gs.request({ ':path': '/slow', ':authority': 'www.example.com' });
  stream.on('error', () => {});
  await waitFor(() => garbage.connections >= 2, WAIT_MS, 'the second request at the server');
  await new Promise((r) => setTimeout(r, 50));
  stream.close(http2.constants.NGHTTP2_CANCEL);
  await waitFor(() => closedByProxy, WAIT_MS, 'the proxy to close the server connection');
  assert.equal((await h2Request(gs, { ':path': '/garbage' })).status, 502, 'the session goes on');
});
