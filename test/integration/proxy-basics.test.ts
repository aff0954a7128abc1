/**
 * HTTP proxy basics over real loopback sockets: balancing, keep-alive, pipelining,
 * bodiless responses, chunked and close-delimited framing, HTTP/1.0, hop-by-hop and
 * forwarding headers (checked on the raw bytes the backend received), routing.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import { header, headerValues, rawConnect, rawExchange, readRequest, readResponse, request, type Request } from '../helpers/http-client.js';
import { httpBackend, namedBackend, rawBackend } from '../helpers/backends.js';
import { simpleYaml, startProxy } from '../helpers/proxies.js';
import { sleep } from '../helpers/wait.js';

/** A raw backend that records each request and answers `200 <target>` with a length. */
async function recordingBackend() {
  const seen: Request[] = [];
  const b = await rawBackend(async (sock, reader) => {
    try {
      for (let i = 0; i < 100; i++) {
        const req = await readRequest(reader, 10_000);
        seen.push(req);
        const body = `${req.method} ${req.target}`;
        sock.write(`HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
      }
    } catch {
      sock.destroy();
    }
  });
  return Object.assign(b, { seen });
}

describe('balancing', () => {
  test('round robin alternates S1, S2, S1, S2', async (t) => {
    const s1 = await namedBackend('S1');
    const s2 = await namedBackend('S2');
    const p = await startProxy(simpleYaml([{ port: s1.port, name: 'S1' }, { port: s2.port, name: 'S2' }]));
    t.after(() => Promise.all([p.stop(), s1.close(), s2.close()]));
    const got: string[] = [];
    for (let i = 0; i < 6; i++) {
      const r = await request(p.port, { path: `/rr${i}` });
      assert.equal(r.status, 200);
      got.push(r.body.toString());
    }
    assert.deepEqual(got, ['S1', 'S2', 'S1', 'S2', 'S1', 'S2']);
  });

  test('weights 3:1 give 6 and 2 of 8 requests, smoothly interleaved (A A B A)', async (t) => {
    const a = await namedBackend('A');
    const b = await namedBackend('B');
    const p = await startProxy(simpleYaml([{ port: a.port, name: 'A', weight: 3 }, { port: b.port, name: 'B', weight: 1 }]));
    t.after(() => Promise.all([p.stop(), a.close(), b.close()]));
    const got: string[] = [];
    for (let i = 0; i < 8; i++) got.push((await request(p.port)).body.toString());
    assert.equal(got.filter((x) => x === 'A').length, 6, got.join(' '));
    assert.equal(got.filter((x) => x === 'B').length, 2, got.join(' '));
    assert.deepEqual(got, ['A', 'A', 'B', 'A', 'A', 'A', 'B', 'A']);
  });
});

describe('connections', () => {
  test('client keep-alive: several requests on one socket; the backend connection is reused', async (t) => {
    const s1 = await namedBackend('S1');
    const p = await startProxy(simpleYaml([s1.port]));
    t.after(() => Promise.all([p.stop(), s1.close()]));
    const { sock, reader } = await rawConnect(p.port, { t });
    for (let i = 0; i < 5; i++) {
      sock.write(`GET /ka${i} HTTP/1.1\r\nHost: ka.test\r\n\r\n`);
      const r = await readResponse(reader);
      assert.equal(r.status, 200);
      assert.equal(r.body.toString(), 'S1');
      assert.notEqual(header(r, 'connection')?.toLowerCase(), 'close');
    }
    assert.equal(reader.ended, false, 'the proxy must keep the client connection open');
    assert.equal(s1.connections, 1, 'one upstream connection, reused for all five requests');
    // new client connections, one after the other, still share the pooled upstream connection
    for (let i = 0; i < 3; i++) assert.equal((await request(p.port)).status, 200);
    assert.equal(s1.connections, 1, 'the idle upstream connection is reused across client connections');
  });

  test('pipelined requests in one write are answered in order with the right bodies', async (t) => {
    const delays: Record<string, number> = { '/a': 60, '/b': 0, '/c': 20, '/d': 0 };
    const s1 = await httpBackend((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        setTimeout(() => {
          const body = `${req.method} ${req.url} ${Buffer.concat(chunks).toString()}`;
          res.writeHead(200, { 'Content-Length': Buffer.byteLength(body) });
          res.end(body);
        }, delays[req.url!] ?? 0);
      });
    });
    const p = await startProxy(simpleYaml([s1.port]));
    t.after(() => Promise.all([p.stop(), s1.close()]));
    const { sock, reader } = await rawConnect(p.port, { t });
    sock.write(
      'GET /a HTTP/1.1\r\nHost: p.test\r\n\r\n' +
        'POST /b HTTP/1.1\r\nHost: p.test\r\nContent-Length: 5\r\n\r\nhello' +
        'GET /c HTTP/1.1\r\nHost: p.test\r\n\r\n' +
        'HEAD /d HTTP/1.1\r\nHost: p.test\r\n\r\n',
    );
    const bodies: string[] = [];
    for (const m of ['GET', 'POST', 'GET', 'HEAD']) bodies.push((await readResponse(reader, m)).body.toString());
    assert.deepEqual(bodies, ['GET /a ', 'POST /b hello', 'GET /c ', '']);
    // the connection is still good
    sock.write('GET /d HTTP/1.1\r\nHost: p.test\r\n\r\n');
    assert.equal((await readResponse(reader)).body.toString(), 'GET /d ');
  });

  test('pipelined requests then the client\'s FIN: every request is answered in order, the last with Connection: close, then the proxy closes', async (t) => {
    const s1 = await httpBackend((req, res) => {
      req.resume();
      req.on('end', () => setTimeout(() => res.end(`${req.method} ${req.url}`), req.url === '/a' ? 50 : 0));
    });
    const p = await startProxy(simpleYaml([s1.port]));
    t.after(() => Promise.all([p.stop(), s1.close()]));
    const { sock, reader } = await rawConnect(p.port, { t });
    sock.end('GET /a HTTP/1.1\r\nHost: p.test\r\n\r\n' + 'POST /b HTTP/1.1\r\nHost: p.test\r\nContent-Length: 2\r\n\r\nhi' + 'GET /c HTTP/1.1\r\nHost: p.test\r\n\r\n');
    const got: string[] = [];
    let last: Array<[string, string]> = [];
    for (const m of ['GET', 'POST', 'GET']) {
      const r = await readResponse(reader, m);
      got.push(`${r.status} ${r.body.toString()}`);
      last = r.headers;
    }
    assert.deepEqual(got, ['200 GET /a', '200 POST /b', '200 GET /c']);
    assert.ok(last.some(([n, v]) => n.toLowerCase() === 'connection' && v === 'close'), 'the last answer says Connection: close');
    assert.equal(await reader.waitEnd(), true, 'then the proxy ends the connection');

    // a request cut short by the FIN gets nothing: the ones before it are answered, then the connection closes
    const cut = await rawConnect(p.port);
    t.after(() => cut.sock.destroy());
    cut.sock.end('GET /d HTTP/1.1\r\nHost: p.test\r\n\r\n' + 'GET /e HTTP/1.1\r\nHost: p.te');
    assert.equal((await readResponse(cut.reader)).body.toString(), 'GET /d');
    assert.equal(await cut.reader.waitEnd(), true);
    assert.equal(cut.reader.buffered, 0, 'nothing after the first answer');
  });

  test('HEAD, 204 and 304 responses carry no body and keep the connection usable', async (t) => {
    const s1 = await httpBackend((req, res) => {
      req.resume();
      if (req.url === '/204') {
        res.writeHead(204, { 'X-Kind': 'no-content' });
        res.end();
      } else if (req.url === '/304') {
        res.writeHead(304, { ETag: '"v1"' });
        res.end();
      } else {
        res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': 11 });
        res.end(req.method === 'HEAD' ? undefined : 'hello world');
      }
    });
    const p = await startProxy(simpleYaml([s1.port]));
    t.after(() => Promise.all([p.stop(), s1.close()]));
    const { sock, reader } = await rawConnect(p.port, { t });

    sock.write('HEAD /head HTTP/1.1\r\nHost: h.test\r\n\r\n');
    const head = await readResponse(reader, 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(header(head, 'content-length'), '11', 'HEAD keeps the length of the body it would have had');

    sock.write('GET /204 HTTP/1.1\r\nHost: h.test\r\n\r\n');
    const r204 = await readResponse(reader);
    assert.equal(r204.status, 204);
    assert.equal(header(r204, 'x-kind'), 'no-content');

    sock.write('GET /304 HTTP/1.1\r\nHost: h.test\r\nIf-None-Match: "v1"\r\n\r\n');
    const r304 = await readResponse(reader);
    assert.equal(r304.status, 304);
    assert.equal(header(r304, 'etag'), '"v1"');

    sock.write('GET /after HTTP/1.1\r\nHost: h.test\r\n\r\n');
    const after = await readResponse(reader);
    assert.equal(after.body.toString(), 'hello world');
    await sleep(50);
    assert.equal(reader.buffered, 0, 'no stray bytes after the bodiless responses');
    assert.equal(reader.ended, false);

    // the same four, pipelined in one write
    sock.write(
      'HEAD /head HTTP/1.1\r\nHost: h.test\r\n\r\nGET /204 HTTP/1.1\r\nHost: h.test\r\n\r\n' +
        'GET /304 HTTP/1.1\r\nHost: h.test\r\n\r\nGET /after HTTP/1.1\r\nHost: h.test\r\n\r\n',
    );
    assert.equal((await readResponse(reader, 'HEAD')).status, 200);
    assert.equal((await readResponse(reader)).status, 204);
    assert.equal((await readResponse(reader)).status, 304);
    assert.equal((await readResponse(reader)).body.toString(), 'hello world');
  });

  test('HTTP/1.0 client gets its answer, then the connection closes', async (t) => {
    const seen: Request[] = [];
    const b = await rawBackend(async (sock, reader) => {
      try {
        for (let i = 0; i < 10; i++) {
          const req = await readRequest(reader);
          seen.push(req);
          sock.write('HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nold ok');
        }
      } catch {
        sock.destroy();
      }
    });
    const p = await startProxy(simpleYaml([b.port]));
    t.after(() => Promise.all([p.stop(), b.close()]));

    for (const req of ['GET /ten HTTP/1.0\r\n\r\n', 'GET /ten HTTP/1.0\r\nHost: ten.test\r\nConnection: keep-alive\r\n\r\n']) {
      const { sock, reader } = await rawConnect(p.port, { t });
      sock.write(req);
      const r = await readResponse(reader);
      assert.equal(r.status, 200);
      assert.equal(r.body.toString(), 'old ok');
      assert.equal(await reader.waitEnd(2000), true, 'the proxy closes an HTTP/1.0 connection after the response');
    }
    assert.equal(seen.length, 2);
    assert.match(seen[0]!.startLine, /^GET \/ten HTTP\/1\.[01]$/);
    assert.deepEqual(headerValues(seen[0]!, 'via'), ['1.0 fulcrum']);
  });
});

describe('framing', () => {
  test('a chunked response passes through byte for byte, and the connection stays usable', async (t) => {
    const big = Buffer.alloc(100_000, 'x');
    const pieces: Buffer[] = [
      Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n'),
      Buffer.from('5;ext=1\r\nhello\r\n'),
      Buffer.from('1'), // a chunk-size line split across writes
      Buffer.from('86A0\r\n'),
      big,
      Buffer.from('\r\n7\r\n, world\r\n0\r\nX-Trailer: yes\r\n\r\n'),
    ];
    const rawBody = Buffer.concat(pieces.slice(1));
    let requests = 0;
    const b = await rawBackend(async (sock, reader) => {
      try {
        for (let i = 0; i < 10; i++) {
          await readRequest(reader);
          requests++;
          for (const piece of pieces) {
            sock.write(piece);
            await sleep(5);
          }
        }
      } catch {
        sock.destroy();
      }
    });
    const p = await startProxy(simpleYaml([b.port]));
    t.after(() => Promise.all([p.stop(), b.close()]));
    const { sock, reader } = await rawConnect(p.port, { t });
    for (let i = 0; i < 2; i++) {
      sock.write('GET /chunked HTTP/1.1\r\nHost: c.test\r\n\r\n');
      const r = await readResponse(reader);
      assert.equal(r.status, 200);
      assert.equal(r.chunked, true);
      assert.equal(header(r, 'content-length'), undefined);
      assert.ok(r.rawBody.equals(rawBody), 'chunk framing, extensions and trailers are relayed unchanged');
      assert.equal(r.body.length, 5 + 100_000 + 7);
      assert.equal(r.body.subarray(0, 5).toString() + r.body.subarray(-7).toString(), 'hello, world');
    }
    assert.equal(requests, 2);
    assert.equal(b.connections, 1, 'after a complete chunked response the upstream connection is reused');
  });

  test('a chunked request passes through byte for byte', async (t) => {
    const seen: Request[] = [];
    const b = await rawBackend(async (sock, reader) => {
      try {
        for (let i = 0; i < 10; i++) {
          const req = await readRequest(reader);
          seen.push(req);
          const sum = createHash('sha256').update(req.body).digest('hex');
          sock.write(`HTTP/1.1 200 OK\r\nContent-Length: ${sum.length}\r\n\r\n${sum}`);
        }
      } catch {
        sock.destroy();
      }
    });
    const p = await startProxy(simpleYaml([b.port]));
    t.after(() => Promise.all([p.stop(), b.close()]));
    const { sock, reader } = await rawConnect(p.port, { t });
    const data = Buffer.alloc(70_000, 'y');
    const bodyPieces = [
      Buffer.from('4;name=value\r\nabcd\r\n'),
      Buffer.from('111'),
      Buffer.from('70\r\n'),
      data,
      Buffer.from('\r\n0\r\nX-Sum: 1\r\n\r\n'),
    ];
    sock.write('POST /upload HTTP/1.1\r\nHost: c.test\r\nTransfer-Encoding: chunked\r\nContent-Type: application/octet-stream\r\n\r\n');
    for (const piece of bodyPieces) {
      sock.write(piece);
      await sleep(5);
    }
    const r = await readResponse(reader);
    assert.equal(r.status, 200);
    const decoded = Buffer.concat([Buffer.from('abcd'), data]);
    assert.equal(r.body.toString(), createHash('sha256').update(decoded).digest('hex'));
    assert.equal(seen.length, 1);
    assert.deepEqual(headerValues(seen[0]!, 'transfer-encoding'), ['chunked']);
    assert.equal(headerValues(seen[0]!, 'content-length').length, 0);
    assert.ok(seen[0]!.rawBody.equals(Buffer.concat(bodyPieces)), 'the chunked body reaches the backend unchanged');
    // next request on the same connection
    sock.write('GET /next HTTP/1.1\r\nHost: c.test\r\n\r\n');
    assert.equal((await readResponse(reader)).status, 200);
  });

  test('a close-delimited response (HTTP/1.0 server, no length) arrives intact, then the client connection closes', async (t) => {
    const body = Buffer.alloc(200_000);
    for (let i = 0; i < body.length; i++) body[i] = (i * 7) & 0xff;
    const b = await rawBackend(async (sock, reader) => {
      try {
        const req = await readRequest(reader);
        const v10 = req.target === '/v10';
        sock.write(v10 ? 'HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n' : 'HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n');
        for (let off = 0; off < body.length; off += 50_000) {
          sock.write(body.subarray(off, off + 50_000));
          await sleep(5);
        }
        sock.end();
      } catch {
        sock.destroy();
      }
    });
    const p = await startProxy(simpleYaml([b.port]));
    t.after(() => Promise.all([p.stop(), b.close()]));
    for (const path of ['/v10', '/v11-close']) {
      const { sock, reader } = await rawConnect(p.port, { t });
      sock.write(`GET ${path} HTTP/1.1\r\nHost: cd.test\r\n\r\n`);
      const r = await readResponse(reader);
      assert.equal(r.status, 200);
      assert.equal(header(r, 'content-length'), undefined);
      assert.equal(header(r, 'connection')?.toLowerCase(), 'close', 'the proxy tells the client the body ends with the connection');
      assert.equal(r.body.length, body.length);
      assert.ok(r.body.equals(body), `${path}: body intact`);
      assert.equal(reader.ended, true);
    }
  });
});

describe('headers', () => {
  test('hop-by-hop headers are removed both ways; other headers keep case and order exactly', async (t) => {
    const seen: Request[] = [];
    const b = await rawBackend(async (sock, reader) => {
      try {
        for (let i = 0; i < 10; i++) {
          seen.push(await readRequest(reader));
          sock.write(
            'HTTP/1.1 200 OK\r\n' +
              'X-Resp-First: 1\r\n' +
              'Connection: keep-alive, X-Resp-Secret\r\n' +
              'Keep-Alive: timeout=30\r\n' +
              'x-MiXeD-rEsP: Some  Value\r\n' +
              'X-Resp-Secret: hidden\r\n' +
              'Set-Cookie: a=1\r\n' +
              'Set-Cookie: b=2\r\n' +
              'Content-Length: 2\r\n' +
              '\r\nok',
          );
        }
      } catch {
        sock.destroy();
      }
    });
    const p = await startProxy(simpleYaml([b.port]));
    t.after(() => Promise.all([p.stop(), b.close()]));
    const { sock, reader } = await rawConnect(p.port, { t });
    sock.write(
      'GET /hop?q=1 HTTP/1.1\r\n' +
        'Host: hop.test\r\n' +
        'X-First: 1\r\n' +
        'Connection: keep-alive, X-Secret\r\n' +
        'Keep-Alive: timeout=5\r\n' +
        'TE: trailers\r\n' +
        'Proxy-Connection: keep-alive\r\n' +
        'x-MiXeD-Case: Value  With  Spaces\r\n' +
        'X-Secret: 1\r\n' +
        'accept: */*\r\n' +
        'X-Dup: one\r\n' +
        'X-Dup: two\r\n' +
        'X-Last: z\r\n' +
        '\r\n',
    );
    const r = await readResponse(reader);
    assert.equal(r.status, 200);
    assert.equal(seen.length, 1);
    const req = seen[0]!;
    assert.equal(req.startLine, 'GET /hop?q=1 HTTP/1.1');
    const added = /^(x-forwarded-for|x-forwarded-proto|x-forwarded-host|forwarded|via|x-request-id)$/i;
    const kept = req.head
      .slice(0, -4)
      .split('\r\n')
      .slice(1)
      .filter((l) => !added.test(l.slice(0, l.indexOf(':'))));
    assert.deepEqual(kept, [
      'Host: hop.test',
      'X-First: 1',
      'x-MiXeD-Case: Value  With  Spaces',
      'accept: */*',
      'X-Dup: one',
      'X-Dup: two',
      'X-Last: z',
    ]);
    for (const name of ['connection', 'keep-alive', 'te', 'proxy-connection', 'x-secret']) {
      assert.deepEqual(headerValues(req, name), [], `${name} must not reach the backend`);
    }
    // the response: hop-by-hop removed, the rest verbatim and in order
    const respKept = r.head
      .slice(0, -4)
      .split('\r\n')
      .slice(1)
      .filter((l) => !/^(via|x-request-id):/i.test(l));
    assert.deepEqual(respKept, ['X-Resp-First: 1', 'x-MiXeD-rEsP: Some  Value', 'Set-Cookie: a=1', 'Set-Cookie: b=2', 'Content-Length: 2']);
  });

  test('X-Forwarded-For/-Proto/-Host are added; an untrusted client cannot inject them', async (t) => {
    const b = await recordingBackend();
    const p = await startProxy(simpleYaml([b.port]));
    t.after(() => Promise.all([p.stop(), b.close()]));
    await rawExchange(p.port, 'GET /xf HTTP/1.1\r\nHost: xf.test:8080\r\n\r\n');
    await rawExchange(
      p.port,
      'GET /xf2 HTTP/1.1\r\nHost: xf.test\r\nX-Forwarded-For: 203.0.113.9\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: evil.test\r\nX-Forwarded-For: 198.51.100.1\r\n\r\n',
    );
    const [plain, spoofed] = b.seen;
    assert.deepEqual(headerValues(plain!, 'x-forwarded-for'), ['127.0.0.1']);
    assert.deepEqual(headerValues(plain!, 'x-forwarded-proto'), ['http']);
    assert.deepEqual(headerValues(plain!, 'x-forwarded-host'), ['xf.test:8080']);
    assert.deepEqual(headerValues(plain!, 'via'), ['1.1 fulcrum']);
    assert.deepEqual(headerValues(spoofed!, 'x-forwarded-for'), ['127.0.0.1'], 'untrusted X-Forwarded-For is replaced');
    assert.deepEqual(headerValues(spoofed!, 'x-forwarded-proto'), ['http']);
    assert.deepEqual(headerValues(spoofed!, 'x-forwarded-host'), ['xf.test']);
  });

  test('from a trusted client, X-Forwarded-For is appended to and its -Proto/-Host kept', async (t) => {
    const b = await recordingBackend();
    const p = await startProxy(simpleYaml([b.port], { listener: '    forwarded: { headers: x-forwarded, trusted: [127.0.0.1/32], via: true }' }));
    t.after(() => Promise.all([p.stop(), b.close()]));
    await rawExchange(
      p.port,
      'GET /t HTTP/1.1\r\nHost: t.test\r\nX-Forwarded-For: 203.0.113.9\r\nX-Forwarded-For: 198.51.100.1\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: www.example.com\r\n\r\n',
    );
    await rawExchange(p.port, 'GET /t2 HTTP/1.1\r\nHost: t.test\r\n\r\n');
    const [withChain, bare] = b.seen;
    assert.deepEqual(headerValues(withChain!, 'x-forwarded-for'), ['203.0.113.9, 198.51.100.1, 127.0.0.1']);
    assert.deepEqual(headerValues(withChain!, 'x-forwarded-proto'), ['https']);
    assert.deepEqual(headerValues(withChain!, 'x-forwarded-host'), ['www.example.com']);
    assert.deepEqual(headerValues(bare!, 'x-forwarded-for'), ['127.0.0.1']);
    assert.deepEqual(headerValues(bare!, 'x-forwarded-proto'), ['http']);
  });

  test('forwarded: {headers: forwarded} sends an RFC 7239 Forwarded header instead', async (t) => {
    const b = await recordingBackend();
    const p = await startProxy(simpleYaml([b.port], { listener: '    forwarded: { headers: forwarded }' }));
    t.after(() => Promise.all([p.stop(), b.close()]));
    await rawExchange(p.port, 'GET /f HTTP/1.1\r\nHost: fwd.test\r\nForwarded: for=192.0.2.60\r\nX-Forwarded-For: 192.0.2.61\r\n\r\n');
    const req = b.seen[0]!;
    assert.deepEqual(headerValues(req, 'forwarded'), ['for=127.0.0.1;proto=http;host="fwd.test"'], 'untrusted Forwarded replaced');
    assert.deepEqual(headerValues(req, 'x-forwarded-for'), ['192.0.2.61'], 'X-Forwarded-* untouched in this mode');
    assert.deepEqual(headerValues(req, 'x-forwarded-proto'), []);
  });

  test('Via is added to requests and responses; via: false adds none', async (t) => {
    const b = await recordingBackend();
    const p = await startProxy(simpleYaml([b.port]));
    const q = await startProxy(simpleYaml([b.port], { listener: '    forwarded: { via: false }' }));
    t.after(() => Promise.all([p.stop(), q.stop(), b.close()]));
    const r = await rawExchange(p.port, 'GET /via HTTP/1.1\r\nHost: via.test\r\n\r\n');
    assert.deepEqual(headerValues(r, 'via'), ['1.1 fulcrum']);
    assert.deepEqual(headerValues(b.seen[0]!, 'via'), ['1.1 fulcrum']);
    const r2 = await rawExchange(q.port, 'GET /novia HTTP/1.1\r\nHost: via.test\r\n\r\n');
    assert.deepEqual(headerValues(r2, 'via'), []);
    assert.deepEqual(headerValues(b.seen[1]!, 'via'), []);
  });
});

describe('routing', () => {
  const yaml = (ports: Record<string, number>) => `
listeners:
  - name: strict
    bind: 127.0.0.1:0
    routes:
      - { host: exact.test, pool: exact }
      - { host: "*.example.com", pool: wild }
      - { host: www.site.test, path: /static/, pool: static }
      - { path: /api/, pool: api }
    no_route: { status: 421, body: "no route here\\n" }
  - name: open
    bind: 127.0.0.1:0
    routes:
      - { host: exact.test, pool: exact }
      - { pool: fallback }
pools:
${Object.entries(ports)
  .map(([name, port]) => `  ${name}:\n    servers: [{ name: ${name}, address: "127.0.0.1:${port}" }]`)
  .join('\n')}
`;

  test('exact host, wildcard host, path prefix, default route and no_route', async (t) => {
    const names = ['exact', 'wild', 'static', 'api', 'fallback'];
    const backends = await Promise.all(names.map((n) => namedBackend(n)));
    const p = await startProxy(yaml(Object.fromEntries(names.map((n, i) => [n, backends[i]!.port]))));
    t.after(() => Promise.all([p.stop(), ...backends.map((b) => b.close())]));
    const [strict, open] = p.ports as [number, number];
    const via = async (port: number, host: string, path = '/') => {
      const r = await rawExchange(port, `GET ${path} HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
      return `${r.status} ${r.body.toString()}`;
    };
    assert.equal(await via(strict, 'exact.test'), '200 exact');
    assert.equal(await via(strict, 'EXACT.Test:8080'), '200 exact', 'host case and port are ignored');
    assert.equal(await via(strict, 'a.example.com'), '200 wild');
    assert.equal(await via(strict, 'deep.a.example.com'), '200 wild');
    assert.equal(await via(strict, 'example.com'), '421 no route here\n', '*.example.com does not match example.com');
    assert.equal(await via(strict, 'badexample.com'), '421 no route here\n');
    assert.equal(await via(strict, 'www.site.test', '/static/app.js'), '200 static');
    assert.equal(await via(strict, 'www.site.test', '/other'), '421 no route here\n');
    assert.equal(await via(strict, 'anything.test', '/api/v1/users'), '200 api');
    assert.equal(await via(strict, 'example.com', '/api/'), '200 api');
    assert.equal(await via(strict, 'anything.test', '/apix'), '421 no route here\n');
    assert.equal(await via(open, 'exact.test'), '200 exact');
    assert.equal(await via(open, 'nothing.test', '/x'), '200 fallback');
    assert.equal(await via(open, 'a.example.com'), '200 fallback');
  });

  test('a no_route answer keeps the client connection usable', async (t) => {
    const names = ['exact', 'wild', 'static', 'api', 'fallback'];
    const backends = await Promise.all(names.map((n) => namedBackend(n)));
    const p = await startProxy(yaml(Object.fromEntries(names.map((n, i) => [n, backends[i]!.port]))));
    t.after(() => Promise.all([p.stop(), ...backends.map((b) => b.close())]));
    const { sock, reader } = await rawConnect(p.ports[0]!, { t });
    sock.write('GET / HTTP/1.1\r\nHost: nowhere.test\r\n\r\n');
    const r = await readResponse(reader);
    assert.equal(r.status, 421);
    assert.equal(r.body.toString(), 'no route here\n');
    sock.write('GET / HTTP/1.1\r\nHost: exact.test\r\n\r\n');
    const r2 = await readResponse(reader);
    assert.equal(`${r2.status} ${r2.body.toString()}`, '200 exact');
    // a HEAD to no route gets the status without the body
    sock.write('HEAD / HTTP/1.1\r\nHost: nowhere.test\r\n\r\n');
    assert.equal((await readResponse(reader, 'HEAD')).status, 421);
    sock.write('GET / HTTP/1.1\r\nHost: a.example.com\r\n\r\n');
    assert.equal((await readResponse(reader)).body.toString(), 'wild');
  });
});
