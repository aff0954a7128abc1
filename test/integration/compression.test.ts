/**
 * Response compression over HTTP/1.1 and HTTP/2 with real clients (node:http, node:http2
 * and curl, each decompressing and comparing with the origin's bytes): gzip and brotli by
 * the client's q-values, Vary appended, a weak ETag, the minimum size, the cases never
 * compressed, a streamed body that reaches the client while the server still sends it,
 * a route that turns its listener's compression off, and HTTPS with HTTP/1.1 and h2 (curl).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';

import net from 'node:net';
import { test, type TestContext } from 'node:test';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { httpBackend, rawBackend } from '../helpers/backends.js';
import { NO_OPENSSL, TestPki } from '../helpers/certs.js';
import { h2Request, h2Session, readRequest, SocketReader } from '../helpers/http-client.js';
import { startProxy } from '../helpers/proxies.js';

const run = promisify(execFile);
const haveCurl = await run('curl', ['--version']).then(
  (r) => r.stdout.includes('brotli'),
  () => false,
);

/** 100 KB of text that compresses as web pages do (repeated words, some variety). */
const TEXT = Buffer.from(Array.from({ length: 2000 }, (_, i) => `<p>line ${i}: the quick brown fox ${i % 7} jumps</p>\n`).join('').slice(0, 100_000));
const SMALL = Buffer.from('<p>short</p>\n'.repeat(10)); // 130 bytes

/** A stream a test releases: the server holds its second part until `release()`. */
interface Held {
  release(): void;
  wait: Promise<void>;
}
function held(): Held {
  let release!: () => void;
  const wait = new Promise<void>((r) => (release = r));
  return { release, wait };
}

/** The origin: one answer per path. */
async function origin(t: TestContext, streams: Held[]) {
  const b = await httpBackend((req, res) => {
    const path = req.url ?? '/';
    const text = (type: string, body: Buffer, extra: Record<string, string> = {}) => {
      res.writeHead(200, { 'content-type': type, 'content-length': body.length, ...extra });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    switch (path) {
      case '/text':
        return text('text/html; charset=utf-8', TEXT, { etag: '"v1"', vary: 'Origin' });
      case '/json':
        return text('application/json', TEXT, { vary: 'Accept-Encoding' });
      case '/small':
        return text('text/html', SMALL);
      case '/png':
        return text('image/png', TEXT);
      case '/no-type':
        res.writeHead(200, { 'content-length': TEXT.length });
        return res.end(TEXT);
      case '/encoded': {
        const gz = zlib.gzipSync(TEXT);
        res.writeHead(200, { 'content-type': 'text/html', 'content-encoding': 'gzip', 'content-length': gz.length });
        return res.end(gz);
      }
      case '/identity':
        return text('text/html', TEXT, { 'content-encoding': 'identity', etag: 'W/"weak"' });
      case '/no-transform':
        return text('text/html', TEXT, { 'cache-control': 'public, no-transform' });
      case '/range':
        if (req.headers.range !== undefined) {
          res.writeHead(206, { 'content-type': 'text/html', 'content-range': `bytes 0-9/${TEXT.length}`, 'content-length': 10 });
          return res.end(TEXT.subarray(0, 10));
        }
        return text('text/html', TEXT);
      case '/204':
        res.writeHead(204, { 'content-type': 'text/html' });
        return res.end();
      case '/304':
        res.writeHead(304, { 'content-type': 'text/html', etag: '"v1"' });
        return res.end();
      case '/chunked':
        // no length: chunked, in several writes
        res.writeHead(200, { 'content-type': 'text/plain' });
        for (let i = 0; i < TEXT.length; i += 7000) res.write(TEXT.subarray(i, i + 7000));
        return res.end();
      case '/trailers':
        // chunked, with a trailer section after the body
        res.writeHead(200, { 'content-type': 'text/plain', trailer: 'X-Checksum' });
        res.write(TEXT);
        res.addTrailers({ 'X-Checksum': 'abc123' });
        return res.end();
      case '/stream': {
        // server-sent events: the first event, then the rest only when the test says
        const h = streams.shift()!;
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('data: first\n\n');
        void h.wait.then(() => res.end('data: second\n\n'));
        return;
      }
      default:
        res.writeHead(404, { 'content-type': 'text/plain' });
        return res.end('no\n');
    }
  });
  t.after(() => b.close());
  return b;
}

/** Fulcrum with compression on two listeners (plain HTTP/1.1, and h2c for HTTP/2) over `port`. */
async function compressingProxy(t: TestContext, port: number, compression = '{ min_size: 1KB }') {
  const listener = (name: string, extra: string) => `  - name: ${name}
    bind: 127.0.0.1:0
${extra}    compression: ${compression}
    routes:
      - { path: /off/, pool: web, rewrite: { strip_prefix: true }, compression: { enabled: false } }
      - { path: /gzip-only/, pool: web, rewrite: { strip_prefix: true }, compression: { algorithms: [gzip], level: { gzip: 1 } } }
      - pool: web
`;
  const proxy = await startProxy(`listeners:
${listener('h1', '')}${listener('h2', '    http2: { h2c: true }\n')}pools:
  web:
    servers: [{ name: s1, address: "127.0.0.1:${port}" }]
`);
  t.after(() => proxy.stop());
  return { h1: proxy.ports[0]!, h2: proxy.ports[1]! };
}

interface Got {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** The body as it came on the wire (compressed or not). */
  raw: Buffer;
}

/** One HTTP/1.1 request (node:http, no decompression). */
function get1(port: number, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, raw: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** Decodes a body by its Content-Encoding. */
function decode(g: Got): Buffer {
  const ce = g.headers['content-encoding'];
  if (ce === 'gzip') return zlib.gunzipSync(g.raw);
  if (ce === 'br') return zlib.brotliDecompressSync(g.raw);
  assert.equal(ce, undefined, `unexpected content-encoding ${String(ce)}`);
  return g.raw;
}

test('gzip and brotli by q-values over HTTP/1.1 and HTTP/2: the bytes decompress to the origin\'s', async (t) => {
  const o = await origin(t, []);
  const p = await compressingProxy(t, o.port);
  const session = await h2Session(t, p.h2, { h2c: true });
  const both = async (path: string, headers: Record<string, string>, method = 'GET'): Promise<Got[]> => {
    const h1 = await get1(p.h1, path, headers, method);
    const r2 = await h2Request(session, { ':path': path, ':method': method, ...headers });
    return [h1, { status: r2.status, headers: r2.headers as Got['headers'], raw: r2.body }];
  };
  const cases: Array<[string, string | undefined]> = [
    ['gzip, deflate, br', 'br'], // br preferred on a tie (the configured order)
    ['gzip', 'gzip'],
    ['br;q=0.5, gzip;q=0.9', 'gzip'], // the client's weights first
    ['GZIP;Q=1, br;q=0', 'gzip'], // q=0 refuses br; any case
    ['*', 'br'],
    ['*;q=0.1, br;q=0', 'gzip'],
    ['gzip;q=0, br;q=0', undefined],
    ['identity', undefined],
    ['deflate', undefined],
    ['x-gzip', 'gzip'],
  ];
  for (const [accept, want] of cases) {
    for (const g of await both('/text', { 'accept-encoding': accept })) {
      assert.equal(g.status, 200);
      assert.equal(g.headers['content-encoding'], want, `Accept-Encoding: ${accept}`);
      assert.ok(decode(g).equals(TEXT), `the body decodes to the origin's (${accept})`);
      if (want !== undefined) {
        assert.equal(g.headers['content-length'], undefined, 'no Content-Length on a compressed body');
        assert.ok(g.raw.length < TEXT.length / 3, `compressed: ${g.raw.length} bytes`);
        assert.equal(g.headers.etag, 'W/"v1"', 'the strong ETag is made weak');
        assert.equal(g.headers.vary, 'Origin, Accept-Encoding', 'Accept-Encoding appended to Vary');
      } else {
        assert.equal(g.headers['content-length'], String(TEXT.length));
        assert.equal(g.headers.etag, '"v1"');
      }
    }
  }
  // no Accept-Encoding: as it is
  for (const g of await both('/text', {})) assert.equal(g.headers['content-encoding'], undefined);
  // Vary already naming Accept-Encoding is kept; other listed types
  for (const g of await both('/json', { 'accept-encoding': 'gzip' })) {
    assert.equal(g.headers.vary, 'Accept-Encoding');
    assert.ok(decode(g).equals(TEXT));
  }
  // identity from the server is replaced; a weak ETag stays as it is
  for (const g of await both('/identity', { 'accept-encoding': 'gzip' })) {
    assert.equal(g.headers['content-encoding'], 'gzip');
    assert.equal(g.headers.etag, 'W/"weak"');
    assert.ok(decode(g).equals(TEXT));
  }
  // a chunked origin body (HTTP/1.1: decoded, compressed, re-chunked)
  for (const g of await both('/chunked', { 'accept-encoding': 'br, gzip' })) {
    assert.equal(g.headers['content-encoding'], 'br');
    assert.ok(decode(g).equals(TEXT));
  }
  // per route: off, and gzip only
  for (const g of await both('/off/text', { 'accept-encoding': 'gzip, br' })) assert.equal(g.headers['content-encoding'], undefined);
  for (const g of await both('/gzip-only/text', { 'accept-encoding': 'gzip, br' })) {
    assert.equal(g.headers['content-encoding'], 'gzip');
    assert.ok(decode(g).equals(TEXT));
  }
});

test('never compressed: small, unlisted or no type, already encoded, no-transform, ranges, HEAD, 204, 304, HTTP/1.0', async (t) => {
  const o = await origin(t, []);
  const p = await compressingProxy(t, o.port);
  const session = await h2Session(t, p.h2, { h2c: true });
  const ae = { 'accept-encoding': 'gzip, br' };
  const both = async (path: string, headers: Record<string, string> = ae, method = 'GET'): Promise<Got[]> => {
    const h1 = await get1(p.h1, path, headers, method);
    const r2 = await h2Request(session, { ':path': path, ':method': method, ...headers });
    return [h1, { status: r2.status, headers: r2.headers as Got['headers'], raw: r2.body }];
  };
  const plain = (g: Got, what: string) => assert.equal(g.headers['content-encoding'], undefined, what);
  for (const g of await both('/small')) {
    plain(g, 'below min_size');
    assert.ok(g.raw.equals(SMALL));
    assert.equal(g.headers.vary, undefined, 'no Vary when not compressed');
  }
  for (const g of await both('/png')) plain(g, 'image/png is not listed');
  for (const g of await both('/no-type')) plain(g, 'no Content-Type');
  for (const g of await both('/encoded')) {
    assert.equal(g.headers['content-encoding'], 'gzip', 'the server\'s own gzip');
    assert.ok(zlib.gunzipSync(g.raw).equals(TEXT), 'not compressed twice');
  }
  for (const g of await both('/no-transform')) {
    plain(g, 'Cache-Control: no-transform');
    assert.ok(g.raw.equals(TEXT));
  }
  for (const g of await both('/range', { ...ae, range: 'bytes=0-9' })) {
    assert.equal(g.status, 206);
    plain(g, 'a range');
    assert.equal(g.raw.toString(), TEXT.subarray(0, 10).toString());
  }
  // a Range request the server answers with 200 (it may): still not compressed
  for (const g of await both('/text', { ...ae, range: 'bytes=0-9' })) plain(g, 'a request with Range');
  for (const g of await both('/text', ae, 'HEAD')) {
    plain(g, 'HEAD');
    assert.equal(g.raw.length, 0);
  }
  for (const g of await both('/204')) assert.equal(g.status, 204);
  for (const g of await both('/304')) {
    assert.equal(g.status, 304);
    plain(g, '304');
    assert.equal(g.headers.etag, '"v1"');
  }
  // HTTP/1.0: no chunked framing to carry a body of unknown length
  const sock = net.connect(p.h1, '127.0.0.1');
  sock.end('GET /text HTTP/1.0\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n');
  const chunks: Buffer[] = [];
  sock.on('data', (c: Buffer) => chunks.push(c));
  await once(sock, 'close');
  const text = Buffer.concat(chunks).toString('latin1');
  assert.match(text, /^HTTP\/1\.1 200 /);
  assert.doesNotMatch(text, /content-encoding/i);
});

test('a streamed body reaches the client compressed while the server still sends it (HTTP/1.1 and HTTP/2)', async (t) => {
  const streams = [held(), held(), held()];
  const o = await origin(t, [...streams]);
  const p = await compressingProxy(t, o.port, '{ min_size: 0 }');
  const firstEvent = 'data: first\n\n';

  // HTTP/1.1, gzip: the decompressing client reads the first event before the server's end
  await new Promise<void>((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: p.h1, path: '/stream', headers: { 'accept-encoding': 'gzip' }, agent: false }, (res) => {
      assert.equal(res.headers['content-encoding'], 'gzip');
      assert.equal(res.headers['transfer-encoding'], 'chunked');
      const gunzip = zlib.createGunzip();
      res.pipe(gunzip);
      let text = '';
      gunzip.on('data', (d: Buffer) => {
        text += d.toString();
        if (text === firstEvent) streams[0]!.release(); // only now does the server send the rest
      });
      gunzip.on('end', () => {
        assert.equal(text, 'data: first\n\ndata: second\n\n');
        resolve();
      });
      gunzip.on('error', reject);
    });
    req.on('error', reject);
  });

  // HTTP/2, brotli
  const session = await h2Session(t, p.h2, { h2c: true });
  await new Promise<void>((resolve, reject) => {
    const stream = session.request({ ':path': '/stream', 'accept-encoding': 'br' });
    stream.on('response', (h) => assert.equal(h['content-encoding'], 'br'));
    const br = zlib.createBrotliDecompress();
    stream.pipe(br);
    let text = '';
    br.on('data', (d: Buffer) => {
      text += d.toString();
      if (text === firstEvent) streams[1]!.release();
    });
    br.on('end', () => {
      assert.equal(text, 'data: first\n\ndata: second\n\n');
      resolve();
    });
    br.on('error', reject);
  });

  // curl (HTTP/1.1, --no-buffer): the first event printed before the server ends
  if (haveCurl) {
    const child = execFile('curl', ['-sN', '--compressed', `http://127.0.0.1:${p.h1}/stream`]);
    let out = '';
    child.stdout!.on('data', (d: string) => {
      out += d;
      if (out === firstEvent) streams[2]!.release();
    });
    const [code] = (await once(child, 'exit')) as [number];
    assert.equal(code, 0);
    assert.equal(out, 'data: first\n\ndata: second\n\n');
  } else {
    streams[2]!.release();
  }
});

test('curl --compressed over HTTP/1.1 and HTTP/2 gets the origin\'s bytes', { skip: haveCurl ? false : 'curl with brotli is not installed (Debian package curl)' }, async (t) => {
  const o = await origin(t, []);
  const p = await compressingProxy(t, o.port);
  for (const [args, port] of [[['--http1.1'], p.h1], [['--http2-prior-knowledge'], p.h2]] as const) {
    for (const path of ['/text', '/chunked', '/gzip-only/text']) {
      const r = await run('curl', ['-s', '--compressed', '-D', '-', ...args, `http://127.0.0.1:${port}${path}`], { encoding: 'buffer', maxBuffer: 4 << 20 });
      const out = r.stdout;
      const split = out.indexOf('\r\n\r\n');
      const head = out.subarray(0, split).toString('latin1');
      assert.match(head, path.startsWith('/gzip-only') ? /content-encoding: gzip/i : /content-encoding: br/i, `${args[0]} ${path}`);
      assert.ok(out.subarray(split + 4).equals(TEXT), `curl ${args[0]} ${path} decodes the origin's bytes`);
    }
  }
});

test('compression is off by default, and a keep-alive connection carries compressed and plain responses in turn', async (t) => {
  const o = await origin(t, []);
  const off = await startProxy(`listeners:
  - { name: plain, bind: 127.0.0.1:0, routes: [{ pool: web }] }
pools:
  web:
    servers: [{ name: s1, address: "127.0.0.1:${o.port}" }]
`);
  t.after(() => off.stop());
  const g = await get1(off.port, '/text', { 'accept-encoding': 'gzip, br' });
  assert.equal(g.headers['content-encoding'], undefined);
  assert.ok(g.raw.equals(TEXT));

  const p = await compressingProxy(t, o.port);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.after(() => agent.destroy());
  const seen = new Set<net.Socket>();
  for (const path of ['/text', '/chunked', '/png', '/text', '/small', '/chunked', '/off/chunked']) {
    const got = await new Promise<Got>((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port: p.h1, path, headers: { 'accept-encoding': 'gzip' }, agent }, (res) => {
        seen.add(res.socket);
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, raw: Buffer.concat(chunks) }));
      });
      req.on('error', reject);
    });
    assert.ok(decode(got).equals(path === '/small' ? SMALL : TEXT), path);
  }
  assert.equal(seen.size, 1, 'one connection for all');
});

test('a client that leaves mid-body: the proxy goes on serving', async (t) => {
  const stream = held();
  const o = await origin(t, [stream]);
  const p = await compressingProxy(t, o.port, '{ min_size: 0 }');
  const sock = net.connect(p.h1, '127.0.0.1');
  sock.write('GET /stream HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n');
  await once(sock, 'data');
  sock.destroy();
  stream.release();
  const g = await get1(p.h1, '/text', { 'accept-encoding': 'gzip' });
  assert.ok(decode(g).equals(TEXT));
});



test('a body that ends with the server\'s close is compressed up to the close; an upgrade stays a tunnel', async (t) => {
  const backend = await rawBackend((sock, reader) => {
    void readRequest(reader).then((req) => {
      if (req.head.includes('Upgrade: echo')) {
        sock.write('HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: echo\r\nContent-Type: text/plain\r\n\r\n');
        sock.pipe(sock);
        return;
      }
      // no length, no chunks: the body ends when the server closes
      sock.end(Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n'), TEXT]));
    });
  });
  t.after(() => backend.close());
  const p = await compressingProxy(t, backend.port);
  const g = await get1(p.h1, '/', { 'accept-encoding': 'gzip' });
  assert.equal(g.headers['content-encoding'], 'gzip');
  assert.equal(g.headers.connection, 'close');
  assert.ok(decode(g).equals(TEXT));

  const sock = net.connect(p.h1, '127.0.0.1');
  t.after(() => sock.destroy());
  const reader = new SocketReader(sock);
  sock.write('GET / HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\n');
  const head = await reader.readHead();
  assert.match(head, /^HTTP\/1\.1 101 /);
  assert.doesNotMatch(head, /content-encoding/i);
  sock.write('ping through the tunnel');
  assert.equal((await reader.readBytes(23)).toString(), 'ping through the tunnel');
});

test('over HTTPS: curl --compressed with HTTP/1.1 and HTTP/2 (ALPN h2) gets the origin\'s bytes', { skip: NO_OPENSSL || (haveCurl ? false : 'curl with brotli is not installed (Debian package curl)') }, async (t) => {
  const o = await origin(t, []);
  const pki = new TestPki(t);
  const www = pki.leaf(['www.example.com']);
  const proxy = await startProxy(`listeners:
  - name: www
    bind: 127.0.0.1:0
    tls:
      certificates: [{ cert: "${www.cert}", key: "${www.key}" }]
    compression: {}
    routes: [{ pool: web }]
pools:
  web:
    servers: [{ name: s1, address: "127.0.0.1:${o.port}" }]
`);
  t.after(() => proxy.stop());
  for (const version of ['--http1.1', '--http2']) {
    for (const [path, accept, want] of [
      ['/text', 'br, gzip', 'br'],
      ['/chunked', 'gzip', 'gzip'],
    ] as const) {
      const r = await run('curl', ['-sk', '-D', '-', version, '--compressed', '-H', `Accept-Encoding: ${accept}`, '--resolve', `www.example.com:${proxy.port}:127.0.0.1`, `https://www.example.com:${proxy.port}${path}`], { encoding: 'buffer', maxBuffer: 4 << 20 });
      const split = r.stdout.indexOf('\r\n\r\n');
      const head = r.stdout.subarray(0, split).toString('latin1');
      assert.match(head, version === '--http2' ? /^HTTP\/2 200/ : /^HTTP\/1\.1 200/);
      assert.match(head, new RegExp(`content-encoding: ${want}`, 'i'), `${version} ${path}`);
      assert.ok(r.stdout.subarray(split + 4).equals(TEXT), `${version} ${path}: the origin's bytes`);
    }
  }
});

test('a chunked response with trailers keeps them when compressed (HTTP/1.1 and HTTP/2)', async (t) => {
  const b = await origin(t, []);
  const { h1, h2 } = await compressingProxy(t, b.port);
  const got = await new Promise<{ headers: http.IncomingHttpHeaders; trailers: NodeJS.Dict<string>; raw: Buffer }>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: h1, path: '/trailers', headers: { 'accept-encoding': 'gzip', te: 'trailers' }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ headers: res.headers, trailers: res.trailers, raw: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
  assert.equal(got.headers['content-encoding'], 'gzip');
  assert.deepEqual(zlib.gunzipSync(got.raw), TEXT);
  assert.equal(got.trailers['x-checksum'], 'abc123', 'the trailer comes after the compressed body');

  const session = await h2Session(t, h2, { h2c: true });
  const stream = session.request({ ':path': '/trailers', 'accept-encoding': 'gzip', te: 'trailers' });
  const chunks: Buffer[] = [];
  let trailers: Record<string, unknown> = {};
  stream.on('data', (c: Buffer) => chunks.push(c));
  stream.on('trailers', (tr) => (trailers = tr));
  const [headers] = (await once(stream, 'response')) as [Record<string, unknown>];
  await once(stream, 'end');
  assert.equal(headers['content-encoding'], 'gzip');
  assert.deepEqual(zlib.gunzipSync(Buffer.concat(chunks)), TEXT);
  assert.equal(trailers['x-checksum'], 'abc123');
});

