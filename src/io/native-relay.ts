/**
 * The native TCP relay (native/relay.c, bound in addon.ts): accepts,
 * connects and relays bytes in C for tcp listeners, and reports to JavaScript in
 * batches: a connection was accepted, its connect succeeded or failed, it closed, a
 * waiting client has bytes (when JavaScript reads a prelude: a PROXY header, a TLS
 * ClientHello). Every decision stays in JavaScript (connection-native.ts). Measured on
 * this project's 2-core machines, short connections cost about a third less CPU than
 * over Node's TCP handles (bench/tcp.ts).
 *
 * The same addon has byte streams for the HTTP engine (native/stream.c): sockets that
 * JavaScript reads (their reads arrive with the batch, in `arena`) and writes, wrapped
 * as net.Socket look-alikes by native-socket.ts.
 *
 * Without the addon (not built, not Linux) or with FULCRUM_TCP_RELAY=js, tcp listeners
 * use the JavaScript relay over Node's handles (proxy/tcp/relay.ts) instead; the behaviour is
 * the same.
 */
import { beginBatch, endBatch } from '../core/clock.js';
import type net from 'node:net';
import {
  addonFailed,
  nativeAddon,
  nativeAddonMissing,
  ARENA_BYTES,
  EV_ACCEPT,
  EV_ACCEPT_ERROR,
  EV_CLOSED,
  EV_CONNECT,
  EV_READABLE,
  EV_S_ACCEPT,
  EV_S_CONNECT,
  EV_S_DATA,
  EV_S_DRAIN,
  EV_S_EOF,
  EV_S_ERROR,
  EV_S_SECURE,
  MIN_EVENT_RECORDS,
  RECORD,
  STATS_FIELDS,
  type Addon,
  type NativeTlsContextOptions,
  type NativeTlsInfo,
} from './addon.js';
import { Owners } from './owners.js';

export type { NativeTlsContextOptions, NativeTlsInfo } from './addon.js';

/** Bytes one read() of a waiting client returns at most. */
const READ_BYTES = 64 * 1024;
/** Event records the addon can write before JavaScript reads them (see relay.c on_poll). */
const EVENT_RECORDS = 2 * MIN_EVENT_RECORDS;

/** How a pair ended by itself (EV_CLOSED). */
export const enum NativeEnd {
  /** addon.ts END_DONE, END_CLIENT_RESET, END_SERVER_RESET (checked against the C code at load) */
  Done = 0,
  ClientReset = 1,
  ServerReset = 2,
}

/** A native listener's owner (a TcpFrontend, or an HttpFrontend for streams). */
export interface NativeAcceptor {
  /** A new pair, or a new stream on a listener made with listen(fd, acceptor, true). */
  nativeAccepted(id: number): void;
  /** accept() failed with `code` (-errno); the listener rests 100 ms. */
  acceptFailed(code: number): void;
  /** An exception escaped nativeAccepted (the pair is closed). */
  internalError(err: unknown): void;
}

/** A native pair's owner (a NativeConnection). */
export interface NativePairOwner {
  /** The connect finished: 0, or -errno. */
  connectResult(status: number): void;
  /** The waiting client has bytes (after want(id, true)). */
  readable(): void;
  /** The pair closed by itself; both sockets are gone. */
  ended(reason: NativeEnd, code: number, bytesIn: number, bytesOut: number): void;
  /** An exception escaped a callback. */
  internalError(err: unknown): void;
}

/** A native stream's owner (a NativeSocket). */
export interface NativeStreamOwner {
  /**
   * `length` bytes arrived, at `offset` in the relay's arena (valid during this call).
   * `headLength`: the read starts with an HTTP/1 head this long (to its first CRLF CRLF),
   * or 0; reads over 4 KiB are not searched. A hint for the HTTP engine, unchecked.
   */
  streamData(offset: number, length: number, headLength: number): void;
  /** The peer sent FIN. */
  streamEnd(): void;
  /** Every byte kept after a short write is written now. */
  streamDrained(): void;
  /** The connect finished: 0, or -errno (the stream is gone then). */
  streamConnected(status: number): void;
  /** A read or write failed with -errno; the stream is gone. */
  streamFailed(code: number): void;
  /**
   * A TLS stream's handshake finished: status 0 and the protocol ALPN chose (0 none, 1
   * http/1.1, 2 h2), or status -EPROTO: it failed (see streamTls; the stream stays until closed).
   */
  streamSecure(status: number, alpn: number): void;
  /** An exception escaped one of the calls above. */
  internalError(err: unknown): void;
}

/** Byte counters and idle time of one pair, as the addon last reported them. */
export interface PairStats {
  bytesIn: number;
  bytesOut: number;
  idleMs: number;
}

/** The addon, started once per process; routes its events to listeners and pairs. */
export class NativeRelay {
  private readonly events: Float64Array;
  /** Where read() puts a waiting client's bytes (valid until the next read). */
  readonly reads = Buffer.allocUnsafe(READ_BYTES);
  private readonly statsOut = new Float64Array(STATS_FIELDS);
  private readonly acceptors = new Map<number, NativeAcceptor>();
  private readonly pairs = new Owners<NativePairOwner>();
  private readonly streams = new Owners<NativeStreamOwner>();
  /** Where stream reads land, read during the event call only (see stream.c). */
  readonly arena = Buffer.allocUnsafe(ARENA_BYTES);

  constructor(private readonly addon: Addon) {
    this.events = new Float64Array(EVENT_RECORDS * RECORD);
    const err = addon.init((n) => this.onEvents(n), this.events, this.statsOut, this.reads);
    if (err < 0) throw new Error(`native relay: init failed (${-err})`);
    addon.streamArena(this.arena);
  }

  /** Accepts on a duplicate of listening socket `fd` from now on; the listener's index, or -errno. */
  listen(fd: number, acceptor: NativeAcceptor, streams = false): number {
    const index = this.addon.listen(fd, streams);
    if (index >= 0) this.acceptors.set(index, acceptor);
    return index;
  }

  /**
   * Moves accepting on `server` (listening) here: the addon takes a duplicate of its
   * listening socket, and Node's handle for it is closed through the handle's own close,
   * not node:cluster's wrapper, so the primary keeps the socket for the next generation.
   * The listener's index, or -1 when the server stays with Node (no such handle).
   */
  takeOver(server: net.Server, acceptor: NativeAcceptor, streams: boolean): number {
    const handle = (server as unknown as { _handle?: { fd?: number } | null })._handle;
    if (handle == null || typeof handle.fd !== 'number' || handle.fd < 0) return -1;
    const close = (Object.getPrototypeOf(handle) as { close?: unknown }).close;
    if (typeof close !== 'function') return -1;
    const index = this.listen(handle.fd, acceptor, streams);
    if (index >= 0) close.call(handle);
    return index < 0 ? -1 : index;
  }

  unlisten(index: number): void {
    this.acceptors.delete(index);
    this.addon.unlisten(index);
  }

  /** Routes the pair's events to `owner` until it ends. */
  own(id: number, owner: NativePairOwner): void {
    this.pairs.set(id, owner);
  }

  /**
   * Starts connecting pair `id` to address:port (an IP); `first` goes to the server
   * first, and `counted` of its bytes came from the client. 0 or -errno.
   */
  connect(id: number, address: string, port: number, first: Uint8Array | null, counted: number): number {
    return this.addon.connect(id, address, port, first, counted);
  }

  /** Whether the owner hears readable() when the waiting client has bytes. */
  want(id: number, on: boolean): void {
    this.addon.want(id, on);
  }

  /** Reads the waiting client into `reads`: bytes read, 0 at EOF, -EAGAIN (nothing now) or -errno. */
  read(id: number): number {
    return this.addon.read(id);
  }

  /** Abandons a connect in progress. */
  drop(id: number): void {
    this.addon.drop(id);
  }

  /** Closes both sockets (FIN) and forgets the pair; its last counters, or null when it was gone. */
  close(id: number): PairStats | null {
    this.pairs.delete(id);
    if (this.addon.close(id) < 0) return null;
    return this.readStats();
  }

  /** The pair's counters now, or null when it is gone. */
  stats(id: number): PairStats | null {
    if (this.addon.stats(id) < 0) return null;
    return this.readStats();
  }

  peer(id: number): [string, number] | undefined {
    return this.addon.peer(id);
  }

  local(id: number): [string, number] | undefined {
    return this.addon.local(id);
  }

  /** Relay buffers holding bytes now (a direction whose last write was short). */
  buffersInUse(): number {
    return this.addon.buffers();
  }

  /** Routes stream `id`'s events to `owner` until it is closed or fails. */
  ownStream(id: number, owner: NativeStreamOwner): void {
    this.streams.set(id, owner);
  }

  /** A new stream connecting to address:port (an IP): its id, or -errno. */
  streamConnect(address: string, port: number): number {
    return this.addon.streamConnect(address, port);
  }

  /** 1: all written; 0: some kept (streamDrained follows); -errno: failed (close the stream). */
  streamWrite(id: number, data: Uint8Array | string): number {
    return this.addon.streamWrite(id, data);
  }

  /** streamWrite of `head` (latin1) then body[start, end), in one sendmsg. */
  streamWriteHead(id: number, head: string, body: Uint8Array, start: number, end: number): number {
    return this.addon.streamWrite(id, head, body, start, end);
  }

  /** FIN after the kept bytes. */
  streamEnd(id: number): void {
    this.addon.streamEnd(id);
  }

  streamPause(id: number, paused: boolean): void {
    this.addon.streamPause(id, paused);
  }

  /** Closes the stream now (kept bytes are dropped) and forgets its owner. */
  streamClose(id: number): void {
    this.forgetStream(id);
    this.addon.streamClose(id);
  }

  /** Forgets the owner of a stream that is gone. */
  forgetStream(id: number): void {
    this.streams.delete(id);
  }

  streamPeer(id: number): [string, number] | undefined {
    return this.addon.streamPeer(id);
  }

  streamLocal(id: number): [string, number] | undefined {
    return this.addon.streamLocal(id);
  }

  /** Streams open now. */
  streamCount(): number {
    return this.addon.streamCount();
  }

  /** A TLS stream's server name, ALPN protocol, version, cipher and handshake failure; undefined for a plain one. */
  streamTls(id: number): NativeTlsInfo | undefined {
    return this.addon.streamTls(id);
  }

  /** A TLS context's id; throws with OpenSSL's reason. Free it with tlsContextFree. */
  tlsContext(options: NativeTlsContextOptions): number {
    return this.addon.tlsContext(options);
  }

  tlsContextFree(id: number): void {
    this.addon.tlsContextFree(id);
  }

  /**
   * Streams accepted on `listener` from now on terminate TLS: handshakes start on
   * context `initial`; a ClientHello's server name picks contexts[i] for names[i] (exact,
   * or `*.` wildcard), else `fallback` (null: refused with handshake_failure). Called
   * again after a certificate reload. With `prelude`, each handshake waits for
   * streamStartTls: the stream's reads until then show what has arrived so far, left in
   * the socket (a PROXY header to read first). False when the addon refused it.
   */
  tlsServer(listener: number, initial: number, fallback: number | null, names: string[], contexts: number[], prelude: boolean): boolean {
    return this.addon.tlsServer(listener, initial, fallback, names, contexts, prelude) === 0;
  }

  /** Takes the first `consumed` bytes (the PROXY header) off a prelude stream and starts its TLS handshake. 0 or -errno. */
  streamStartTls(id: number, consumed: number): number {
    return this.addon.streamStartTls(id, consumed);
  }

  private readStats(): PairStats {
    const s = this.statsOut;
    return { bytesIn: s[0]!, bytesOut: s[1]!, idleMs: s[2]! };
  }

  private onEvents(n: number): void {
    beginBatch();
    try {
      this.dispatch(n);
    } finally {
      endBatch();
    }
  }

  private dispatch(n: number): void {
    const ev = this.events;
    const rec = RECORD;
    for (let i = 0; i < n; i++) {
      const at = i * rec;
      const type = ev[at]!;
      const id = ev[at + 1]!;
      if (type >= EV_S_CONNECT) {
        this.streamEvent(type, id, ev[at + 2]!, ev[at + 3]!, ev[at + 4]!);
      } else if (type === EV_ACCEPT || type === EV_S_ACCEPT) {
        const acceptor = this.acceptors.get(id);
        const pair = ev[at + 2]!;
        if (acceptor === undefined) {
          if (type === EV_S_ACCEPT) this.addon.streamClose(pair);
          else this.addon.close(pair);
          continue;
        }
        try {
          acceptor.nativeAccepted(pair);
        } catch (err) {
          // a bug on our side: this connection goes, the listener and the others stay
          if (type === EV_S_ACCEPT) this.streamClose(pair);
          else this.close(pair);
          acceptor.internalError(err);
        }
      } else if (type === EV_ACCEPT_ERROR) {
        try {
          this.acceptors.get(id)?.acceptFailed(ev[at + 2]!);
        } catch {
          // logging failed: nothing else to do
        }
      } else {
        const owner = this.pairs.get(id);
        if (owner === undefined) continue;
        try {
          if (type === EV_READABLE) {
            owner.readable();
          } else if (type === EV_CONNECT) {
            owner.connectResult(ev[at + 2]!);
          } else if (type === EV_CLOSED) {
            this.pairs.delete(id);
            owner.ended(ev[at + 2]! as NativeEnd, ev[at + 3]!, ev[at + 4]!, ev[at + 5]!);
          }
        } catch (err) {
          owner.internalError(err);
        }
      }
    }
  }

  private streamEvent(type: number, id: number, a: number, b: number, c: number): void {
    const owner = this.streams.get(id);
    if (owner === undefined) return;
    // the stream is gone after a failed connect or an I/O error
    if (type === EV_S_ERROR || (type === EV_S_CONNECT && a < 0)) this.streams.delete(id);
    try {
      if (type === EV_S_DATA) owner.streamData(a, b, c);
      else if (type === EV_S_EOF) owner.streamEnd();
      else if (type === EV_S_DRAIN) owner.streamDrained();
      else if (type === EV_S_CONNECT) owner.streamConnected(a);
      else if (type === EV_S_ERROR) owner.streamFailed(a);
      else if (type === EV_S_SECURE) owner.streamSecure(a, b);
    } catch (err) {
      owner.internalError(err);
    }
  }
}

let relay: NativeRelay | null | undefined;

/**
 * The native relay, or null when it cannot be used here (see {@link nativeRelayMissing}).
 * Started once per process.
 */
export function nativeRelay(): NativeRelay | null {
  if (relay !== undefined) return relay;
  relay = null;
  const a = nativeAddon();
  if (a !== null) {
    try {
      relay = new NativeRelay(a);
    } catch (err) {
      addonFailed(`cannot start the native relay: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  return relay;
}

/** Why nativeRelay() is null ('' when it is not). */
export function nativeRelayMissing(): string {
  nativeRelay();
  return nativeAddonMissing();
}
