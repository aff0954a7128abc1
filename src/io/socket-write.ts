/**
 * The HTTP engine's writes. When a plain TCP socket has nothing queued, a write goes
 * straight to its libuv handle. The kernel nearly always takes it at once, and then
 * Writable's bookkeeping is skipped: the write request and its callbacks, and the
 * process.nextTick after every write. That is two writes per proxied request.
 *
 * A direct write the kernel cannot take at once stays queued in libuv. libuv keeps it
 * ahead of any later write, end or close on the socket. The caller gets false (wait),
 * and the socket emits 'drain' when the write is done, as after Writable's own writes.
 * Everything else goes through `sock.write`: TLS sockets, every socket when the
 * self-test found the TCP bindings unusable (internals.ts), sockets still connecting,
 * ending or corked, a socket whose direct write is still pending, and a socket with bytes
 * in Writable's queue.
 */
import type net from 'node:net';
import { errnoError, NativeSocket } from './native-socket.js';
import type { FastBuffer } from './fast-buffer.js';
import { loadHandles } from './internals.js';
import type { Handles, WriteRequest } from './tcp-handles.js';

/** The libuv bindings (the self-test runs on the first write), or null: every write goes through sock.write. */
let H: Handles | null | undefined;
const PENDING = Symbol('fulcrum.directWritePending');

/** The net.Socket fields a direct write looks at. */
interface DirectSocket {
  _handle: unknown;
  connecting: boolean;
  writableLength: number;
  writableCorked: number;
  writableEnded: boolean;
  destroyed: boolean;
  [PENDING]?: boolean;
}

type PendingWrite = WriteRequest & { sock: net.Socket | null };

/** A write request that no write holds: one that completed at once is used again (as in proxy/tcp/relay.ts). */
let spare: PendingWrite | null = null;

/**
 * Writes `data` (a string is written as latin1) and returns what `sock.write` would: false
 * when the caller should wait for 'drain'. A failed write destroys the socket with the
 * error, as Writable does.
 */
export function writeSocket(sock: net.Socket | NativeSocket, data: Buffer | string): boolean {
  if (sock instanceof NativeSocket) return sock.write(data, 'latin1');
  const s = sock as unknown as DirectSocket;
  const h = s._handle;
  if (H === undefined) H = loadHandles();
  if (H === null || !H.isTcp(h) || s[PENDING] === true || s.writableLength !== 0 || s.connecting || s.writableCorked !== 0 || s.writableEnded || s.destroyed) {
    return typeof data === 'string' ? sock.write(data, 'latin1') : sock.write(data);
  }
  const req = spare ?? (H.newWrite() as PendingWrite);
  spare = null;
  const err = typeof data === 'string' ? h.writeLatin1String(req, data) : h.writeBuffer(req, data);
  if (err !== 0) {
    sock.destroy(errnoError(err, 'write'));
    return false;
  }
  if (H.state[H.LAST_WRITE_WAS_ASYNC] === 0) {
    spare = req;
    return true;
  }
  // libuv holds the rest and points into a Buffer's memory (a string is copied): keep it alive
  req.handle = h;
  req.buffer = typeof data === 'string' ? null : data;
  req.sock = sock;
  req.oncomplete = onDirectWriteDone as WriteRequest['oncomplete'];
  s[PENDING] = true;
  return false;
}

/**
 * Writes `head` (latin1) and then body[start, end) as one: one system call on a native
 * socket, else one Buffer holding both (bodies this small are copied rather than written
 * twice). Returns what writeSocket does.
 */
export function writeHeadAndBody(sock: net.Socket | NativeSocket, head: string, body: Buffer, start: number, end: number): boolean {
  if (sock instanceof NativeSocket) return sock.writeHead(head, body, start, end);
  const out = Buffer.allocUnsafe(head.length + end - start);
  (out as FastBuffer).latin1Write(head, 0);
  body.copy(out, head.length, start, end);
  return writeSocket(sock, out);
}

function onDirectWriteDone(this: PendingWrite, status: number): void {
  const sock = this.sock!;
  this.sock = null;
  this.buffer = null;
  (sock as unknown as DirectSocket)[PENDING] = false;
  if (sock.destroyed) return;
  if (status < 0) sock.destroy(errnoError(status, 'write'));
  else sock.emit('drain');
}
