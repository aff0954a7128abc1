/**
 * One read buffer for every socket of the HTTP engine, client and upstream (net's
 * `onread` option). Reads run one at a time on this thread and each callback copies
 * its bytes out before returning, so sharing is safe. It saves the per-read buffer
 * allocation and the Readable stream bookkeeping behind 'data' events: measured on the
 * HTTP benchmark, about a fifth of the proxy's CPU per request.
 *
 * The documented part of `onread` is net.connect's option (upstream.ts). Accepted
 * sockets and TLS sockets get it through Node internals (a socket's `_handle`, net's
 * private onread symbols), checked by the self-test (internals.ts): without them, the
 * functions here change nothing and say so, and the caller reads through 'data' events.
 */
import net from 'node:net';
import { internals } from './internals.js';

export const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

/** The bytes of the last read, as a buffer the caller owns. */
export function takeRead(n: number): Buffer {
  return copyBytes(READ_BUFFER, 0, n);
}

/** Bytes [start, end) of a shared read buffer (this one, the native addon's arena) in a Buffer of their own. */
export function copyBytes(from: Buffer, start: number, end: number): Buffer {
  const chunk = Buffer.allocUnsafe(end - start);
  from.copy(chunk, 0, start, end);
  return chunk;
}

export type ReadCallback = (this: net.Socket, n: number, buf: Uint8Array) => boolean;

/**
 * A net.Socket for an accepted libuv TCP handle that reads through READ_BUFFER into
 * `callback`, with `net.Socket`'s `handle` and `onread` options (net.Server has no
 * `onread` option of its own). The HTTP frontend takes handles straight from the
 * listening handle, so each connection costs one Socket instead of two. Only used when
 * the self-test found onread usable (accept.ts checks).
 */
export function socketForHandle(handle: unknown, callback: ReadCallback, allowHalfOpen: boolean): net.Socket {
  const opts = { handle, allowHalfOpen, onread: { buffer: READ_BUFFER, callback } };
  return new net.Socket(opts as net.SocketConstructorOpts);
}

/**
 * Re-wraps a socket accepted with `pauseOnConnect` so that it reads through
 * READ_BUFFER into `callback`. Uses `socket._handle`; when it is not there (or the
 * self-test found onread unusable), returns undefined and the caller keeps the original
 * socket (and its 'data' events).
 */
export function adoptAccepted(old: net.Socket, callback: ReadCallback, allowHalfOpen: boolean): net.Socket | undefined {
  if (internals().onread === null) return undefined;
  const raw = old as unknown as { _handle?: { useUserBuffer?: unknown } | null };
  const handle = raw._handle;
  if (handle == null || typeof handle.useUserBuffer !== 'function') return undefined;
  raw._handle = null;
  old.destroy(); // the old wrapper goes (and leaves the server's count); the descriptor stays with the handle
  return socketForHandle(handle, callback, allowHalfOpen);
}

/**
 * Switches a TLS socket (after its handshake) to shared-buffer reads into `callback`:
 * the socket's TLS handle is told to use the buffer and net's `onread` fields are set on
 * the socket, which is what net.Socket's constructor does with the `onread` option (that
 * TLSSocket only honours for sockets it connects itself). Each read then reaches
 * `callback` with the byte count, skipping a Buffer allocation and the Readable stream
 * machinery per TLS record.
 *
 * Returns false, changing nothing, when Node's internals are not as expected; the caller
 * then reads through 'data' events. Bytes already decrypted and buffered stay in the
 * socket: the caller drains them with `sock.read()`.
 */
export function readThroughSharedBuffer(sock: net.Socket, callback: ReadCallback): boolean {
  const s = internals().onread;
  if (s === null) return false;
  const handle = (sock as unknown as { _handle?: { useUserBuffer?: (b: Uint8Array) => void } | null })._handle;
  if (handle == null || typeof handle.useUserBuffer !== 'function') return false;
  const o = sock as unknown as Record<symbol, unknown>;
  o[s.buffer] = READ_BUFFER;
  o[s.callback] = callback;
  o[s.gen] = null;
  handle.useUserBuffer(READ_BUFFER);
  return true;
}

/**
 * Sends the reads of a socket that already reads through the shared buffer (a plain
 * client socket, or a TLS one switched by readThroughSharedBuffer) to `callback` from
 * now on. Returns false, changing nothing, for a socket that reads through 'data' events.
 */
export function redirectSharedReads(sock: net.Socket, callback: ReadCallback): boolean {
  const s = internals().onread;
  const o = sock as unknown as Record<symbol, unknown>;
  if (s === null || o[s.buffer] == null) return false;
  o[s.callback] = callback;
  return true;
}
