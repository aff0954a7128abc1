/**
 * A lean HTTP/2 client connection (RFC 9113) for the upstream side: one socket (TCP, or
 * TLS with ALPN h2), frames parsed in place from the shared read buffer, HPACK by
 * wire/hpack.ts, flow control both ways, and no object or closure per frame. It replaces
 * node:http2's client, whose request() alone cost about 50 µs per request.
 *
 * What it guarantees: a protocol error from the server is a connection error (GOAWAY
 * with its code, socket closed, every open stream closed with the error), a malformed
 * response a stream error (RST_STREAM); nothing the server sends throws out of here.
 * Flow control: each stream's receive window is returned only as its handler takes the
 * data (a paused stream keeps at most its window, STREAM_WINDOW in the pool); the
 * connection's window is returned as data arrives, so a paused stream stalls no other.
 */
import net from 'node:net';
import tls from 'node:tls';
import { READ_BUFFER, copyBytes } from '../../io/read-buffer.js';
import { writeSocket } from '../../io/socket-write.js';
import { HpackDecoder, HpackEncoder, HpackError, Index } from './wire/hpack.js';
import {
  ConnectionError,
  DEFAULT_WINDOW,
  ErrorCode,
  FRAME_HEADER,
  Flag,
  FrameWriter,
  MAX_WINDOW,
  MIN_MAX_FRAME,
  PREFACE,
  Setting,
  Type,
  errorName,
  writeFrameHeader,
} from './wire/frames.js';
import { FrameReader, unpadded, type FrameSink } from './wire/frame-reader.js';
import { contentLengthOf, fieldProblem } from './wire/field-rules.js';
import { growConnectionWindow, moveWindows, readPing, readSettings, windowIncrement } from './wire/peer-frames.js';
import { IdTable } from '../../core/id-table.js';

/** Where a connection goes and how. */
export interface ClientOptions {
  host: string;
  port: number;
  /** TLS (ALPN h2), or null for prior knowledge over TCP (h2c). */
  tls: { context: tls.SecureContext; servername: string | undefined; verify: boolean } | null;
  /** Our SETTINGS_INITIAL_WINDOW_SIZE: what each stream may have unread. */
  streamWindow: number;
  /** The connection's receive window. */
  connectionWindow: number;
  /** The most bytes of fields a response's header block may decode to. */
  maxHeaderBytes: number;
}

/** What the connection tells its owner. */
export interface SessionOwner {
  /** Connected (TLS done and h2 agreed); the preface is on its way and streams may open. */
  onSessionConnect(): void;
  /** The server's SETTINGS_MAX_CONCURRENT_STREAMS (undefined: none given). */
  onSessionSettings(maxConcurrent: number | undefined): void;
  /** A GOAWAY came: streams above `last` were refused. */
  onSessionGoaway(last: number, code: number): void;
  /** The answer to our PING came. */
  onSessionPingAck(): void;
  /** The socket closed (err: why, undefined when we closed it gracefully). */
  onSessionClose(err: Error | undefined): void;
}

/** What a stream tells its handler (the exchange's side of one request). */
export interface StreamHandler {
  /** A response head: 1xx (interim) or the final one, its fields in order (the lists are the handler's); `contentLength`: -1 when none. */
  onStreamHead(status: number, names: string[], values: string[], contentLength: number, endStream: boolean): void;
  /** Body bytes (the handler owns the buffer). */
  onStreamData(chunk: Buffer): void;
  /** Trailers ("name: value" CRLF lines); the stream's end follows. */
  onStreamTrailers(lines: string): void;
  /** The server ended its side (END_STREAM). */
  onStreamEnd(): void;
  /** The stream may take more body bytes. */
  onStreamDrain(): void;
  /** The stream closed: `code` the RST_STREAM code (ours or the server's), -1 none; `err` why it failed, if it did. */
  onStreamClose(code: number, err: Error | undefined): void;
}

const enum Phase {
  /** Waiting for the response head (interim heads may come first). */
  HEAD,
  /** The final head came: DATA, then trailers or END_STREAM. */
  BODY,
  /** Trailers came: nothing more. */
  DONE,
}

/** One request's stream on a ClientSession. */
export class ClientStream {
  /** What the server may still send before it must wait for a WINDOW_UPDATE. */
  recvWindow: number;
  /** Bytes taken by the handler and not yet returned to the server. */
  recvUnacked = 0;
  sendWindow: number;
  /** Body bytes waiting for window. */
  pending: Buffer[] = [];
  pendingBytes = 0;
  /** end() came while bytes were pending: END_STREAM (or trailers) goes after them. */
  endPending = false;
  trailerNames: readonly string[] | null = null;
  trailerValues: readonly string[] | null = null;
  /** We sent END_STREAM. */
  localEnded = false;
  /** The server sent END_STREAM. */
  remoteEnded = false;
  closed = false;
  paused = false;
  /** Data that came while paused, delivered on resume; and the trailers behind it. */
  held: Buffer[] | null = null;
  heldTrailers: string | null = null;
  /** The handler heard onStreamEnd. */
  endDelivered = false;
  wantDrain = false;
  phase = Phase.HEAD;
  /** The response's content-length, -1 none; and the body bytes so far. */
  contentLength = -1;
  received = 0;
  /** The RST_STREAM code the stream closed with (-1: none). */
  rstCode = -1;

  constructor(
    readonly session: ClientSession,
    readonly id: number,
    public handler: StreamHandler,
  ) {
    this.recvWindow = session.streamWindow;
    this.sendWindow = session.peerWindow;
  }

  /** Sends body bytes; false when they could not all go (window or socket full): wait for onStreamDrain. */
  write(chunk: Buffer): boolean {
    return this.session.write(this, chunk);
  }

  /** Ends our side: END_STREAM, with trailers (names lowercase) when given. */
  end(trailerNames: readonly string[] | null = null, trailerValues: readonly string[] | null = null): void {
    this.session.end(this, trailerNames, trailerValues);
  }

  /** Cancels the stream (RST_STREAM with `code`); the handler hears onStreamClose later (a microtask). */
  reset(code: number = ErrorCode.CANCEL): void {
    this.session.reset(this, code, undefined, true);
  }

  /** Stops handing data over; the stream's window closes as data waits. */
  pause(): void {
    this.paused = true;
  }

  /** Hands over what waited, and returns its window. */
  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.session.resumed(this);
  }
}

/** The fields of the header block being decoded (one at a time per connection). */
interface Block {
  stream: ClientStream | null;
  endStream: boolean;
  trailers: boolean;
  status: number;
  /** A head's fields. */
  names: string[];
  values: string[];
  /** Trailers, as "name: value" CRLF lines. */
  lines: string;
  contentLength: number;
  regular: boolean;
  error: string | null;
}

/** The field lists of a block not being decoded for a head (never written to). */
const NONE: string[] = [];

/** Fields never put in the dynamic table, and those that change with each request (no use indexing them). */
const NEVER_INDEX = new Set(['authorization', 'proxy-authorization', 'cookie', 'set-cookie']);
const NO_INDEX = new Set([':path', 'content-length', 'x-request-id', 'traceparent', 'grpc-timeout', 'if-none-match', 'if-modified-since', 'range']);

/** One HTTP/2 connection to a server. */
export class ClientSession implements FrameSink {
  readonly sock: net.Socket;
  readonly streamWindow: number;
  /** The server's SETTINGS_INITIAL_WINDOW_SIZE: each new stream's send window. */
  peerWindow = DEFAULT_WINDOW;
  private peerMaxFrame = MIN_MAX_FRAME;
  private sendWindow = DEFAULT_WINDOW;
  private recvWindow = DEFAULT_WINDOW;
  private recvUnacked = 0;
  private readonly connectionWindow: number;
  /** Open streams by id (not a Map: see core/id-table.ts). */
  private readonly streams = new IdTable<ClientStream>();
  /** Streams waiting for connection window. */
  private blocked: ClientStream[] = [];
  private nextId = 1;
  private readonly decoder = new HpackDecoder();
  private readonly encoder = new HpackEncoder();
  private readonly out = new FrameWriter();
  private flushQueued = false;
  /** The socket said it is full: stream writes return false until it drains. */
  private sockFull = false;
  private readonly reader = new FrameReader(this);
  /** A header block continued by CONTINUATION frames: its stream and bytes so far. */
  private contStream = 0;
  private contFlags = 0;
  private contBytes: Buffer | null = null;
  gotSettings = false;
  connected = false;
  /** No new streams: a GOAWAY came or went, or the connection closed. */
  goingAway = false;
  /** The last stream a GOAWAY from the server says it processed, or -1. */
  goawayLast = -1;
  destroyed = false;
  private error: Error | undefined;
  private readonly block: Block = { stream: null, endStream: false, trailers: false, status: 0, names: NONE, values: NONE, lines: '', contentLength: -1, regular: false, error: null };
  private readonly maxHeaderBytes: number;

  constructor(
    private readonly owner: SessionOwner,
    opts: ClientOptions,
  ) {
    this.streamWindow = opts.streamWindow;
    this.connectionWindow = opts.connectionWindow;
    this.maxHeaderBytes = opts.maxHeaderBytes;
    const onread = { buffer: READ_BUFFER, callback: (n: number) => this.onRead(n) };
    const t = opts.tls;
    this.sock =
      t === null
        ? net.connect({ host: opts.host, port: opts.port, noDelay: true, onread })
        : tls.connect({
            host: opts.host,
            port: opts.port,
            noDelay: true,
            onread,
            secureContext: t.context,
            servername: t.servername,
            rejectUnauthorized: t.verify,
            ALPNProtocols: ['h2'],
          } as tls.ConnectionOptions);
    this.sock.on(t === null ? 'connect' : 'secureConnect', () => this.onConnect());
    this.sock.on('error', (err: Error) => {
      this.error ??= err;
    });
    this.sock.on('drain', () => this.onSocketDrain());
    this.sock.on('close', () => this.onSocketClose());
  }

  /** Streams open now. */
  get streamCount(): number {
    return this.streams.size;
  }

  private onConnect(): void {
    if (this.destroyed) return;
    const sock = this.sock as tls.TLSSocket;
    if (sock.encrypted === true && sock.alpnProtocol !== 'h2') {
      this.destroy(new Error(`the server did not agree to HTTP/2 by ALPN (got ${sock.alpnProtocol || 'none'})`));
      return;
    }
    this.connected = true;
    // preface, SETTINGS (no push, our stream window), and the connection's window
    const settings = [
      [Setting.ENABLE_PUSH, 0],
      [Setting.INITIAL_WINDOW_SIZE, this.streamWindow],
    ];
    const out = this.out.reserve(PREFACE.length + FRAME_HEADER + 6 * settings.length);
    let at = this.out.offset;
    PREFACE.copy(out, at);
    at += PREFACE.length;
    writeFrameHeader(out, at, 6 * settings.length, Type.SETTINGS, 0, 0);
    at += FRAME_HEADER;
    for (const [id, value] of settings) {
      out.writeUInt16BE(id!, at);
      out.writeUInt32BE(value!, at + 2);
      at += 6;
    }
    this.out.commit(at - this.out.offset);
    const more = this.connectionWindow - DEFAULT_WINDOW;
    if (more > 0) {
      this.out.frame32(Type.WINDOW_UPDATE, 0, more);
      this.recvWindow += more;
    }
    this.queueFlush();
    this.owner.onSessionConnect();
  }

  // ---- sending -----------------------------------------------------------------------

  /**
   * Opens a stream: HEADERS (and CONTINUATION) with the fields `names`/`values` (names
   * lowercase, pseudo-fields first), END_STREAM when `endStream`. Throws when the
   * connection takes no new streams (the caller treats the request as never sent).
   */
  request(names: readonly string[], values: readonly string[], endStream: boolean, handler: StreamHandler): ClientStream {
    if (this.goingAway || this.destroyed || !this.connected) throw new Error('the connection takes no new streams');
    const id = this.nextId;
    this.nextId += 2;
    if (this.nextId > MAX_WINDOW) this.goingAway = true; // stream ids run out: this one is the last
    const stream = new ClientStream(this, id, handler);
    this.streams.set(id, stream);
    this.headers(id, names, values, endStream);
    if (endStream) stream.localEnded = true;
    return stream;
  }

  /** A header block on `id`, split into HEADERS and CONTINUATION frames at the server's frame size. */
  private headers(id: number, names: readonly string[], values: readonly string[], endStream: boolean): void {
    let bound = 8;
    for (let k = 0; k < names.length; k++) bound += HpackEncoder.bound(names[k]!, values[k]!);
    const w = this.out;
    const out = w.reserve(FRAME_HEADER + bound);
    const start = w.offset;
    let at = this.encoder.begin(out, start + FRAME_HEADER);
    for (let k = 0; k < names.length; k++) {
      const name = names[k]!;
      const index = NEVER_INDEX.has(name) ? Index.NEVER : NO_INDEX.has(name) || values[k]!.length > 256 ? Index.NO : Index.YES;
      at = this.encoder.field(out, at, name, values[k]!, index);
    }
    w.headerBlock(start, at, id, endStream, this.peerMaxFrame);
    this.queueFlush();
  }

  /** @internal ClientStream.write */
  write(s: ClientStream, chunk: Buffer): boolean {
    if (s.closed || s.localEnded || s.endPending) return false;
    if (s.pendingBytes > 0) {
      s.pending.push(chunk);
      s.pendingBytes += chunk.length;
    } else {
      this.send(s, chunk, 0);
    }
    const ok = s.pendingBytes === 0 && !this.sockFull;
    if (!ok) s.wantDrain = true;
    return ok;
  }

  /** Sends what the windows allow of `chunk` from `off` as DATA frames; queues the rest. */
  private send(s: ClientStream, chunk: Buffer, off: number): void {
    while (off < chunk.length) {
      const n = Math.min(chunk.length - off, s.sendWindow, this.sendWindow, this.peerMaxFrame);
      if (n <= 0) break;
      this.out.frame(Type.DATA, 0, s.id, chunk, off, off + n);
      s.sendWindow -= n;
      this.sendWindow -= n;
      off += n;
    }
    if (off < chunk.length) {
      const rest = off === 0 ? chunk : chunk.subarray(off);
      s.pending.push(rest);
      s.pendingBytes += rest.length;
      if (this.sendWindow <= 0 && !this.blocked.includes(s)) this.blocked.push(s);
    }
    this.queueFlush();
  }

  /** Sends a stream's pending bytes as far as the windows go, then its end if it waited for them. */
  private flushStream(s: ClientStream): void {
    if (s.closed) return;
    const pending = s.pending;
    s.pending = [];
    s.pendingBytes = 0;
    for (let k = 0; k < pending.length; k++) {
      if (s.pendingBytes > 0) {
        s.pending.push(pending[k]!);
        s.pendingBytes += pending[k]!.length;
      } else {
        this.send(s, pending[k]!, 0);
      }
    }
    if (s.pendingBytes > 0) return;
    if (s.endPending) {
      s.endPending = false;
      this.sendEnd(s, s.trailerNames, s.trailerValues);
    }
    if (s.wantDrain && !this.sockFull) {
      s.wantDrain = false;
      s.handler.onStreamDrain();
    }
  }

  /** @internal ClientStream.end */
  end(s: ClientStream, names: readonly string[] | null, values: readonly string[] | null): void {
    if (s.closed || s.localEnded || s.endPending) return;
    if (s.pendingBytes > 0) {
      s.endPending = true;
      s.trailerNames = names;
      s.trailerValues = values;
      return;
    }
    this.sendEnd(s, names, values);
  }

  private sendEnd(s: ClientStream, names: readonly string[] | null, values: readonly string[] | null): void {
    s.localEnded = true;
    if (names !== null && names.length > 0) this.headers(s.id, names, values!, true);
    else {
      this.out.frame(Type.DATA, Flag.END_STREAM, s.id, null);
      this.queueFlush();
    }
    if (s.remoteEnded) this.closeStream(s, -1, undefined);
  }

  /** @internal ClientStream.reset; also stream errors. `later`: the handler hears of it in a microtask (it is the caller). */
  reset(s: ClientStream, code: number, err: Error | undefined, later: boolean): void {
    if (s.closed) return;
    if (!this.destroyed) {
      this.out.frame32(Type.RST_STREAM, s.id, code);
      this.queueFlush();
    }
    if (later) {
      this.detach(s, code);
      queueMicrotask(() => s.handler.onStreamClose(code, err));
    } else {
      this.closeStream(s, code, err);
    }
  }

  /** @internal ClientStream.resume: hands over what waited, then returns the window. */
  resumed(s: ClientStream): void {
    const held = s.held;
    if (held !== null) {
      s.held = null;
      for (let k = 0; k < held.length; k++) {
        if (s.closed) return;
        if (s.paused) {
          // paused again by the handler: the rest waits
          (s.held ??= []).push(...held.slice(k));
          return;
        }
        this.deliver(s, held[k]!);
      }
    }
    if (s.remoteEnded && !s.closed && s.held === null) {
      const trailers = s.heldTrailers;
      if (trailers !== null) {
        s.heldTrailers = null;
        s.handler.onStreamTrailers(trailers);
      }
      if (!s.closed) this.remoteEnd(s);
      return;
    }
    this.ackStream(s);
  }

  /** Sends PING (keep-alive); the owner hears onSessionPingAck. */
  ping(): void {
    if (this.destroyed) return;
    const out = this.out.reserve(FRAME_HEADER + 8);
    const at = this.out.offset;
    writeFrameHeader(out, at, 8, Type.PING, 0, 0);
    out.fill(0, at + FRAME_HEADER, at + FRAME_HEADER + 8);
    this.out.commit(FRAME_HEADER + 8);
    this.queueFlush();
  }

  /** No new streams; the socket closes once the open ones end (GOAWAY NO_ERROR tells the server). */
  close(): void {
    if (this.destroyed) return;
    if (!this.goingAway && this.connected) this.goaway(ErrorCode.NO_ERROR);
    this.goingAway = true;
    if (this.streams.size === 0) this.finish();
  }

  /** Closes at once: open streams close with `err`. */
  destroy(err?: Error): void {
    if (this.destroyed) return;
    this.error ??= err;
    this.goingAway = true;
    this.destroyed = true;
    this.sock.destroy();
  }

  private goaway(code: number): void {
    const last = 0; // we accept no streams from the server
    const out = this.out.reserve(FRAME_HEADER + 8);
    const at = this.out.offset;
    writeFrameHeader(out, at, 8, Type.GOAWAY, 0, 0);
    out.writeUInt32BE(last, at + FRAME_HEADER);
    out.writeUInt32BE(code, at + FRAME_HEADER + 4);
    this.out.commit(FRAME_HEADER + 8);
    this.queueFlush();
  }

  /** Flushes what is queued and ends the socket (graceful close). */
  private finish(): void {
    this.flush();
    this.destroyed = true;
    this.sock.end();
  }

  private queueFlush(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    queueMicrotask(() => this.flush());
  }

  private flush(): void {
    this.flushQueued = false;
    if (this.out.length === 0 || this.sock.destroyed) return;
    const parts = this.out.take();
    let ok: boolean;
    if (parts.length === 1) ok = writeSocket(this.sock, parts[0]!);
    else {
      this.sock.cork();
      for (const p of parts) this.sock.write(p);
      this.sock.uncork();
      ok = !this.sock.writableNeedDrain;
    }
    if (!ok) this.sockFull = true;
  }

  private onSocketDrain(): void {
    this.sockFull = false;
    for (const s of this.streams.values()) {
      if (s.wantDrain && s.pendingBytes === 0 && !s.closed) {
        s.wantDrain = false;
        s.handler.onStreamDrain();
      }
    }
  }

  // ---- receiving ---------------------------------------------------------------------

  private onRead(n: number): boolean {
    if (this.destroyed) return true;
    try {
      this.reader.read(READ_BUFFER, 0, n);
    } catch (err) {
      this.connectionError(err);
    }
    return true;
  }

  /** FrameSink: the connection is gone, read no further. */
  get stopped(): boolean {
    return this.destroyed;
  }

  /** FrameSink: a header block is open. */
  get inHeaderBlock(): boolean {
    return this.contBytes !== null;
  }

  /** FrameSink: PRIORITY is ignored, as are unknown types; a server may not push (we said so). */
  onOtherFrame(type: number, _id: number, _selfDependent: boolean): void {
    if (type === Type.PUSH_PROMISE) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'PUSH_PROMISE with push disabled');
  }

  /** A stream id the server names: open, closed, or never opened (a connection error). */
  private known(id: number, what: string): ClientStream | undefined {
    if (id === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `${what} on stream 0`);
    const s = this.streams.get(id);
    if (s === undefined && (id >= this.nextId || (id & 1) === 0)) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `${what} on stream ${id}, which was never opened`);
    return s;
  }

  onData(flags: number, id: number, buf: Buffer, p: number, end: number): void {
    const s = this.known(id, 'DATA');
    const len = end - p;
    // the connection's window: returned as data arrives, whatever the stream does with it
    this.recvWindow -= len;
    if (this.recvWindow < 0) throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, 'DATA beyond the connection window');
    this.recvUnacked += len;
    if (this.recvUnacked >= this.connectionWindow >> 1) {
      this.out.frame32(Type.WINDOW_UPDATE, 0, this.recvUnacked);
      this.recvWindow += this.recvUnacked;
      this.recvUnacked = 0;
      this.queueFlush();
    }
    if (s === undefined || s.closed) return; // a stream we reset: its data is dropped
    const dataEnd = unpadded(flags, buf, p, end);
    const from = (flags & Flag.PADDED) !== 0 ? p + 1 : p;
    if (s.remoteEnded) return this.reset(s, ErrorCode.STREAM_CLOSED, new ConnectionError(ErrorCode.STREAM_CLOSED, 'DATA after the end of the stream'), false);
    s.recvWindow -= len;
    if (s.recvWindow < 0) return this.reset(s, ErrorCode.FLOW_CONTROL_ERROR, new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, 'DATA beyond the stream window'), false);
    s.recvUnacked += len - (dataEnd - from); // padding counts as taken at once
    if (s.phase !== Phase.BODY) return this.malformed(s, 'DATA before the response head or after the trailers');
    const n = dataEnd - from;
    s.received += n;
    if (s.contentLength >= 0 && s.received > s.contentLength) return this.malformed(s, `more body than its content-length ${s.contentLength}`);
    const endStream = (flags & Flag.END_STREAM) !== 0;
    if (endStream && s.contentLength >= 0 && s.received !== s.contentLength) return this.malformed(s, `a body of ${s.received} bytes, not its content-length ${s.contentLength}`);
    if (n > 0) {
      const chunk = copyBytes(buf, from, dataEnd);
      if (s.paused || s.held !== null) (s.held ??= []).push(chunk);
      else this.deliver(s, chunk);
    }
    if (endStream) {
      s.remoteEnded = true;
      if (!s.closed && s.held === null) this.remoteEnd(s);
    } else if (!s.paused && !s.closed) this.ackStream(s);
  }

  /** Hands a chunk to the handler; its bytes count toward the stream's next WINDOW_UPDATE. */
  private deliver(s: ClientStream, chunk: Buffer): void {
    s.recvUnacked += chunk.length;
    s.handler.onStreamData(chunk);
  }

  /** Returns the stream's window once half of it was taken. */
  private ackStream(s: ClientStream): void {
    if (s.closed || s.remoteEnded || s.recvUnacked < this.streamWindow >> 1) return;
    this.out.frame32(Type.WINDOW_UPDATE, s.id, s.recvUnacked);
    s.recvWindow += s.recvUnacked;
    s.recvUnacked = 0;
    this.queueFlush();
  }

  /** The server's side ended and everything was handed over. */
  private remoteEnd(s: ClientStream): void {
    if (s.endDelivered) return;
    s.endDelivered = true;
    s.handler.onStreamEnd();
    if (s.localEnded && !s.closed) this.closeStream(s, -1, undefined);
  }

  onHeaders(flags: number, id: number, buf: Buffer, p: number, end: number): void {
    const s = this.known(id, 'HEADERS');
    let from = (flags & Flag.PADDED) !== 0 ? p + 1 : p;
    const to = unpadded(flags, buf, p, end);
    if ((flags & Flag.PRIORITY) !== 0) from += 5;
    if (from > to) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'HEADERS too short for its flags');
    if ((flags & Flag.END_HEADERS) === 0) {
      this.contStream = id;
      this.contFlags = flags;
      this.contBytes = Buffer.from(buf.subarray(from, to));
      return;
    }
    this.headerBlock(s, flags, buf, from, to);
  }

  onContinuation(flags: number, id: number, buf: Buffer, p: number, end: number): void {
    const before = this.contBytes;
    if (before === null || id !== this.contStream) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'CONTINUATION without HEADERS before it');
    if (before.length + end - p > this.maxHeaderBytes * 2) throw new ConnectionError(ErrorCode.ENHANCE_YOUR_CALM, 'a header block over the limit');
    const all = Buffer.concat([before, buf.subarray(p, end)]);
    if ((flags & Flag.END_HEADERS) === 0) {
      this.contBytes = all;
      return;
    }
    this.contBytes = null;
    this.headerBlock(this.streams.get(id), this.contFlags, all, 0, all.length);
  }

  /** A whole header block for stream `s` (undefined: one we closed; it is decoded all the same, for the table). */
  private headerBlock(s: ClientStream | undefined, flags: number, buf: Buffer, from: number, to: number): void {
    const b = this.block;
    const live = s !== undefined && !s.closed ? s : null;
    b.stream = live;
    b.endStream = (flags & Flag.END_STREAM) !== 0;
    b.trailers = live !== null && live.phase === Phase.BODY;
    b.status = 0;
    b.lines = '';
    if (live !== null && !b.trailers) {
      b.names = [];
      b.values = [];
    }
    b.contentLength = -1;
    b.regular = false;
    b.error = null;
    try {
      this.decoder.decode(buf, from, to, this.field, this.maxHeaderBytes);
    } catch (err) {
      if (err instanceof HpackError) throw new ConnectionError(ErrorCode.COMPRESSION_ERROR, err.message);
      throw err;
    }
    if (live === null) return;
    const s2 = live;
    if (s2.remoteEnded) return this.reset(s2, ErrorCode.STREAM_CLOSED, new ConnectionError(ErrorCode.STREAM_CLOSED, 'HEADERS after the end of the stream'), false);
    if (b.error !== null) return this.malformed(s2, b.error);
    if (b.trailers) {
      if (!b.endStream) return this.malformed(s2, 'trailers without END_STREAM');
      s2.phase = Phase.DONE;
      if (s2.contentLength >= 0 && s2.received !== s2.contentLength) return this.malformed(s2, `a body of ${s2.received} bytes, not its content-length ${s2.contentLength}`);
      s2.remoteEnded = true;
      if (s2.paused || s2.held !== null) {
        // they wait behind the data a paused handler has not taken yet
        s2.heldTrailers = b.lines;
        return;
      }
      s2.handler.onStreamTrailers(b.lines);
      if (!s2.closed) this.remoteEnd(s2);
      return;
    }
    if (s2.phase !== Phase.HEAD) return this.malformed(s2, 'a response head after the trailers');
    if (b.status === 0) return this.malformed(s2, 'a response without :status');
    if (b.status < 200) {
      if (b.endStream || b.status === 101) return this.malformed(s2, `an interim response ${b.status} that ${b.status === 101 ? 'HTTP/2 does not have' : 'ends the stream'}`);
      s2.handler.onStreamHead(b.status, b.names, b.values, -1, false);
      return;
    }
    s2.phase = Phase.BODY;
    s2.contentLength = b.contentLength;
    s2.handler.onStreamHead(b.status, b.names, b.values, b.contentLength, b.endStream);
    if (b.endStream && !s2.closed) {
      s2.remoteEnded = true;
      this.remoteEnd(s2);
    }
  }

  /** One decoded field of the current block (the decoder's sink). */
  private readonly field = (name: string, value: string): void => {
    const b = this.block;
    if (b.error !== null || b.stream === null) return;
    if (name.charCodeAt(0) === 0x3a) {
      if (b.regular || b.trailers) b.error = `pseudo-field ${name} after the regular ones or in trailers`;
      else if (name !== ':status') b.error = `pseudo-field ${name} in a response`;
      else if (b.status !== 0) b.error = 'two :status fields';
      else if (value.length !== 3 || !/^[1-9][0-9][0-9]$/.test(value)) b.error = `a :status of "${value}"`;
      else b.status = Number(value);
      return;
    }
    b.regular = true;
    b.error = fieldProblem(name, value);
    if (b.error !== null) return;
    if (name === 'content-length' && !b.trailers) {
      const n = contentLengthOf(value, b.contentLength);
      if (typeof n === 'string') {
        b.error = n;
        return;
      }
      b.contentLength = n;
    }
    if (b.trailers) {
      b.lines += `${name}: ${value}\r\n`;
      return;
    }
    b.names.push(name);
    b.values.push(value);
  };

  private malformed(s: ClientStream, why: string): void {
    this.reset(s, ErrorCode.PROTOCOL_ERROR, new ConnectionError(ErrorCode.PROTOCOL_ERROR, `malformed response: ${why}`), false);
  }

  onRstStream(id: number, buf: Buffer, p: number, end: number): void {
    if (end - p !== 4) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'RST_STREAM of a wrong size');
    const s = this.known(id, 'RST_STREAM');
    if (s === undefined || s.closed) return;
    const code = buf.readUInt32BE(p);
    this.closeStream(s, code, code === ErrorCode.REFUSED_STREAM || code === ErrorCode.NO_ERROR ? undefined : new Error(`stream reset by the server (${errorName(code)})`));
  }

  onSettings(flags: number, id: number, buf: Buffer, p: number, end: number): void {
    const set = readSettings(flags, id, buf, p, end);
    if (set === null) return;
    const first = !this.gotSettings;
    this.gotSettings = true;
    if (set.headerTableSize >= 0) this.encoder.setLimit(set.headerTableSize);
    if (set.initialWindow >= 0) {
      moveWindows(this.streams.values(), this.peerWindow, set.initialWindow);
      this.peerWindow = set.initialWindow;
    }
    if (set.maxFrame >= 0) this.peerMaxFrame = set.maxFrame;
    this.out.frame(Type.SETTINGS, Flag.ACK, 0, null);
    this.queueFlush();
    const maxConcurrent = set.maxConcurrent >= 0 ? set.maxConcurrent : undefined;
    if (first || maxConcurrent !== undefined) this.owner.onSessionSettings(maxConcurrent);
    if (this.peerWindow > 0) for (const s of this.streams.values()) if (s.pendingBytes > 0) this.flushStream(s);
  }

  onPing(flags: number, id: number, buf: Buffer, p: number, end: number): void {
    if (readPing(flags, id, p, end)) {
      this.owner.onSessionPingAck();
      return;
    }
    this.out.frame(Type.PING, Flag.ACK, 0, buf, p, end);
    this.queueFlush();
  }

  onGoAway(id: number, buf: Buffer, p: number, end: number): void {
    if (id !== 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'GOAWAY on a stream');
    if (end - p < 8) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'GOAWAY too short');
    const last = buf.readUInt32BE(p) & 0x7fffffff;
    const code = buf.readUInt32BE(p + 4);
    this.goingAway = true;
    this.goawayLast = this.goawayLast < 0 ? last : Math.min(this.goawayLast, last);
    this.owner.onSessionGoaway(last, code);
    // streams the server did not take never reached it: refused
    for (const s of this.streams.values()) if (s.id > last && !s.closed) this.closeStream(s, ErrorCode.REFUSED_STREAM, undefined);
    if (this.streams.size === 0 && !this.destroyed) this.finish();
  }

  onWindowUpdate(id: number, buf: Buffer, p: number, end: number): void {
    const inc = windowIncrement(id, buf, p, end);
    if (id === 0) {
      this.sendWindow = growConnectionWindow(this.sendWindow, inc);
      const blocked = this.blocked;
      this.blocked = [];
      for (const s of blocked) this.flushStream(s);
      return;
    }
    const s = this.known(id, 'WINDOW_UPDATE');
    if (s === undefined || s.closed) return;
    if (inc === 0) return this.reset(s, ErrorCode.PROTOCOL_ERROR, new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'WINDOW_UPDATE of 0'), false);
    s.sendWindow += inc;
    if (s.sendWindow > MAX_WINDOW) return this.reset(s, ErrorCode.FLOW_CONTROL_ERROR, new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, 'a stream window over 2^31-1'), false);
    if (s.pendingBytes > 0) this.flushStream(s);
  }

  // ---- closing -----------------------------------------------------------------------

  /** Takes a stream off the connection (no more frames reach it). */
  private detach(s: ClientStream, code: number): void {
    s.closed = true;
    s.rstCode = code;
    s.held = null;
    s.pending = [];
    s.pendingBytes = 0;
    this.streams.delete(s.id);
    const k = this.blocked.indexOf(s);
    if (k >= 0) this.blocked.splice(k, 1);
    if (this.goingAway && this.streams.size === 0 && !this.destroyed) this.finish();
  }

  private closeStream(s: ClientStream, code: number, err: Error | undefined): void {
    if (s.closed) return;
    this.detach(s, code);
    s.handler.onStreamClose(code, err);
  }

  /** A protocol error of the server (or a failure in here): GOAWAY with its code, then the socket closes. */
  private connectionError(err: unknown): void {
    if (this.destroyed) return;
    const e = err instanceof Error ? err : new Error(String(err));
    const code = e instanceof ConnectionError ? e.h2code : ErrorCode.INTERNAL_ERROR;
    this.goaway(code);
    this.flush();
    this.destroy(e);
  }

  private onSocketClose(): void {
    this.destroyed = true;
    this.goingAway = true;
    this.connected = false;
    const err = this.error;
    for (const s of this.streams.values()) {
      if (s.closed) continue;
      this.detach(s, -1);
      try {
        s.handler.onStreamClose(-1, err ?? new Error('the server closed the connection'));
      } catch {
        // the handler reports its own failures; closing goes on for the others
      }
    }
    this.owner.onSessionClose(err);
  }
}
