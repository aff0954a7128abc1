/**
 * Typed access to the libuv TCP handles that net.Socket itself is built on
 * (`process.binding('tcp_wrap')` and `'stream_wrap'`). The TCP relay works on them
 * directly: no Readable/Writable state machines, no per-read Buffer allocation, no
 * events. Measured on this project's 2-core machines with short connections (accept,
 * connect, one request, close), a relay over net.Socket spent about twice the CPU per
 * connection of one over these handles, which is what puts Fulcrum's TCP mode near
 * HAProxy's connection rate; see bench/tcp.ts.
 *
 * These bindings are what Node's own `net` module uses and have been stable since
 * Node 12, but they are not a public API: everything that touches them is in this file
 * and in relay code that imports it, and {@link loadHandles} reports plainly when a
 * Node version no longer offers them.
 */
import os from 'node:os';

/** `oncomplete(status)` of a write, shutdown or connect request; `this` is the request. */
export type Completion<R> = (this: R, status: number) => void;

/** A libuv TCP handle (Node's TCPWrap). Methods return 0 or a negative libuv error code. */
export interface TcpHandle {
  /**
   * Called for each read with `this` = the handle: read {@link StreamState} at
   * READ_BYTES for the byte count (> 0), 0 (nothing), UV_EOF or an error. With a user
   * buffer, a Buffer returned here is where the next read goes.
   */
  onread: ((this: TcpHandle) => Uint8Array | undefined) | null;
  /** Reads go into `buf` (until onread returns another buffer). Call once per handle. */
  useUserBuffer(buf: Uint8Array): void;
  readStart(): number;
  readStop(): number;
  /**
   * Writes `buf`: tries synchronously first; when bytes remain (StreamState at
   * LAST_WRITE_WAS_ASYNC is 1), libuv keeps a pointer into `buf` until
   * `req.oncomplete` runs, so `buf` must not change until then.
   */
  writeBuffer(req: WriteRequest, buf: Uint8Array): number;
  /** As writeBuffer, for a string written as latin1 (one byte per char code). */
  writeLatin1String(req: WriteRequest, text: string): number;
  /** Sends FIN once queued writes are done; 1 or UV_ENOTCONN: nothing to wait for. */
  shutdown(req: ShutdownRequest): number;
  /** Closes the descriptor now; pending requests complete later with UV_ECANCELED. */
  close(cb?: () => void): void;
  /**
   * Closes with SO_LINGER 0, so the peer gets a RST instead of a FIN (Node >= 16.17).
   * Must not be called after shutdown(): libuv refuses it then, and Node marks the
   * handle as closing anyway, so it would never close.
   */
  reset?(cb?: () => void): number;
  connect(req: ConnectRequest, address: string, port: number): number;
  connect6(req: ConnectRequest, address: string, port: number): number;
  getpeername(out: { address?: string; port?: number; family?: string }): number;
  getsockname(out: { address?: string; port?: number; family?: string }): number;
  setNoDelay(on: boolean): number;
  /** Relay bookkeeping stored on the handle (the side it belongs to). */
  owner?: unknown;
}

/** A write request; `side` is relay bookkeeping. */
export interface WriteRequest {
  handle: TcpHandle | null;
  oncomplete: Completion<WriteRequest>;
  /** Keeps the written bytes alive while libuv points into them. */
  buffer: Uint8Array | null;
  side: unknown;
}

/** A shutdown request. */
export interface ShutdownRequest {
  handle: TcpHandle | null;
  oncomplete: Completion<ShutdownRequest>;
  side: unknown;
}

/** A connect request. */
export interface ConnectRequest {
  oncomplete: Completion<ConnectRequest>;
  address: string;
  port: number;
  /** Relay bookkeeping: who asked, and for which attempt. */
  conn: unknown;
  attempt: number;
}

/** The shared Int32Array through which the bindings report read and write results. */
export type StreamState = Int32Array;

/** The bindings, loaded once. */
export interface Handles {
  newTcp(): TcpHandle;
  newWrite(): WriteRequest;
  newShutdown(): ShutdownRequest;
  newConnect(): ConnectRequest;
  /** Whether `handle` is a plain TCP handle (not TLS, not a pipe). */
  isTcp(handle: unknown): handle is TcpHandle;
  readonly state: StreamState;
  /** Index in `state` of the last read's byte count (or error). */
  readonly READ_BYTES: number;
  /** Index in `state`: 1 when the last writeBuffer left bytes for later. */
  readonly LAST_WRITE_WAS_ASYNC: number;
}

/** libuv's end-of-stream code (same on every Unix and on Windows). */
export const UV_EOF = -4095;
/** libuv's "operation canceled", reported for requests pending when a handle closes. */
export const UV_ECANCELED = process.platform === 'win32' ? -4081 : -(os.constants.errno.ECANCELED ?? 125);
/** libuv's "socket is not connected" (a shutdown after the peer reset). */
export const UV_ENOTCONN = process.platform === 'win32' ? -4053 : -(os.constants.errno.ENOTCONN ?? 107);

let loaded: Handles | null | undefined;

interface Bindings {
  TCP: new (type: number) => TcpHandle;
  TCPConnectWrap: new () => ConnectRequest;
  constants: { SOCKET: number };
}
interface StreamBindings {
  WriteWrap: new () => WriteRequest;
  ShutdownWrap: new () => ShutdownRequest;
  streamBaseState: Int32Array;
  kReadBytesOrError: number;
  kLastWriteWasAsync: number;
}

/**
 * The TCP bindings, or null when this Node version does not offer them (callers then
 * say so and refuse to start a tcp listener). Cheap after the first call.
 */
export function loadHandles(): Handles | null {
  if (loaded !== undefined) return loaded;
  try {
    const binding = (process as unknown as { binding(name: string): unknown }).binding;
    const tcp = binding('tcp_wrap') as Bindings;
    const stream = binding('stream_wrap') as StreamBindings;
    const ok =
      typeof tcp.TCP === 'function' &&
      typeof tcp.TCPConnectWrap === 'function' &&
      typeof stream.WriteWrap === 'function' &&
      typeof stream.ShutdownWrap === 'function' &&
      stream.streamBaseState instanceof Int32Array &&
      typeof tcp.TCP.prototype.useUserBuffer === 'function' &&
      typeof tcp.TCP.prototype.writeBuffer === 'function';
    if (!ok) {
      loaded = null;
      return loaded;
    }
    const { TCP, TCPConnectWrap, constants } = tcp;
    const { WriteWrap, ShutdownWrap } = stream;
    loaded = {
      newTcp: () => new TCP(constants.SOCKET),
      newWrite: () => new WriteWrap(),
      newShutdown: () => new ShutdownWrap(),
      newConnect: () => new TCPConnectWrap(),
      isTcp: (handle: unknown): handle is TcpHandle => handle instanceof TCP,
      state: stream.streamBaseState,
      READ_BYTES: stream.kReadBytesOrError,
      LAST_WRITE_WAS_ASYNC: stream.kLastWriteWasAsync,
    };
  } catch {
    loaded = null;
  }
  return loaded;
}

/**
 * Takes the libuv handle out of a net.Socket (accepted by a net.Server) and lets the
 * socket object go: the descriptor stays open with the handle. Undefined when the
 * socket has no such handle (then the caller closes the socket).
 */
export function detachHandle(sock: { destroy(): void }): TcpHandle | undefined {
  const raw = sock as unknown as { _handle?: TcpHandle | null };
  const handle = raw._handle;
  if (handle == null || typeof handle.useUserBuffer !== 'function') return undefined;
  raw._handle = null;
  sock.destroy();
  return handle;
}
