/**
 * A TCP socket of the HTTP engine on the native addon's byte streams (native/stream.c)
 * instead of a libuv handle: the part of net.Socket's interface the engine uses
 * (write, end, destroy, pause, resume, cork, addresses, and the 'connect', 'end',
 * 'drain', 'error' and 'close' events), with reads handed to `onData` as Buffers the
 * callee owns.
 *
 * Why: the addon reads every ready socket in C and enters JavaScript once per batch,
 * and a write is one send() from JavaScript. Through Node, each read is its own call
 * from libuv into JavaScript, which was most of what the proxy spent per request beyond
 * the kernel's work (bench/http.ts).
 *
 * Semantics follow net.Socket with allowHalfOpen: a FIN from the peer is 'end' and the
 * socket stays writable; once both ways have ended and the written bytes are out, it
 * closes by itself. destroy() closes at once and drops unwritten bytes; 'error' (when
 * there is one) and 'close' follow on the next tick, as in Node.
 */
import { EventEmitter } from 'node:events';
import { log } from '../core/log.js';
import { errName } from './uv.js';
import { copyBytes } from './read-buffer.js';
import { nativeRelay, type NativeRelay, type NativeStreamOwner, type NativeTlsInfo } from './native-relay.js';

/** Bytes write() buffers while corked before it answers "wait" (net.Socket's highWaterMark). */
const CORK_HIGH_WATER = 16 * 1024;

export class NativeSocket extends EventEmitter implements NativeStreamOwner {
  /** Where reads go: a Buffer the callee may keep. */
  onData: ((this: NativeSocket, chunk: Buffer) => void) | null = null;
  /**
   * Where reads go instead, when set: bytes [start, end) of the addon's arena, which the
   * next batch of reads overwrites, and the length of the HTTP/1 head they start with
   * (0: none found; see NativeStreamOwner.streamData). The callee copies what it keeps
   * (copyBytes): a head parsed straight from the arena saves a Buffer, a copy and a
   * search per read.
   */
  onBytes: ((this: NativeSocket, arena: Buffer, start: number, end: number, headLength: number) => void) | null = null;
  /** A TLS stream's handshake ended (see NativeStreamOwner.streamSecure). */
  onSecure: ((status: number, alpn: number) => void) | null = null;
  destroyed = false;
  writableEnded = false;
  connecting: boolean;
  /** The peer sent FIN. */
  private readableEnded = false;
  /** A write was kept by the addon: 'drain' follows. */
  private waiting = false;
  private paused = false;
  /** The addon has already closed the stream (connect or I/O error). */
  private gone = false;
  private corks = 0;
  private corked: Buffer[] | null = null;
  private corkedBytes = 0;
  private drainOwed = false;
  private peer: [string, number] | undefined;
  private local: [string, number] | undefined;

  private constructor(
    private readonly relay: NativeRelay,
    readonly id: number,
    connecting: boolean,
  ) {
    super();
    this.connecting = connecting;
    if (id >= 0) relay.ownStream(id, this);
  }

  /** A stream the addon accepted on a stream listener. */
  static accepted(relay: NativeRelay, id: number): NativeSocket {
    return new NativeSocket(relay, id, false);
  }

  /**
   * Connects to address:port (an IP address): 'connect', or 'error' and 'close'. A
   * connect that fails at once fails on the next tick, as net.connect's does.
   */
  static connect(relay: NativeRelay, address: string, port: number): NativeSocket {
    const id = relay.streamConnect(address, port);
    if (id >= 0) {
      const s = new NativeSocket(relay, id, true);
      s.peer = [address, port];
      return s;
    }
    const s = new NativeSocket(relay, -1, true);
    s.gone = true;
    s.destroy(errnoError(id, 'connect'));
    return s;
  }

  get remoteAddress(): string | undefined {
    return this.peerAddress()?.[0];
  }

  get remotePort(): number | undefined {
    return this.peerAddress()?.[1];
  }

  get localAddress(): string | undefined {
    return this.localAddressPair()?.[0];
  }

  get localPort(): number | undefined {
    return this.localAddressPair()?.[1];
  }

  /**
   * Writes `data` (a string as latin1 when `encoding` says so, else as UTF-8). False when
   * the caller should wait for 'drain'. A failed write destroys the socket with the error.
   */
  write(data: Buffer | Uint8Array | string, encoding?: BufferEncoding): boolean {
    if (this.destroyed || this.writableEnded) return false;
    const bytes = typeof data === 'string' && encoding !== 'latin1' && encoding !== 'binary' ? Buffer.from(data, encoding ?? 'utf8') : data;
    if (this.corks > 0) {
      const b = typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      (this.corked ??= []).push(b);
      this.corkedBytes += b.length;
      if (this.corkedBytes < CORK_HIGH_WATER) return true;
      this.drainOwed = true; // a 'drain' must follow this false, whatever uncork's write does
      return false;
    }
    return this.written(this.relay.streamWrite(this.id, bytes));
  }

  private written(r: number): boolean {
    if (r === 1) return true;
    if (r === 0) {
      this.waiting = true;
      return false;
    }
    this.destroy(errnoError(r, 'write'));
    return false;
  }

  /** write(head, 'latin1') then write(body[start, end)), in one system call when nothing is queued. */
  writeHead(head: string, body: Uint8Array, start: number, end: number): boolean {
    if (this.destroyed || this.writableEnded) return false;
    if (this.corks > 0) {
      this.write(head, 'latin1');
      return this.write(Buffer.from(body.subarray(start, end))); // a copy: corked writes are kept, body may be the arena
    }
    return this.written(this.relay.streamWriteHead(this.id, head, body, start, end));
  }

  /** Sends FIN after what is written (and `data`, if given). */
  end(data?: Buffer | string, encoding?: BufferEncoding): this {
    if (this.destroyed || this.writableEnded) return this;
    if (this.corks > 0) {
      this.corks = 1;
      this.uncork();
    }
    if (data !== undefined) this.write(data, encoding);
    if (this.destroyed) return this;
    this.writableEnded = true;
    this.relay.streamEnd(this.id);
    this.closeWhenDone();
    return this;
  }

  /** Closes at once, dropping unwritten bytes; 'error' (with `err`) and 'close' follow. */
  destroy(err?: Error): this {
    if (this.destroyed) return this;
    this.destroyed = true;
    this.corked = null;
    if (this.gone) {
      if (this.id >= 0) this.relay.forgetStream(this.id);
    } else {
      this.relay.streamClose(this.id);
    }
    this.gone = true;
    process.nextTick(emitClose, this, err);
    return this;
  }

  pause(): this {
    if (!this.paused) {
      this.paused = true;
      if (!this.gone) this.relay.streamPause(this.id, true);
    }
    return this;
  }

  resume(): this {
    if (this.paused) {
      this.paused = false;
      if (!this.gone) this.relay.streamPause(this.id, false);
    }
    return this;
  }

  isPaused(): boolean {
    return this.paused;
  }

  /** Holds writes until uncork(), then writes them as one. */
  cork(): void {
    this.corks++;
  }

  uncork(): void {
    if (this.corks === 0 || --this.corks > 0) return;
    const chunks = this.corked;
    this.corked = null;
    this.corkedBytes = 0;
    const owed = this.drainOwed;
    this.drainOwed = false;
    const done = chunks === null || chunks.length === 0 || this.write(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
    if (owed && done && !this.destroyed) process.nextTick(emitDrain, this);
  }

  // ---- NativeStreamOwner ------------------------------------------------------------

  /** @internal */
  streamData(offset: number, length: number, headLength: number): void {
    if (this.destroyed) return;
    if (this.onBytes !== null) this.onBytes(this.relay.arena, offset, offset + length, headLength);
    else this.onData?.(copyBytes(this.relay.arena, offset, offset + length));
  }

  /** @internal */
  streamEnd(): void {
    if (this.destroyed) return;
    this.readableEnded = true;
    this.emit('end');
    this.closeWhenDone();
  }

  /** @internal */
  streamDrained(): void {
    if (this.destroyed) return;
    this.waiting = false;
    this.emit('drain');
    this.closeWhenDone();
  }

  /** @internal */
  streamConnected(status: number): void {
    if (status < 0) {
      this.gone = true;
      this.destroy(errnoError(status, 'connect'));
      return;
    }
    this.connecting = false;
    this.emit('connect');
  }

  /** @internal */
  streamFailed(code: number): void {
    this.gone = true;
    this.destroy(errnoError(code, 'read'));
  }

  /** @internal */
  streamSecure(status: number, alpn: number): void {
    if (!this.destroyed) this.onSecure?.(status, alpn);
  }

  /** Takes the PROXY header (`consumed` bytes) off a stream whose TLS waits for it, and starts the handshake. */
  startTls(consumed: number): boolean {
    return !this.gone && this.relay.streamStartTls(this.id, consumed) === 0;
  }

  /** Server name, ALPN protocol, version, cipher and handshake failure of a TLS stream. */
  tlsInfo(): NativeTlsInfo | undefined {
    return this.gone ? undefined : this.relay.streamTls(this.id);
  }

  /** @internal */
  internalError(err: unknown): void {
    log().error({ err }, 'internal error in a socket callback (connection closed)');
    this.destroy();
  }

  /** Both ways ended and everything is written: the socket closes, as net.Socket does. */
  private closeWhenDone(): void {
    if (this.readableEnded && this.writableEnded && !this.waiting && !this.destroyed) this.destroy();
  }

  private peerAddress(): [string, number] | undefined {
    if (this.peer === undefined && !this.gone) this.peer = this.relay.streamPeer(this.id);
    return this.peer;
  }

  private localAddressPair(): [string, number] | undefined {
    if (this.local === undefined && !this.gone) this.local = this.relay.streamLocal(this.id);
    return this.local;
  }
}

/**
 * The addon for the HTTP engine's sockets, or null when they stay Node's: no addon (see
 * nativeRelayMissing), or FULCRUM_HTTP_IO=node. Read when a listener is made.
 */
export function nativeSockets(): NativeRelay | null {
  if (process.env.FULCRUM_HTTP_IO === 'node') return null;
  return nativeRelay();
}

function emitDrain(s: NativeSocket): void {
  if (!s.destroyed) s.emit('drain');
}

function emitClose(s: NativeSocket, err: Error | undefined): void {
  if (err !== undefined && s.listenerCount('error') > 0) s.emit('error', err);
  s.emit('close', err !== undefined);
}

/** An error like Node's for a failed socket call (`status`: -errno or a libuv code). */
export function errnoError(status: number, syscall: string): NodeJS.ErrnoException {
  const code = errName(status);
  return Object.assign(new Error(`${syscall} ${code}`), { errno: status, code, syscall });
}
