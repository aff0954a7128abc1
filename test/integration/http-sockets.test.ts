/**
 * The HTTP engine's native sockets (src/io/native-socket.ts over
 * native/stream.c): the net.Socket behaviour the engine relies on, checked against
 * Node's own servers, and that plain HTTP listeners use them. The HTTP suites
 * (proxy-*, corpus-*) run on them too; proxy-node-sockets.test.ts runs the main ones on
 * Node's sockets.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import { test, type TestContext } from 'node:test';
import { NativeSocket, nativeSockets } from '../../src/io/native-socket.js';
import { nativeRelayMissing, type NativeRelay } from '../../src/io/native-relay.js';
import type { HttpFrontend } from '../../src/proxy/http/frontend.js';
import { closedPort, LOOPBACK } from '../helpers/ports.js';
import { httpBackend, serve } from '../helpers/backends.js';
import { simpleYaml, startProxy } from '../helpers/proxies.js';
import { WAIT_MS, waitFor } from '../helpers/wait.js';

const io = process.env.FULCRUM_HTTP_IO === 'node' ? null : nativeSockets();
const skip = io === null ? `no native sockets: ${process.env.FULCRUM_HTTP_IO === 'node' ? 'FULCRUM_HTTP_IO=node' : nativeRelayMissing()}` : false;

/** A Node server on loopback; `onSocket` gets each accepted socket. Closed after the test. */
async function server(t: TestContext, onSocket: (s: net.Socket) => void): Promise<number> {
  const srv = net.createServer({ allowHalfOpen: true }, (s) => {
    s.on('error', () => {});
    onSocket(s);
  });
  return (await serve(srv, { t })).port;
}

/** A connected NativeSocket, its reads collected; destroyed after the test. */
async function dial(t: TestContext, relay: NativeRelay, port: number): Promise<{ sock: NativeSocket; got: Buffer[]; bytes: () => number }> {
  const sock = NativeSocket.connect(relay, LOOPBACK, port);
  const got: Buffer[] = [];
  sock.onData = (c) => got.push(c);
  sock.on('error', () => {});
  t.after(() => sock.destroy());
  await once(sock, 'connect');
  return { sock, got, bytes: () => got.reduce((n, c) => n + c.length, 0) };
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

test('plain HTTP listeners and their upstream connections use the native sockets', { skip }, async (t) => {
  const backend = await httpBackend((_req, res) => res.end('hello'));
  t.after(() => backend.close());
  const before = io!.streamCount();
  const p = await startProxy(simpleYaml([backend.port]));
  t.after(() => p.stop());
  assert.equal((p.instance.listeners[0] as unknown as HttpFrontend).sockets, 'native');
  const res = await fetch(`http://127.0.0.1:${p.port}/`);
  assert.equal(await res.text(), 'hello');
  // the client's connection and the pooled upstream connection
  assert.ok(io!.streamCount() >= before + 1, `streams open: ${io!.streamCount()} (before: ${before})`);
});

test('bytes go both ways whole, with backpressure on a peer that reads late', { skip }, async (t) => {
  const up = randomBytes(8 << 20);
  const down = randomBytes(8 << 20);
  let received: Buffer[] = [];
  let peer: net.Socket | undefined;
  const port = await server(t, (s) => {
    peer = s;
    s.pause(); // reads nothing for now: our writes must back up
    s.on('data', (c: Buffer) => received.push(c));
    s.write(down);
  });
  const { sock, bytes, got } = await dial(t, io!, port);
  let drains = 0;
  sock.on('drain', () => drains++);
  const accepted = sock.write(up);
  assert.equal(accepted, false, 'an 8 MiB write to a peer that does not read is kept');
  await waitFor(() => bytes() === down.length, WAIT_MS, () => `${bytes()} of ${down.length} bytes read`);
  assert.equal(sha(Buffer.concat(got)), sha(down));
  assert.equal(drains, 0, 'no drain while the peer reads nothing');
  peer!.resume();
  await waitFor(() => drains === 1, WAIT_MS, 'drain');
  await waitFor(() => received.reduce((n, c) => n + c.length, 0) === up.length, WAIT_MS, 'the upload');
  assert.equal(sha(Buffer.concat(received)), sha(up));
  received = [];
});

test('pause stops reading (the peer is held back), resume delivers the rest in order', { skip }, async (t) => {
  const data = randomBytes(16 << 20);
  let blocked = false;
  const port = await server(t, (s) => {
    blocked = !s.write(data);
    s.end();
  });
  const { sock, got, bytes } = await dial(t, io!, port);
  sock.pause();
  assert.equal(sock.isPaused(), true);
  await new Promise((r) => setTimeout(r, 200));
  const whilePaused = bytes();
  assert.ok(blocked, 'the peer had to wait');
  assert.ok(whilePaused < data.length / 2, `read ${whilePaused} bytes while paused`);
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(bytes(), whilePaused, 'nothing is read while paused');
  let ended = false;
  sock.on('end', () => (ended = true));
  sock.resume();
  await waitFor(() => ended, WAIT_MS, () => `the end (${bytes()} of ${data.length} bytes)`);
  assert.equal(sha(Buffer.concat(got)), sha(data));
});

test('half-close: the peer\'s FIN is "end", we still write, and the socket closes once both ways ended', { skip }, async (t) => {
  let fromUs = '';
  let peerEnded = false;
  const port = await server(t, (s) => {
    s.setEncoding('latin1');
    s.on('data', (c: string) => (fromUs += c));
    s.on('end', () => (peerEnded = true));
    s.end('bye');
  });
  const { sock, got } = await dial(t, io!, port);
  await once(sock, 'end');
  assert.equal(Buffer.concat(got).toString(), 'bye');
  assert.equal(sock.destroyed, false, 'open after the peer\'s FIN (allowHalfOpen)');
  assert.equal(sock.write('still here', 'latin1'), true);
  const closed = once(sock, 'close');
  sock.end('; done');
  await closed;
  await waitFor(() => peerEnded, WAIT_MS, 'the peer to see our FIN');
  assert.equal(fromUs, 'still here; done');
});

test('a refused connect is an error and a close, never a connect', { skip }, async () => {
  const port = await closedPort();
  const sock = NativeSocket.connect(io!, LOOPBACK, port);
  let connected = false;
  sock.on('connect', () => (connected = true));
  const closed = new Promise((r) => sock.once('close', r)); // in the same tick as 'error', as with net.Socket
  const [err] = (await once(sock, 'error')) as [NodeJS.ErrnoException];
  assert.equal(err.code, 'ECONNREFUSED');
  await closed;
  assert.equal(connected, false);
  assert.equal(sock.destroyed, true);
});

test('a reset by the peer is an error and a close; writes after it fail quietly', { skip }, async (t) => {
  const port = await server(t, (s) => {
    s.once('data', () => s.resetAndDestroy());
  });
  const { sock } = await dial(t, io!, port);
  const errored = once(sock, 'error');
  const closed = new Promise((r) => sock.once('close', r));
  sock.write('x', 'latin1');
  const [err] = (await errored) as [NodeJS.ErrnoException];
  assert.equal(err.code, 'ECONNRESET');
  await closed;
  assert.equal(sock.write('y', 'latin1'), false);
});

test('corked writes go out as one, and a false answer while corked is followed by a drain', { skip }, async (t) => {
  let got = '';
  const port = await server(t, (s) => {
    s.setEncoding('latin1');
    s.on('data', (c: string) => (got += c));
  });
  const { sock } = await dial(t, io!, port);
  sock.cork();
  assert.equal(sock.write('a', 'latin1'), true);
  assert.equal(sock.write(Buffer.from('b')), true);
  assert.equal(sock.write(Buffer.alloc(20 << 10, 0x63)), false, 'past the high-water mark');
  const drained = once(sock, 'drain');
  sock.uncork();
  await drained;
  await waitFor(() => got.length === 2 + (20 << 10), WAIT_MS, () => `${got.length} bytes`);
  assert.ok(got.startsWith('abccc'));
});

test('destroy closes at once: close follows, later reads and writes are dropped, no stream is left', { skip }, async (t) => {
  let peerEnded = false;
  const port = await server(t, (s) => {
    s.on('end', () => (peerEnded = true));
    s.resume();
  });
  const before = io!.streamCount();
  const { sock, bytes } = await dial(t, io!, port);
  assert.equal(io!.streamCount(), before + 1);
  const closed = once(sock, 'close');
  sock.destroy();
  assert.equal(io!.streamCount(), before);
  await closed;
  assert.equal(sock.write('x', 'latin1'), false);
  await waitFor(() => peerEnded, WAIT_MS, 'the peer to see the close');
  assert.equal(bytes(), 0);
});

test('an accepted client\'s addresses are known without a syscall per request', { skip }, async (t) => {
  const backend = await httpBackend((req, res) => res.end(String(req.headers['x-forwarded-for'])));
  t.after(() => backend.close());
  const p = await startProxy(simpleYaml([backend.port]));
  t.after(() => p.stop());
  const res = await fetch(`http://127.0.0.1:${p.port}/`);
  assert.equal(await res.text(), '127.0.0.1');
});

test('writeHead sends a head and a body slice as one, keeping what the kernel does not take', { skip }, async (t) => {
  const body = randomBytes(4 << 20);
  const head = `HTTP/1.1 200 OK\r\nContent-Length: ${body.length - 10}\r\n\r\n`;
  const received: Buffer[] = [];
  let peer: net.Socket | undefined;
  const port = await server(t, (s) => {
    peer = s;
    s.pause();
    s.on('data', (c: Buffer) => received.push(c));
  });
  const { sock } = await dial(t, io!, port);
  const drained = once(sock, 'drain');
  assert.equal(sock.writeHead(head, body, 10, body.length), false, 'more than the socket buffers');
  assert.equal(sock.write('tail', 'latin1'), false, 'queued behind the rest');
  await waitFor(() => peer !== undefined, WAIT_MS, 'the peer');
  peer!.resume();
  await drained;
  const want = Buffer.concat([Buffer.from(head, 'latin1'), body.subarray(10), Buffer.from('tail')]);
  await waitFor(() => received.reduce((n, c) => n + c.length, 0) === want.length, WAIT_MS, 'every byte');
  assert.equal(sha(Buffer.concat(received)), sha(want));
});

test('a reset stream still hears of it when a stream made earlier in the same batch of events takes its slot', { skip }, async (t) => {
  // The addon closes A on its reset and frees A's slot; A's error event waits in the
  // batch behind B's data. B's handler opens stream C, which the addon may put in A's
  // old slot. A's event must still reach A (it once fell on the floor, and a pooled
  // upstream connection then took requests that waited for the server timeout).
  const peers: net.Socket[] = [];
  const port = await server(t, (s) => peers.push(s));
  const a = await dial(t, io!, port);
  const b = await dial(t, io!, port);
  await waitFor(() => peers.length === 2, WAIT_MS, 'both connections accepted');
  const peerOf = (s: NativeSocket) => peers.find((p) => p.remotePort === s.localPort)!;
  const pa = peerOf(a.sock);
  const pb = peerOf(b.sock);
  let c: NativeSocket | undefined;
  t.after(() => c?.destroy());
  b.sock.onData = () => {
    if (c !== undefined) return;
    c = NativeSocket.connect(io!, LOOPBACK, port);
    c.on('error', () => {});
  };
  let closed = false;
  a.sock.on('close', () => (closed = true));
  pb.write('x'); // first in the batch: B reads, and its handler opens C
  pa.resetAndDestroy(); // then A's reset
  await waitFor(() => c !== undefined, WAIT_MS, 'B read its byte');
  await waitFor(() => closed, 2000, 'A to close after its reset');
});
