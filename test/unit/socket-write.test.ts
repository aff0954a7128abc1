/**
 * writeSocket (src/io/socket-write.ts): direct writes to a plain TCP socket's
 * handle keep their order with Writable's writes and with end(), report backpressure
 * and emit 'drain', and fail like Writable's writes. Real loopback sockets.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import net from 'node:net';
import { test } from 'node:test';
import { writeSocket } from '../../src/io/socket-write.js';
import { LOOPBACK } from '../helpers/ports.js';


/** A connected pair: `client` (ours) and the accepted `peer`, paused. */
async function pair(t: { after(fn: () => void): void }): Promise<{ client: net.Socket; peer: net.Socket }> {
  const server = net.createServer({ pauseOnConnect: true });
  await new Promise<void>((r) => server.listen(0, LOOPBACK, r));
  t.after(() => server.close());
  const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
  const client = net.connect((server.address() as net.AddressInfo).port, LOOPBACK);
  await new Promise<void>((r, j) => client.once('connect', r).once('error', j));
  const peer = await accepted;
  t.after(() => {
    client.destroy();
    peer.destroy();
  });
  return { client, peer };
}

function readAll(sock: net.Socket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.once('end', () => resolve(Buffer.concat(chunks)));
    sock.once('error', reject);
    sock.resume();
  });
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

test('small writes complete at once and arrive in order, strings as latin1', async (t) => {
  const { client, peer } = await pair(t);
  assert.equal(writeSocket(client, 'GET / HTTP/1.1\r\n'), true);
  assert.equal(writeSocket(client, Buffer.from('Host: x\r\n')), true);
  assert.equal(writeSocket(client, '\r\n\u00e9'), true);
  client.end();
  const got = await readAll(peer);
  assert.deepEqual(got, Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n\u00e9', 'latin1'));
});

test('a write the kernel cannot take returns false, keeps order with later writes and end(), then emits drain', async (t) => {
  const { client, peer } = await pair(t);
  const big = Buffer.alloc(16 * 1024 * 1024);
  for (let i = 0; i < big.length; i += 4096) big.writeUInt32BE(i, i);
  const drained = new Promise<void>((r) => client.once('drain', () => r()));
  assert.equal(writeSocket(client, big), false, 'the peer reads nothing yet: backpressure');
  // while the direct write is pending, later writes queue behind it (through Writable)
  writeSocket(client, 'tail-1');
  writeSocket(client, Buffer.from('tail-2'));
  client.end('end');
  const expected = Buffer.concat([big, Buffer.from('tail-1tail-2end')]);
  const [got] = await Promise.all([readAll(peer), drained]);
  assert.equal(got.length, expected.length);
  assert.equal(sha(got), sha(expected));
});

test('a write to a reset connection destroys the socket with the error', async (t) => {
  const { client, peer } = await pair(t);
  peer.resetAndDestroy();
  const err = await new Promise<NodeJS.ErrnoException>((resolve) => {
    client.once('error', resolve);
    const tick = () => {
      if (client.destroyed) return;
      writeSocket(client, Buffer.alloc(64 * 1024));
      setTimeout(tick, 5);
    };
    tick();
  });
  assert.match(String(err.code), /^(EPIPE|ECONNRESET)$/);
  assert.equal(err.syscall, 'write');
  assert.equal(client.destroyed, true);
});

test('sockets that are not plain connected TCP go through Writable', async (t) => {
  const { peer } = await pair(t);
  const port = (peer.localPort ?? 0) as number;
  // still connecting: Writable buffers it until the connection is up
  const early = net.connect(port, LOOPBACK);
  t.after(() => early.destroy());
  assert.equal(early.connecting, true);
  assert.equal(writeSocket(early, 'queued while connecting'), true);
  assert.equal(early.writableLength > 0, true, 'held by Writable, not written to the handle');
});
