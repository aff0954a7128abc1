/**
 * Bodies that stream through the proxy: 1 MB uploads (Content-Length and chunked) and
 * downloads with sha256 on both ends, Expect: 100-continue, and Upgrade tunnels
 * (bytes both ways after 101, half-close in both directions).
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import { describe, test } from 'node:test';
import { header, headerValues, rawConnect, readRequest, readResponse, request, type Request } from '../helpers/http-client.js';
import { hashBody, httpBackend, rawBackend } from '../helpers/backends.js';
import { simpleYaml, startProxy } from '../helpers/proxies.js';
import { sleep } from '../helpers/wait.js';
import { LOOPBACK } from '../helpers/ports.js';

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const MB = 1024 * 1024;

/**
 * A backend that hashes request bodies (answering JSON {sha, bytes, te, cl}) and serves
 * GET /download as a 1 MB body with Content-Length.
 */
async function hashingBackend(download: Buffer) {
  return httpBackend((req, res) => {
    if (req.method === 'GET' && req.url === '/download') {
      req.resume();
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': download.length, 'X-Sha256': sha256(download) });
      // several writes, so the proxy relays a body that spans many reads
      for (let off = 0; off < download.length; off += 100_000) res.write(download.subarray(off, off + 100_000));
      res.end();
      return;
    }
    hashBody(req, (bytes, sha) => {
      const body = JSON.stringify({ sha, bytes, te: req.headers['transfer-encoding'] ?? null, cl: req.headers['content-length'] ?? null });
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
}

/** Streams `data` as a request body in `piece`-sized writes, honouring backpressure. */
function upload(port: number, data: Buffer, chunked: boolean, piece = 64 * 1024): Promise<{ status: number; json: { sha: string; bytes: number; te: string | null; cl: string | null } }> {
  return new Promise((resolve, reject) => {
    const headers: http.OutgoingHttpHeaders = { 'Content-Type': 'application/octet-stream' };
    if (!chunked) headers['Content-Length'] = data.length;
    const req = http.request({ host: LOOPBACK, port, method: 'POST', path: '/upload', headers, agent: false, signal: AbortSignal.timeout(10_000) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode!, json: JSON.parse(Buffer.concat(chunks).toString()) });
        } catch (e) {
          reject(e);
        }
      });
    });
    req.on('error', reject);
    let off = 0;
    const pump = () => {
      while (off < data.length) {
        const ok = req.write(data.subarray(off, off + piece));
        off += piece;
        if (!ok) {
          req.once('drain', pump);
          return;
        }
      }
      req.end();
    };
    pump();
  });
}

describe('1 MB bodies', () => {
  test('1 MB upload with Content-Length: sha256 equal on both ends', async (t) => {
    const data = randomBytes(MB);
    const b = await hashingBackend(Buffer.alloc(0));
    const p = await startProxy(simpleYaml([b.port]));
    t.after(() => Promise.all([p.stop(), b.close()]));
    const r = await upload(p.port, data, false);
    assert.equal(r.status, 200);
    assert.equal(r.json.bytes, MB);
    assert.equal(r.json.cl, String(MB));
    assert.equal(r.json.te, null);
    assert.equal(r.json.sha, sha256(data));
  });

  test('1 MB download: sha256 equal on both ends', async (t) => {
    const data = randomBytes(MB);
    const b = await hashingBackend(data);
    const p = await startProxy(simpleYaml([b.port]));
    t.after(() => Promise.all([p.stop(), b.close()]));
    const r = await request(p.port, { path: '/download', timeoutMs: 20_000 });
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-length'], String(MB));
    assert.equal(r.body.length, MB);
    assert.equal(sha256(r.body), r.headers['x-sha256']);
    assert.equal(sha256(r.body), sha256(data));
  });

  test('1 MB chunked upload: sha256 equal on both ends, still chunked at the backend', async (t) => {
    const data = randomBytes(MB);
    const b = await hashingBackend(Buffer.alloc(0));
    const p = await startProxy(simpleYaml([b.port]));
    t.after(() => Promise.all([p.stop(), b.close()]));
    const r = await upload(p.port, data, true, 10_000); // odd chunk sizes
    assert.equal(r.status, 200);
    assert.equal(r.json.te, 'chunked');
    assert.equal(r.json.cl, null);
    assert.equal(r.json.bytes, MB);
    assert.equal(r.json.sha, sha256(data));
  });

  test('three 1 MB uploads and downloads in a row on one keep-alive client connection', async (t) => {
    const down = randomBytes(MB);
    const b = await hashingBackend(down);
    const p = await startProxy(simpleYaml([b.port]));
    t.after(() => Promise.all([p.stop(), b.close()]));
    const { sock, reader } = await rawConnect(p.port, { t });
    for (let i = 0; i < 3; i++) {
      const up = randomBytes(MB);
      sock.write(`POST /upload HTTP/1.1\r\nHost: s.test\r\nContent-Length: ${up.length}\r\n\r\n`);
      sock.write(up);
      const r = await readResponse(reader, 'POST', 10_000);
      assert.equal(JSON.parse(r.body.toString()).sha, sha256(up));
      sock.write('GET /download HTTP/1.1\r\nHost: s.test\r\n\r\n');
      const d = await readResponse(reader, 'GET', 10_000);
      assert.equal(sha256(d.body), sha256(down));
    }
    assert.equal(b.connections, 1);
  });
});

describe('request bodies racing the upstream connect', () => {
  /*
   * The proxy buffers body bytes that arrive while its connection to the server is still
   * being set up, and pauses the client past 64 KiB of them. These check that the
   * client is resumed once the connection is up (cold: a new upstream connection; warm:
   * a pooled one, where nothing needs buffering).
   */
  for (const size of [60_000, 200_000, MB]) {
    for (const warm of [false, true]) {
      test(`POST of ${size} bytes in one write, ${warm ? 'warm (pooled)' : 'cold (new)'} upstream connection`, async (t) => {
        const data = randomBytes(size);
        const b = await hashingBackend(Buffer.alloc(0));
        const p = await startProxy(simpleYaml([b.port]));
        t.after(() => Promise.all([p.stop(), b.close()]));
        if (warm) assert.equal((await request(p.port, { path: '/warm' })).status, 200);
        const { sock, reader } = await rawConnect(p.port, { t });
        sock.write(Buffer.concat([Buffer.from(`POST /upload HTTP/1.1\r\nHost: s.test\r\nContent-Length: ${size}\r\n\r\n`), data]));
        const r = await readResponse(reader, 'POST', 5000);
        assert.equal(r.status, 200);
        assert.equal(JSON.parse(r.body.toString()).sha, sha256(data));
      });
    }
  }
});

describe('Expect: 100-continue', () => {
  for (const mode of ['automatic', 'checkContinue'] as const) {
    test(`the client gets 100 Continue before sending its body (backend: ${mode})`, async (t) => {
      const body = randomBytes(200_000);
      let sawExpect: string | undefined;
      const handler: http.RequestListener = (req, res) => {
        sawExpect = req.headers.expect;
        const h = createHash('sha256');
        req.on('data', (c: Buffer) => h.update(c));
        req.on('end', () => {
          const sum = h.digest('hex');
          res.writeHead(201, { 'Content-Length': sum.length });
          res.end(sum);
        });
      };
      const b = await httpBackend(handler, (s) => {
        if (mode === 'checkContinue') {
          s.on('checkContinue', (req, res) => {
            res.writeContinue();
            handler(req, res);
          });
        }
      });
      const p = await startProxy(simpleYaml([b.port]));
      t.after(() => Promise.all([p.stop(), b.close()]));
      const { sock, reader } = await rawConnect(p.port, { t });
      sock.write(`PUT /object HTTP/1.1\r\nHost: e.test\r\nExpect: 100-continue\r\nContent-Length: ${body.length}\r\n\r\n`);
      const interim = await readResponse(reader, 'PUT', 3000);
      assert.equal(interim.status, 100, 'the 100 Continue is relayed before the body is sent');
      assert.equal(reader.buffered, 0, 'nothing but the 100 before the body');
      for (let off = 0; off < body.length; off += 50_000) sock.write(body.subarray(off, off + 50_000));
      const final = await readResponse(reader, 'PUT');
      assert.equal(final.status, 201);
      assert.equal(final.body.toString(), sha256(body));
      assert.equal(sawExpect, '100-continue');
      // the connection goes on normally
      sock.write('PUT /object HTTP/1.1\r\nHost: e.test\r\nContent-Length: 3\r\n\r\nabc');
      const again = await readResponse(reader, 'PUT');
      assert.equal(again.status, 201);
      assert.equal(again.body.toString(), sha256(Buffer.from('abc')));
    });
  }

  test('an HTTP/1.0 client is not sent the interim 100', async (t) => {
    const b = await httpBackend((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'Content-Length': 2 });
        res.end('ok');
      });
    });
    const p = await startProxy(simpleYaml([b.port]));
    t.after(() => Promise.all([p.stop(), b.close()]));
    const { sock, reader } = await rawConnect(p.port, { t });
    sock.write('POST /old HTTP/1.0\r\nHost: e.test\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n');
    await sleep(100);
    sock.write('body');
    const r = await readResponse(reader, 'POST');
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), 'ok');
  });
});

describe('Upgrade tunnel', () => {
  /**
   * A raw backend that answers an Upgrade request with 101, then echoes what it gets
   * as "echo:<bytes>"; when the client half-closes it sends "bye" and ends; on
   * "server-close" it ends its side first but keeps reading (and records what follows).
   */
  async function upgradeBackend() {
    const seen: Request[] = [];
    const afterServerEnd: Buffer[] = [];
    let clientEnded = false;
    const b = await rawBackend(async (sock, reader) => {
      try {
        const req = await readRequest(reader);
        seen.push(req);
        sock.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Tunnel: yes\r\n\r\n');
        let serverEnded = false;
        const onData = (c: Buffer) => {
          if (serverEnded) {
            afterServerEnd.push(c);
            return;
          }
          if (c.toString().includes('server-close')) {
            serverEnded = true;
            sock.end('closing');
            return;
          }
          sock.write(Buffer.concat([Buffer.from('echo:'), c]));
        };
        const early = reader.buffered > 0 ? await reader.readSome() : null;
        reader.sock.removeAllListeners('data');
        if (early !== null) onData(early);
        sock.on('data', onData);
        sock.on('end', () => {
          clientEnded = true;
          if (!serverEnded) sock.end('bye');
        });
      } catch {
        sock.destroy();
      }
    });
    return Object.assign(b, { seen, afterServerEnd, clientEnded: () => clientEnded });
  }

  const UPGRADE_REQ = 'GET /ws HTTP/1.1\r\nHost: ws.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';

  test('after 101, bytes flow both ways; a client half-close reaches the server, whose last bytes still arrive', async (t) => {
    const b = await upgradeBackend();
    const p = await startProxy(simpleYaml([b.port]));
    t.after(() => Promise.all([p.stop(), b.close()]));
    const { sock, reader } = await rawConnect(p.port, { t });
    sock.write(UPGRADE_REQ);
    const r = await readResponse(reader);
    assert.equal(r.status, 101);
    assert.deepEqual(headerValues(r, 'upgrade'), ['websocket']);
    assert.equal(header(r, 'connection')?.toLowerCase(), 'upgrade');
    assert.equal(header(r, 'x-tunnel'), 'yes');
    // what the backend saw: Upgrade kept, Connection: upgrade
    const req = b.seen[0]!;
    assert.deepEqual(headerValues(req, 'upgrade'), ['websocket']);
    assert.deepEqual(headerValues(req, 'connection').map((v) => v.toLowerCase()), ['upgrade']);
    assert.equal(header(req, 'sec-websocket-key'), 'dGhlIHNhbXBsZSBub25jZQ==');

    for (let i = 0; i < 5; i++) {
      const msg = Buffer.from(`message ${i} \u0000\u00ff binary`, 'latin1');
      sock.write(msg);
      const want = Buffer.concat([Buffer.from('echo:'), msg]);
      const got = await reader.readBytes(want.length);
      assert.ok(got.equals(want), `round trip ${i}`);
    }
    // a larger burst, both ways
    const blob = randomBytes(300_000);
    sock.write(blob);
    let echoed = Buffer.alloc(0);
    const deadline = Date.now() + 5000;
    while (Buffer.concat([echoed]).toString('latin1').replaceAll('echo:', '').length < blob.length && Date.now() < deadline) {
      echoed = Buffer.concat([echoed, await reader.readSome()]);
    }
    const stripped = Buffer.from(echoed.toString('latin1').split('echo:').join(''), 'latin1');
    // "echo:" could occur inside random data only with negligible probability
    assert.ok(stripped.equals(blob), 'a 300 KB burst crosses the tunnel intact');

    sock.end(); // half-close: we send FIN but still read
    const rest = await reader.readToEnd();
    assert.equal(rest.toString(), 'bye', 'the server saw our FIN and its reply still reached us');
    assert.equal(b.clientEnded(), true);
  });

  test('the server half-closes first: the client sees FIN and can still send', async (t) => {
    const b = await upgradeBackend();
    const p = await startProxy(simpleYaml([b.port]));
    t.after(() => Promise.all([p.stop(), b.close()]));
    const { sock, reader } = await rawConnect(p.port, { t });
    sock.write(UPGRADE_REQ);
    assert.equal((await readResponse(reader)).status, 101);
    sock.write('server-close');
    const last = await reader.readToEnd();
    assert.equal(last.toString(), 'closing');
    sock.write('after the server FIN');
    const deadline = Date.now() + 3000;
    while (Buffer.concat(b.afterServerEnd).length < 20 && Date.now() < deadline) await sleep(10);
    assert.equal(Buffer.concat(b.afterServerEnd).toString(), 'after the server FIN');
    sock.end();
  });

  test('bytes sent right behind the upgrade request are delivered after the 101', async (t) => {
    const b = await upgradeBackend();
    const p = await startProxy(simpleYaml([b.port]));
    t.after(() => Promise.all([p.stop(), b.close()]));
    const { sock, reader } = await rawConnect(p.port, { t });
    sock.write(UPGRADE_REQ + 'early bytes');
    assert.equal((await readResponse(reader)).status, 101);
    const got = await reader.readBytes('echo:early bytes'.length);
    assert.equal(got.toString(), 'echo:early bytes');
  });

  test('without an Upgrade request, Upgrade is stripped and a 101 from the server is a 502', async (t) => {
    const b = await rawBackend(async (sock, reader) => {
      try {
        const req = await readRequest(reader);
        if (req.target === '/plain') sock.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
      } catch {
        sock.destroy();
      }
    });
    const p = await startProxy(simpleYaml([b.port]));
    t.after(() => Promise.all([p.stop(), b.close()]));
    const { sock, reader } = await rawConnect(p.port, { t });
    sock.write('GET /plain HTTP/1.1\r\nHost: ws.test\r\nUpgrade: websocket\r\n\r\n'); // no Connection: upgrade
    const r = await readResponse(reader);
    assert.equal(r.status, 502);
  });
});
