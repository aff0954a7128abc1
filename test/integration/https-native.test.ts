/**
 * TLS terminated in the native addon (native/tls.c) on HTTPS listeners: that listeners
 * use it, and what only this path can get wrong: bodies much larger than the socket
 * buffers both ways through the kept-bytes path (a TLS write either goes whole or is
 * kept whole), pipelined requests closed by the server, HTTP/2 through the
 * Duplex bridge to node:http2, and tickets that open both on Node's contexts and on the
 * addon's, and a seeded mix of clients that misbehave (gone before the ClientHello, plain
 * HTTP, half a ClientHello, resets, half requests, cut uploads, unread answers) after
 * which no stream is left. The other HTTPS suites run on this path too; https-node-tls.test.ts runs them
 * again on Node's tls module.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { Duplex } from 'node:stream';
import { test } from 'node:test';
import tls from 'node:tls';
import type { HttpFrontend } from '../../src/proxy/http/frontend.js';
import { nativeSockets } from '../../src/io/native-socket.js';
import { encodeV2 } from '../../src/proxy/proxy-protocol.js';
import { nativeRelayMissing } from '../../src/io/native-relay.js';
import { NO_OPENSSL, TestPki } from '../helpers/certs.js';
import { waitFor, WAIT_MS } from '../helpers/wait.js';
import { httpBackend, echoBackend, hashBody, type Echo } from '../helpers/backends.js';
import { startProxy, httpsYaml, proxyFor } from '../helpers/proxies.js';
import { h2Request, h2Session, handshake } from '../helpers/http-client.js';
import { LOOPBACK } from '../helpers/ports.js';

const io = process.env.FULCRUM_HTTP_IO === 'node' || process.env.FULCRUM_TLS === 'node' ? null : nativeSockets();
const skip = NO_OPENSSL || (io === null ? `no native TLS: ${process.env.FULCRUM_HTTP_IO === 'node' || process.env.FULCRUM_TLS === 'node' ? 'FULCRUM_HTTP_IO or FULCRUM_TLS is node' : nativeRelayMissing()}` : false);

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A raw TLS client: writes `data` and collects everything until the server closes. */
function tlsExchange(port: number, data: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = tls.connect({ host: LOOPBACK, port, rejectUnauthorized: false, servername: 'www.example.com', ALPNProtocols: ['http/1.1'] });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no close within ${WAIT_MS} ms`));
    }, WAIT_MS);
    sock.on('secureConnect', () => {
      sock.write(data);
    });
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    sock.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('latin1'));
    });
  });
}

test('HTTPS listeners terminate TLS in the addon: the handshake, the version, the cipher and ALPN are OpenSSL\'s', { skip }, async (t) => {
  const pki = new TestPki(t);
  const s1 = await echoBackend(t, 'S1');
  const before = io!.streamCount();
  const proxy = await proxyFor(t, httpsYaml([pki.leaf(['www.example.com'])], [s1.port]));
  const fe = proxy.instance.listeners[0] as unknown as HttpFrontend;
  assert.equal(fe.sockets, 'native');
  assert.notEqual(fe.edge?.nativeTls, null);
  const h = await handshake(proxy.port, { servername: 'www.example.com', ALPNProtocols: ['h2', 'http/1.1'] });
  assert.equal(h.cn, 'www.example.com');
  assert.equal(h.alpn, 'h2');
  assert.equal(h.protocol, 'TLSv1.3');
  assert.ok(io!.streamCount() > before, 'the accepted connection is an addon stream');
  h.sock.destroy();
});

/** A TLS 1.3 client that sends one request with Connection: close: the tickets it got until the server closed. */
function ticketsOfOneRequest(port: number, session?: Buffer): Promise<{ tickets: Buffer[]; reused: boolean }> {
  return new Promise((resolve, reject) => {
    const sock = tls.connect({ host: LOOPBACK, port, rejectUnauthorized: false, servername: 'www.example.com', ALPNProtocols: ['http/1.1'], minVersion: 'TLSv1.3', ...(session !== undefined ? { session } : {}) });
    const tickets: Buffer[] = [];
    let reused = false;
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no close within ${WAIT_MS} ms`));
    }, WAIT_MS);
    sock.on('session', (s: Buffer) => tickets.push(s));
    sock.on('secureConnect', () => {
      reused = sock.isSessionReused();
      sock.write('GET / HTTP/1.1\r\nHost: www.example.com\r\nConnection: close\r\n\r\n');
    });
    sock.on('data', () => {});
    sock.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    sock.on('close', () => {
      clearTimeout(timer);
      resolve({ tickets, reused });
    });
  });
}

test('one TLS 1.3 ticket per connection, full or resumed, and the ticket resumes (OpenSSL would send two)', { skip }, async (t) => {
  const pki = new TestPki(t);
  const s1 = await echoBackend(t, 'S1');
  const proxy = await proxyFor(t, httpsYaml([pki.leaf(['www.example.com'])], [s1.port]));
  const full = await ticketsOfOneRequest(proxy.port);
  assert.equal(full.reused, false);
  assert.equal(full.tickets.length, 1, 'a full handshake gets one ticket');
  const resumed = await ticketsOfOneRequest(proxy.port, full.tickets[0]);
  assert.equal(resumed.reused, true, 'the ticket resumes');
  assert.equal(resumed.tickets.length, 1, 'a resumed connection gets a fresh one');
});

test('16 MiB up and 16 MiB down over TLS, the client reading late: bytes intact both ways', { skip, timeout: 60_000 }, async (t) => {
  const pki = new TestPki(t);
  const down = randomBytes(16 * 1024 * 1024);
  const backend = await httpBackend((req, res) =>
    hashBody(req, (n, upSha) => {
      res.writeHead(200, { 'content-length': down.length, 'x-up-bytes': String(n), 'x-up-sha': upSha });
      res.end(down);
    }),
  );
  t.after(() => backend.close());
  const proxy = await proxyFor(t, httpsYaml([pki.leaf(['www.example.com'])], [backend.port]));
  const up = randomBytes(16 * 1024 * 1024);
  const got = await new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
    const req = http.request({
      createConnection: () => tls.connect({ host: LOOPBACK, port: proxy.port, rejectUnauthorized: false, servername: 'www.example.com', ALPNProtocols: ['http/1.1'] }),
      method: 'POST',
      path: '/big',
      headers: { host: 'www.example.com', 'content-length': String(up.length) },
    } as http.RequestOptions);
    const timer = setTimeout(() => req.destroy(new Error('no response within 50 s')), 50_000);
    req.on('response', (res) => {
      // read late: the proxy's TLS writes meet a full socket buffer and wait
      res.pause();
      setTimeout(() => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) });
        });
        res.resume();
      }, 500);
    });
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end(up);
  });
  assert.equal(got.status, 200);
  assert.equal(got.headers['x-up-bytes'], String(up.length));
  assert.equal(got.headers['x-up-sha'], sha(up));
  assert.equal(got.body.length, down.length);
  assert.equal(sha(got.body), sha(down));
});

test('pipelined requests in one TLS record, the last with Connection: close: every answer, in order, then the server closes', { skip }, async (t) => {
  const pki = new TestPki(t);
  const s1 = await echoBackend(t, 'S1');
  const proxy = await proxyFor(t, httpsYaml([pki.leaf(['www.example.com'])], [s1.port]));
  const req = (path: string, close = false) => `GET ${path} HTTP/1.1\r\nHost: www.example.com\r\n${close ? 'Connection: close\r\n' : ''}\r\n`;
  const text = await tlsExchange(proxy.port, req('/a') + req('/b') + req('/c', true));
  const urls = [...text.matchAll(/"url":"([^"]+)"/g)].map((m) => m[1]);
  assert.deepEqual(urls, ['/a', '/b', '/c']);
  assert.equal(text.match(/HTTP\/1\.1 200/g)?.length, 3);
});

test('a request in TLS records that come apart (head cut, body in two), then a second one later: the addon reads each after it has emptied the socket', { skip }, async (t) => {
  // tls_recv stops without a last read once a read has found the socket empty: what arrives later must still be read (a new edge)
  const pki = new TestPki(t);
  const s1 = await echoBackend(t, 'S1');
  const proxy = await proxyFor(t, httpsYaml([pki.leaf(['www.example.com'])], [s1.port]));
  const body = randomBytes(3000);
  const pieces: Array<string | Buffer> = [
    'POST /first HTTP/1.1\r\nHost: www.ex',
    `ample.com\r\nContent-Length: ${body.length}\r\n\r\n`,
    body.subarray(0, 1000),
    body.subarray(1000),
  ];
  const sock = tls.connect({ host: LOOPBACK, port: proxy.port, rejectUnauthorized: false, servername: 'www.example.com', ALPNProtocols: ['http/1.1'] });
  t.after(() => sock.destroy());
  const chunks: Buffer[] = [];
  sock.on('data', (c: Buffer) => chunks.push(c));
  const closed = new Promise<void>((resolve) => sock.once('close', () => resolve()));
  await new Promise<void>((resolve, reject) => sock.once('secureConnect', () => resolve()).once('error', reject));
  const pause = () => new Promise((r) => setTimeout(r, 30));
  for (const piece of pieces) {
    sock.write(piece);
    await pause();
  }
  await waitFor(() => Buffer.concat(chunks).includes('"url":"/first"'), WAIT_MS, 'the first answer');
  await pause();
  sock.write('GET /second HTTP/1.1\r\nHost: www.example.com\r\nConnection: close\r\n\r\n');
  await closed;
  const text = Buffer.concat(chunks).toString('latin1');
  assert.deepEqual([...text.matchAll(/"url":"([^"]+)"/g)].map((m) => m[1]), ['/first', '/second']);
  assert.match(text, new RegExp(`"bodyBytes":${body.length},"sha256":"${sha(body)}"`));
});

test('HTTP/2 over the addon\'s TLS: concurrent streams with 1 MiB bodies each way, intact', { skip, timeout: 60_000 }, async (t) => {
  const pki = new TestPki(t);
  const s1 = await echoBackend(t, 'S1');
  const proxy = await proxyFor(t, httpsYaml([pki.leaf(['www.example.com'])], [s1.port]));
  const session = await h2Session(t, proxy.port, { servername: 'www.example.com' });
  const bodies = Array.from({ length: 8 }, () => randomBytes(1024 * 1024));
  const replies = await Promise.all(bodies.map((b, i) => h2Request(session, { ':method': 'POST', ':path': `/up/${i}`, ':authority': 'www.example.com' }, b)));
  replies.forEach((r, i) => {
    assert.equal(r.status, 200);
    const echo = JSON.parse(r.body.toString()) as Echo;
    assert.equal(echo.url, `/up/${i}`);
    assert.equal(echo.bodyBytes, bodies[i]!.length);
    assert.equal(echo.sha256, sha(bodies[i]!));
    assert.equal(echo.headers['x-forwarded-proto'], 'https');
  });
});

test('a ticket from a listener on Node\'s tls module resumes on one in the addon, and the other way round', { skip }, async (t) => {
  const pki = new TestPki(t);
  const cert = pki.leaf(['www.example.com']);
  const s1 = await echoBackend(t, 'S1');
  const yaml = httpsYaml([cert], [s1.port]);
  const native = await proxyFor(t, yaml);
  process.env.FULCRUM_TLS = 'node';
  let node;
  try {
    node = await proxyFor(t, yaml);
  } finally {
    delete process.env.FULCRUM_TLS;
  }
  assert.equal((node.instance.listeners[0] as unknown as HttpFrontend).edge?.nativeTls, null);
  for (const [from, to] of [
    [node.port, native.port],
    [native.port, node.port],
  ] as const) {
    for (const maxVersion of ['TLSv1.3', 'TLSv1.2'] as const) {
      const first = await handshake(from, { servername: 'www.example.com', maxVersion });
      const session = await first.session();
      first.sock.destroy();
      const second = await handshake(to, { servername: 'www.example.com', maxVersion, session });
      assert.equal(second.reused, true, `${maxVersion}: a session from port ${from} resumes on port ${to}`);
      second.sock.destroy();
    }
  }
});

test('a seeded mix of TLS clients that misbehave: each costs only its connection, and no stream is left behind', { skip, timeout: 60_000 }, async (t) => {
  const pki = new TestPki(t);
  let seed = 20261127;
  const rnd = (n: number) => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n;
  const s1 = await echoBackend(t, 'S1');
  const baseline = io!.streamCount();
  const proxy = await startProxy(httpsYaml([pki.leaf(['www.example.com'])], [s1.port], { tls: ['handshake_timeout: 500ms'] }));
  t.after(() => proxy.stop());
  const fe = proxy.instance.listeners[0] as unknown as HttpFrontend;
  const opts = { rejectUnauthorized: false, servername: 'www.example.com', ALPNProtocols: ['http/1.1'] };
  const body = randomBytes(256 * 1024);
  // one client; resolves when its socket has closed (or after 3 s)
  const client = (kind: number): Promise<string> =>
    new Promise((resolve) => {
      const tcp = net.connect(proxy.port, LOOPBACK);
      const sock: net.Socket = kind <= 2 ? tcp : tls.connect({ ...opts, socket: tcp });
      const timer = setTimeout(() => {
        sock.destroy();
        resolve(`kind ${kind}: still open after 3 s`);
      }, 3000);
      let got = '';
      sock.on('data', (d: Buffer) => (got += d.toString('latin1')));
      sock.on('error', () => {});
      tcp.on('error', () => {});
      sock.on('close', () => {
        clearTimeout(timer);
        resolve(kind === 3 && !/^HTTP\/1\.1 200/.test(got) ? `kind 3: no answer (${got.slice(0, 40)})` : 'ok');
      });
      if (kind === 0) sock.on('connect', () => sock.destroy()); // gone before the ClientHello
      else if (kind === 1) sock.on('connect', () => sock.end('GET / HTTP/1.1\r\nHost: x\r\n\r\n')); // plain HTTP on the TLS port
      else if (kind === 2) sock.on('connect', () => sock.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00]))); // half a ClientHello, then silence
      else
        sock.on('secureConnect', () => {
          const req = 'GET /mix HTTP/1.1\r\nHost: www.example.com\r\nConnection: close\r\n\r\n';
          if (kind === 3) sock.write(req); // a good request: answered, then closed
          else if (kind === 4) tcp.resetAndDestroy(); // reset right after the handshake
          else if (kind === 5) sock.end('GET /half HTTP/1.1\r\nHost: www.exa'); // half a request, then the end
          else if (kind === 6) {
            // an upload cut short
            sock.write(`POST /up HTTP/1.1\r\nHost: www.example.com\r\nContent-Length: ${body.length * 2}\r\n\r\n`);
            sock.write(body, () => setTimeout(() => sock.destroy(), rnd(20)));
          } else {
            // a request whose answer is never read, then a reset
            sock.pause();
            sock.write(req);
            setTimeout(() => tcp.resetAndDestroy(), 20 + rnd(80));
          }
        });
    });
  const problems: string[] = [];
  for (let wave = 0; wave < 5; wave++) {
    const results = await Promise.all(Array.from({ length: 40 }, () => client(rnd(8))));
    problems.push(...results.filter((r) => r !== 'ok'));
  }
  assert.deepEqual(problems, []);
  // the listener still serves, and holds no client connection
  const h = await handshake(proxy.port, { servername: 'www.example.com' });
  h.sock.destroy();
  await waitFor(() => fe.active === 0 && (fe.edge?.count ?? 0) === 0, 5000, 'every client connection closed');
  await proxy.stop();
  await waitFor(() => io!.streamCount() === baseline, 5000, `the addon's streams back to ${baseline} (now ${io!.streamCount()})`);
});

/** A TLS client whose first write (the ClientHello) goes out in one segment behind `header`. */
function tlsBehind(port: number, header: Buffer, alpn: string[]): tls.TLSSocket {
  const raw = net.connect(port, LOOPBACK);
  let first = true;
  const wire = new Duplex({
    read() {},
    write(chunk: Buffer, _encoding, done) {
      raw.write(first ? Buffer.concat([header, chunk]) : chunk, done);
      first = false;
    },
    final(done) {
      raw.end();
      done();
    },
    destroy(err, done) {
      raw.destroy();
      done(err);
    },
  });
  raw.on('data', (d: Buffer) => wire.push(d));
  raw.on('end', () => wire.push(null));
  raw.on('error', (err) => wire.destroy(err));
  return tls.connect({ socket: wire, rejectUnauthorized: false, servername: 'www.example.com', ALPNProtocols: alpn });
}

test('PROXY header before TLS in the addon: v1 and v2, in the ClientHello\'s own segment, over HTTP/1.1 and HTTP/2; a bad header closes only its connection', { skip }, async (t) => {
  const pki = new TestPki(t);
  const s1 = await echoBackend(t, 'S1');
  const proxy = await proxyFor(t, httpsYaml([pki.leaf(['www.example.com'])], [s1.port], { listener: ['proxy_protocol: { trusted: [127.0.0.1] }'] }));
  assert.notEqual((proxy.instance.listeners[0] as unknown as HttpFrontend).edge?.nativeTls, null);
  const v1 = Buffer.from('PROXY TCP4 203.0.113.7 192.0.2.1 4321 443\r\n');
  const v2 = encodeV2({ address: '198.51.100.9', port: 5555 }, { address: '192.0.2.1', port: 443 });
  for (const [header, client] of [
    [v1, '203.0.113.7'],
    [v2, '198.51.100.9'],
  ] as const) {
    // HTTP/1.1
    const sock = tlsBehind(proxy.port, header, ['http/1.1']);
    t.after(() => sock.destroy());
    await new Promise((r) => sock.once('secureConnect', r));
    sock.write('GET /p HTTP/1.1\r\nHost: www.example.com\r\nConnection: close\r\n\r\n');
    let got = '';
    sock.setEncoding('latin1');
    sock.on('data', (d: string) => (got += d));
    await new Promise((r) => sock.once('end', r));
    const echo = JSON.parse(got.slice(got.indexOf('\r\n\r\n') + 4)) as Echo;
    assert.equal(echo.headers['x-forwarded-for'], client);
    // HTTP/2
    const session = http2.connect('https://www.example.com', { createConnection: () => tlsBehind(proxy.port, header, ['h2']) });
    t.after(() => session.destroy());
    session.on('error', () => {});
    const r = await h2Request(session, { ':path': '/h2' });
    assert.equal((JSON.parse(r.body.toString()) as Echo).headers['x-forwarded-for'], client);
    session.close();
  }
  // a bad header: that connection is closed, the next one serves
  const bad = tlsBehind(proxy.port, Buffer.from('PROXY TCP4 nonsense\r\n'), ['http/1.1']);
  bad.on('error', () => {});
  await new Promise((r) => bad.once('close', r));
  const ok = tlsBehind(proxy.port, v1, ['http/1.1']);
  t.after(() => ok.destroy());
  await new Promise((r) => ok.once('secureConnect', r));
});

test('PROXY prelude misbehaviour (cut headers, a close before the ClientHello, garbage after the header, silence): each costs only its connection, no stream is left', { skip, timeout: 60_000 }, async (t) => {
  const pki = new TestPki(t);
  const s1 = await echoBackend(t, 'S1');
  const baseline = io!.streamCount();
  const proxy = await startProxy(
    httpsYaml([pki.leaf(['www.example.com'])], [s1.port], { listener: ['proxy_protocol: { trusted: [127.0.0.1] }', 'timeouts: { header: 300ms }'], tls: ['handshake_timeout: 300ms'] }),
  );
  t.after(() => proxy.stop());
  const fe = proxy.instance.listeners[0] as unknown as HttpFrontend;
  const v1 = 'PROXY TCP4 203.0.113.7 192.0.2.1 4321 443\r\n';
  // a raw client: writes `data`, maybe ends; resolves when the proxy has closed it (or after 3 s)
  const raw = (data: string, end: boolean): Promise<boolean> =>
    new Promise((resolve) => {
      const sock = net.connect(proxy.port, LOOPBACK);
      const timer = setTimeout(() => {
        sock.destroy();
        resolve(false);
      }, 3000);
      sock.on('error', () => {});
      sock.on('connect', () => (end ? sock.end(data) : sock.write(data)));
      sock.resume();
      sock.on('close', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  const good = async (): Promise<boolean> => {
    const sock = tlsBehind(proxy.port, Buffer.from(v1), ['http/1.1']);
    sock.on('error', () => {});
    await new Promise((r) => sock.once('secureConnect', r));
    sock.end('GET /ok HTTP/1.1\r\nHost: www.example.com\r\nConnection: close\r\n\r\n');
    let got = '';
    sock.on('data', (d: Buffer) => (got += d.toString('latin1')));
    await new Promise((r) => sock.once('close', r));
    return /^HTTP\/1\.1 200/.test(got);
  };
  for (let wave = 0; wave < 3; wave++) {
    const results = await Promise.all([
      raw('PROXY TCP4 203.0.1', true), // half a header, then the end
      raw('PROXY TCP4 203.0.113.7 192', false), // half a header, then silence (header timeout)
      raw(v1, true), // a header, then the end before any ClientHello
      raw(v1, false), // a header, then silence (handshake timeout)
      raw(`${v1}GET / HTTP/1.1\r\nHost: x\r\n\r\n`, false), // plain HTTP after the header
      raw('GET / HTTP/1.1\r\nHost: x\r\n\r\n', false), // no header at all
      good(),
      good(),
    ]);
    assert.deepEqual(results, results.map(() => true), `wave ${wave}: every client closed, every good one answered`);
  }
  await waitFor(() => fe.active === 0 && (fe.edge?.count ?? 0) === 0, 5000, 'every client connection closed');
  await proxy.stop();
  await waitFor(() => io!.streamCount() === baseline, 5000, `the addon's streams back to ${baseline} (now ${io!.streamCount()})`);
});
