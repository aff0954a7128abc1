/**
 * HTTP/2 connection errors that nghttp2 answers by itself (GOAWAY, then it stops
 * reading): whatever the client sent, and whether a stream is open or not, the
 * connection is closed right after the GOAWAY, over h2c and over TLS, and the server
 * connection of a stream in flight is given up. Before the fix such a socket sat in
 * CLOSE-WAIT for good.
 */
import assert from 'node:assert/strict';
import type http from 'node:http';
import { test, type TestContext } from 'node:test';
import { NO_OPENSSL, TestPki } from '../helpers/certs.js';
import { httpBackend } from '../helpers/backends.js';
import { httpsYaml, proxyFor } from '../helpers/proxies.js';
import { ERR, FLAG, FRAME, frame, get, headers, RawH2 } from '../helpers/h2-frames.js';

/** How long a connection may stay open after the server's GOAWAY (our bound, not a speed claim). */
const CLOSE_WITHIN_MS = 3000;

/** A backend that holds every request open (a slow server): the stream stays in flight. */
async function holdingBackend(t: TestContext): Promise<{ port: number; open: () => number; seen: () => number }> {
  const held = new Set<http.ServerResponse>();
  const b = await httpBackend((req, res) => {
    req.resume();
    held.add(res);
    res.on('close', () => held.delete(res));
  });
  t.after(() => {
    for (const r of held) r.destroy();
    return b.close();
  });
  // server connections opened (a rapid reset used to open one per stream, then cut it)
  return { port: b.port, open: () => held.size, seen: () => b.connections };
}

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};

interface Case {
  name: string;
  /** What the client sends after the preface and SETTINGS (the opening stream, if any, included). */
  send: (raw: RawH2) => Promise<void> | void;
  goaway: number;
}

const GET1 = headers(1, get('/held'));
const CASES: Case[] = [
  { name: 'DATA on stream 0 with a GET in flight', send: (r) => r.send(GET1, frame(FRAME.DATA, 0, 0, Buffer.from('x'))), goaway: ERR.PROTOCOL_ERROR },
  { name: 'a 3-byte SETTINGS frame with a GET in flight', send: (r) => r.send(GET1, frame(FRAME.SETTINGS, 0, 0, Buffer.from('abc'))), goaway: ERR.FRAME_SIZE_ERROR },
  {
    name: 'a bad HPACK block on a new stream with a GET in flight',
    send: (r) => r.send(GET1, frame(FRAME.HEADERS, FLAG.END_HEADERS | FLAG.END_STREAM, 3, Buffer.from([0xff, 0xff, 0xff, 0xff]))),
    goaway: ERR.COMPRESSION_ERROR,
  },
  {
    name: 'a POST with part of its body, then DATA on stream 0',
    send: (r) =>
      r.send(
        headers(1, [[':method', 'POST'], [':scheme', 'https'], [':authority', 'www.example.com'], [':path', '/up'], ['content-length', '100']], true),
        frame(FRAME.DATA, 0, 1, Buffer.alloc(40, 0x61)),
        frame(FRAME.DATA, 0, 0, Buffer.from('x')),
      ),
    goaway: ERR.PROTOCOL_ERROR,
  },
  {
    name: 'a zero initial window, a GET, then a PING on stream 1',
    send: (r) => r.send(frame(FRAME.SETTINGS, 0, 0, Buffer.from([0, 4, 0, 0, 0, 0])), GET1, frame(FRAME.PING, 0, 1, Buffer.alloc(8))),
    goaway: ERR.PROTOCOL_ERROR,
  },
  {
    name: 'rapid reset: HEADERS then RST_STREAM, 3,000 times',
    send: (r) => {
      const frames: Buffer[] = [];
      for (let i = 0; i < 3000; i++) {
        const id = 1 + 2 * i;
        frames.push(headers(id, get(`/r/${i}`)), frame(FRAME.RST_STREAM, 0, id, u32(ERR.CANCEL)));
      }
      r.send(...frames);
    },
    // nghttp2's stream reset rate limit (1,000 at once) terminates with INTERNAL_ERROR
    goaway: ERR.INTERNAL_ERROR,
  },
];

async function closedWithin(raw: RawH2, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!raw.closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  return raw.closed;
}

for (const h2c of [true, false]) {
  const over = h2c ? 'h2c' : 'TLS';
  test(`HTTP/2 connection errors over ${over}: GOAWAY with the right code, then the socket is closed, and the held server request is given up`, { skip: !h2c && NO_OPENSSL }, async (t) => {
    const backend = await holdingBackend(t);
    let yaml: string;
    if (h2c) {
      yaml = ['listeners:', '  - name: h2c', '    bind: 127.0.0.1:0', '    http2: { h2c: true }', '    routes: [{ pool: web }]', 'pools:', '  web:', `    servers: [{ address: "127.0.0.1:${backend.port}" }]`, ''].join('\n');
    } else {
      const pki = new TestPki(t);
      yaml = httpsYaml([pki.leaf(['www.example.com'])], [backend.port]);
    }
    const proxy = await proxyFor(t, yaml);
    for (const c of CASES) {
      const raw = await RawH2.open(t, proxy.port, h2c);
      const seen = backend.seen();
      await c.send(raw);
      assert.equal(await raw.goaway(), c.goaway, `${c.name}: GOAWAY code`);
      // the client does not even close its side: the server must
      assert.ok(await closedWithin(raw, CLOSE_WITHIN_MS), `${c.name}: the connection is still open ${CLOSE_WITHIN_MS} ms after the GOAWAY`);
      // streams reset in the read that opened them never cost a server connection
      if (c.name.startsWith('rapid reset')) assert.ok(backend.seen() - seen < 10, `rapid reset: ${backend.seen() - seen} server connections opened`);
    }
    // every stream the backend held was given up by the proxy
    const deadline = Date.now() + CLOSE_WITHIN_MS;
    while (backend.open() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.equal(backend.open(), 0, 'server requests of the dead connections are closed');
  });
}

test('HTTP/2: a client FIN with a stream in flight and nothing else: the connection is closed once the client timeout passes, at once without streams', async (t) => {
  const backend = await holdingBackend(t);
  const yaml = ['listeners:', '  - name: h2c', '    bind: 127.0.0.1:0', '    http2: { h2c: true }', '    timeouts: { client: 1s }', '    routes: [{ pool: web }]', 'pools:', '  web:', `    servers: [{ address: "127.0.0.1:${backend.port}" }]`, ''].join('\n');
  const proxy = await proxyFor(t, yaml);
  const idle = await RawH2.open(t, proxy.port, true);
  idle.sock.end();
  assert.ok(await closedWithin(idle, 1000), 'FIN without a stream: closed');
  const busy = await RawH2.open(t, proxy.port, true);
  busy.send(GET1);
  await new Promise((r) => setTimeout(r, 100));
  busy.sock.end();
  assert.ok(await closedWithin(busy, 3000), 'FIN with a stream held by the server: closed after the client timeout');
});
