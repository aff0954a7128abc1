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
 * Node 12, but they are not a public API: everything that touches them is in src/io,
 * and the self-test (internals.ts) checks them once per process; where a Node version
 * no longer offers them, tcp listeners relay over net.Socket and the HTTP engine writes
 * through socket.write.
 */

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

export { UV_EOF, UV_ECANCELED, UV_ENOTCONN } from './uv.js';

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

/** The TCP handle methods the relay, the HTTP engine's direct writes and accepts call. */
const TCP_METHODS = [
  'useUserBuffer',
  'readStart',
  'readStop',
  'writeBuffer',
  'writeLatin1String',
  'shutdown',
  'close',
  'connect',
  'connect6',
  'getpeername',
  'getsockname',
  'setNoDelay',
] as const;

/**
 * The self-test of the bindings (internals.ts runs it once per process): the bindings,
 * or why they are not usable on this Node version (a missing constructor, method or
 * field). Never throws.
 */
export function probeTcpWrap(): Handles | string {
  try {
    const binding = (process as unknown as { binding?: (name: string) => unknown }).binding;
    if (typeof binding !== 'function') return 'process.binding is not a function';
    const tcp = binding('tcp_wrap') as Partial<Bindings> | undefined;
    const stream = binding('stream_wrap') as Partial<StreamBindings> | undefined;
    if (tcp == null || stream == null) return "process.binding('tcp_wrap'/'stream_wrap') gave nothing";
    if (typeof tcp.TCP !== 'function') return "tcp_wrap has no TCP constructor";
    if (typeof tcp.TCPConnectWrap !== 'function') return 'tcp_wrap has no TCPConnectWrap';
    if (typeof tcp.constants?.SOCKET !== 'number') return 'tcp_wrap has no constants.SOCKET';
    if (typeof stream.WriteWrap !== 'function' || typeof stream.ShutdownWrap !== 'function') return 'stream_wrap has no WriteWrap/ShutdownWrap';
    if (!(stream.streamBaseState instanceof Int32Array)) return 'stream_wrap has no streamBaseState';
    if (typeof stream.kReadBytesOrError !== 'number' || typeof stream.kLastWriteWasAsync !== 'number') return 'stream_wrap has no kReadBytesOrError/kLastWriteWasAsync';
    const proto = tcp.TCP.prototype as unknown as Record<string, unknown>;
    for (const m of TCP_METHODS) if (typeof proto[m] !== 'function') return `tcp_wrap's TCP has no ${m}()`;
    const { TCP, TCPConnectWrap, constants } = tcp as Bindings;
    const { WriteWrap, ShutdownWrap } = stream as StreamBindings;
    return {
      newTcp: () => new TCP(constants.SOCKET),
      newWrite: () => new WriteWrap(),
      newShutdown: () => new ShutdownWrap(),
      newConnect: () => new TCPConnectWrap(),
      isTcp: (handle: unknown): handle is TcpHandle => handle instanceof TCP,
      state: stream.streamBaseState,
      READ_BYTES: stream.kReadBytesOrError,
      LAST_WRITE_WAS_ASYNC: stream.kLastWriteWasAsync,
    };
  } catch (err) {
    return `process.binding('tcp_wrap') threw: ${err instanceof Error ? err.message : String(err)}`;
  }
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
