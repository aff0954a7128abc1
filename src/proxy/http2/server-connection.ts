/**
 * The server side of an HTTP/2 connection (RFC 9113) on our wire layer, reading and
 * writing the client socket itself (the addon's NativeSocket, or Node's net and TLS
 * sockets through the shared read buffer): no node:http2, no Duplex, no object per frame.
 *
 * It checks the preface, exchanges SETTINGS, decodes and checks request header blocks
 * (request-block.ts), runs flow control both ways (a stream that cannot send waits alone;
 * the connection window is returned as DATA arrives, a stream's as its exchange takes
 * it), and answers PING. Streams are handed to the owner (wire-session.ts) as
 * ServerStreams.
 *
 * A protocol error of the client is a connection error: GOAWAY with its code, reading
 * stops, the socket is ended and destroyed once the GOAWAY is out. A malformed request
 * is a stream error (RST_STREAM). Floods are bounded: control frames that cost us work
 * but carry no request (SETTINGS, PING, PRIORITY, empty DATA, WINDOW_UPDATE, frames on
 * closed streams, CONTINUATION beyond a few) have a budget per second, earned back by
 * real requests; client resets have nghttp2's budget (a burst of 1,000, then 33 a
 * second: rapid reset); a header block is at most MAX_BLOCK bytes in 16 frames.
 * Nothing the client sends throws out of here.
 */
import type net from 'node:net';
import type { OutgoingHttpHeaders } from 'node:http2';
import { log } from '../../core/log.js';
import { NativeSocket } from '../../io/native-socket.js';
import { READ_BUFFER, copyBytes, readThroughSharedBuffer, redirectSharedReads } from '../../io/read-buffer.js';
import { writeSocket } from '../../io/socket-write.js';
import { HpackDecoder, HpackEncoder, HpackError, Index } from './wire/hpack.js';
import { ConnectionError, DEFAULT_WINDOW, ErrorCode, FRAME_HEADER, Flag, FrameWriter, MAX_WINDOW, MIN_MAX_FRAME, PREFACE, Setting, Type, writeFrameHeader } from './wire/frames.js';
import { FrameReader, unpadded, type FrameSink } from './wire/frame-reader.js';
import { growConnectionWindow, moveWindows, readPing, readSettings, windowIncrement } from './wire/peer-frames.js';
import { RequestBlock, Verdict } from './request-block.js';
import { valueProblem } from './wire/field-rules.js';
import { ServerStream } from './server-stream.js';
import { IdTable } from '../../core/id-table.js';

export type ServerSocket = NativeSocket | net.Socket;

/** Our SETTINGS and limits. */
export interface ServerSettings {
  maxConcurrentStreams: number;
  /** SETTINGS_INITIAL_WINDOW_SIZE: what each stream may send unread. */
  streamWindow: number;
  /** The connection's receive window. */
  connectionWindow: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE. */
  maxHeaderListSize: number;
  /** Fields a request may have, pseudo-fields included. */
  maxHeaderFields: number;
}

/** What the connection tells its owner. */
export interface ConnectionOwner {
  /** A new request stream: `raw` its fields [name, value, ...]; `ended`: no body follows. */
  onStream(stream: ServerStream, raw: string[], ended: boolean): void;
  /** The frames of one read are processed (deferred dispatches may go now). */
  onReadDone(): void;
  /** The client sent GOAWAY (it opens no more streams). */
  onPeerGoAway(): void;
  /** The client sent FIN. */
  onPeerEnd(): void;
  /** We sent GOAWAY with this code (not NO_ERROR: the connection is closing). */
  onConnectionError(code: number): void;
  /** The socket closed. */
  onClose(): void;
}

/** Frames that do no request's work a client may send per second beyond what its requests earn. */
const NUISANCE_LIMIT = 1000;
/** nghttp2's stream reset budget: a burst, then a rate per second. */
const RESET_BURST = 1000;
const RESET_RATE = 33;
/** CONTINUATION frames a header block may take, and its most bytes. */
const MAX_CONTINUATIONS = 16;
const MIN_MAX_BLOCK = 64 * 1024;

const NEVER_INDEX = new Set(['set-cookie', 'authorization', 'www-authenticate', 'proxy-authenticate']);
const NO_INDEX = new Set(['content-length', 'date', 'etag', 'last-modified', 'expires', 'x-request-id', 'location', 'content-range', 'age']);

export class ServerConnection implements FrameSink {
  /** Open streams by id (not a Map: see core/id-table.ts). */
  private readonly streams = new IdTable<ServerStream>();
  /** Streams waiting for connection window. */
  private blocked: ServerStream[] = [];
  /** Streams closed since the last flush: their handlers hear onClientClose then. */
  private closedQueue: ServerStream[] = [];
  private readonly decoder = new HpackDecoder();
  private readonly encoder = new HpackEncoder();
  private readonly out = new FrameWriter();
  private readonly block: RequestBlock;
  private flushQueued = false;
  private sockFull = false;
  private readonly reader = new FrameReader(this);
  /** Preface bytes seen so far (24 when done). */
  private prefaceSeen = 0;
  gotSettings = false;
  private settingsAcked = false;
  /** A header block continued by CONTINUATION frames: its stream, flags, bytes and frames so far. */
  private contStream = 0;
  private contFlags = 0;
  /** The header block being read came in a HEADERS frame whose priority names its own stream. */
  private selfDependent = false;
  private contBytes: Buffer | null = null;
  private contFrames = 0;
  private readonly maxBlock: number;
  /** The client's settings. */
  private peerWindow = DEFAULT_WINDOW;
  private peerMaxFrame = MIN_MAX_FRAME;
  private sendWindow = DEFAULT_WINDOW;
  private recvWindow: number;
  private recvUnacked = 0;
  /** The highest stream id the client opened; and the one our GOAWAY named. */
  lastStreamId = 0;
  /** Streams open (not closed): what MAX_CONCURRENT_STREAMS bounds. */
  private open = 0;
  /** GOAWAY sent: no new streams. */
  goingAway = false;
  /** A connection error: nothing more is read. */
  private dead = false;
  closed = false;
  private nuisance = 0;
  private nuisanceAt = 0;
  private resetTokens = RESET_BURST;
  private resetAt = 0;

  constructor(
    readonly sock: ServerSocket,
    private readonly settings: ServerSettings,
    private readonly owner: ConnectionOwner,
  ) {
    this.block = new RequestBlock(settings.maxHeaderListSize, settings.maxHeaderFields);
    this.maxBlock = Math.max(MIN_MAX_BLOCK, 2 * settings.maxHeaderListSize);
    this.recvWindow = DEFAULT_WINDOW;
  }

  /** Sends our SETTINGS and starts reading (`head`: bytes already read, the preface's start). */
  start(head: Buffer | null): void {
    const sock = this.sock;
    this.sendSettings();
    sock.on('drain', () => this.onDrain());
    sock.on('end', () => this.guard(() => this.owner.onPeerEnd()));
    sock.on('close', () => this.onSocketClose());
    if (head !== null && head.length > 0) this.onBytes(head, 0, head.length);
    if (sock instanceof NativeSocket) {
      sock.onBytes = (arena, start, end) => this.onBytes(arena, start, end);
      sock.onData = null;
      sock.resume();
      return;
    }
    const onRead = (n: number): boolean => {
      this.onBytes(READ_BUFFER, 0, n);
      return true;
    };
    if (redirectSharedReads(sock, onRead)) {
      sock.resume();
      return;
    }
    if ((sock as { encrypted?: boolean }).encrypted === true && readThroughSharedBuffer(sock, onRead)) {
      // bytes decrypted with the handshake's last record, before the switch
      let early: Buffer | null;
      while (!this.dead && (early = sock.read() as Buffer | null) !== null) this.onBytes(early, 0, early.length);
      sock.resume();
      return;
    }
    sock.on('data', (chunk: Buffer) => this.onBytes(chunk, 0, chunk.length));
    sock.resume();
  }

  /** Streams open now. */
  get streamCount(): number {
    return this.open;
  }

  // ---- writing -----------------------------------------------------------------------

  private sendSettings(): void {
    const s = this.settings;
    const list = [
      [Setting.MAX_CONCURRENT_STREAMS, s.maxConcurrentStreams],
      [Setting.INITIAL_WINDOW_SIZE, s.streamWindow],
      [Setting.MAX_HEADER_LIST_SIZE, s.maxHeaderListSize],
      [Setting.ENABLE_PUSH, 0],
    ];
    const out = this.out.reserve(FRAME_HEADER + 6 * list.length);
    let at = this.out.offset;
    writeFrameHeader(out, at, 6 * list.length, Type.SETTINGS, 0, 0);
    at += FRAME_HEADER;
    for (const [id, value] of list) {
      out.writeUInt16BE(id!, at);
      out.writeUInt32BE(value!, at + 2);
      at += 6;
    }
    this.out.commit(FRAME_HEADER + 6 * list.length);
    const more = s.connectionWindow - DEFAULT_WINDOW;
    if (more > 0) {
      this.out.frame32(Type.WINDOW_UPDATE, 0, more);
      this.recvWindow += more;
    }
    this.queueFlush();
  }

  private queueFlush(): void {
    if (this.flushQueued) return;
    this.flushQueued = true;
    queueMicrotask(this.flushLater);
  }

  private readonly flushLater = (): void => {
    this.flush();
  }

  /** Writes what is queued, in one write; then tells the handlers of streams closed meanwhile. */
  flush(): void {
    this.flushQueued = false;
    if (this.out.length > 0 && !this.sock.destroyed) {
      const parts = this.out.take();
      const data = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
      if (!writeSocket(this.sock, data)) this.sockFull = true;
    }
    const closed = this.closedQueue;
    if (closed.length === 0) return;
    this.closedQueue = [];
    for (const s of closed) this.tellClosed(s);
  }

  private tellClosed(s: ServerStream): void {
    const h = s.handler;
    if (h === null) return;
    try {
      h.onClientClose();
    } catch (err) {
      h.onInternalError(err);
    }
  }

  private onDrain(): void {
    this.sockFull = false;
    for (const s of this.streams.values()) {
      if (!s.wantDrain || s.pendingBytes > 0 || s.closed) continue;
      s.wantDrain = false;
      const h = s.handler;
      if (h === null) continue;
      try {
        h.onClientDrain();
      } catch (err) {
        h.onInternalError(err);
      }
    }
  }

  /** A header block of `headers` (Node's header object: our own answers, trailers, interim heads): see fieldBlock. */
  private headerBlock(id: number, headers: OutgoingHttpHeaders, endStream: boolean): void {
    let status = -1;
    const names: string[] = [];
    const values: string[] = [];
    for (const name in headers) {
      const v = headers[name];
      if (v === undefined) continue;
      if (name === ':status') {
        status = Number(v);
      } else if (Array.isArray(v)) {
        for (const x of v) {
          names.push(name);
          values.push(String(x));
        }
      } else {
        names.push(name);
        values.push(typeof v === 'string' ? v : String(v));
      }
    }
    this.fieldBlock(id, status, names, values, endStream);
  }

  /**
   * A header block (HEADERS, then CONTINUATION at the client's frame size): `:status`
   * unless `status` is -1 (trailers), then the fields in order. Throws for a field HTTP/2
   * cannot carry, before anything is encoded (the encoder's table stays as it was).
   */
  private fieldBlock(id: number, status: number, names: readonly string[], values: readonly string[], endStream: boolean): void {
    let bound = 16;
    for (let k = 0; k < names.length; k++) {
      const name = names[k]!;
      checkName(name);
      bound += HpackEncoder.bound(name, checkValue(name, values[k]!));
    }
    const w = this.out;
    const out = w.reserve(FRAME_HEADER + bound);
    const start = w.offset;
    const enc = this.encoder;
    let at = enc.begin(out, start + FRAME_HEADER);
    if (status >= 0) at = enc.field(out, at, ':status', String(status), Index.YES);
    for (let k = 0; k < names.length; k++) {
      const name = names[k]!;
      const value = values[k]!;
      const index = NEVER_INDEX.has(name) ? Index.NEVER : NO_INDEX.has(name) || value.length > 256 ? Index.NO : Index.YES;
      at = enc.field(out, at, name, value, index);
    }
    w.headerBlock(start, at, id, endStream, this.peerMaxFrame);
    this.queueFlush();
  }

  /** @internal ServerStream.respond */
  respond(s: ServerStream, headers: OutgoingHttpHeaders, endStream: boolean, waitForTrailers: boolean): void {
    if (s.closed) return;
    if (s.headersSent) throw new Error('the response head was already sent');
    this.headerBlock(s.id, headers, endStream);
    this.responded(s, endStream, waitForTrailers);
  }

  /** @internal ServerStream.respondFields */
  respondFields(s: ServerStream, status: number, names: readonly string[], values: readonly string[], endStream: boolean, waitForTrailers: boolean): void {
    if (s.closed) return;
    if (s.headersSent) throw new Error('the response head was already sent');
    this.fieldBlock(s.id, status, names, values, endStream);
    this.responded(s, endStream, waitForTrailers);
  }

  /** The final response head went out. */
  private responded(s: ServerStream, endStream: boolean, waitForTrailers: boolean): void {
    s.headersSent = true;
    s.trailersWanted = waitForTrailers && !endStream;
    if (endStream) {
      s.endQueued = true;
      this.localEnd(s);
    }
  }

  /** @internal ServerStream.additionalHeaders */
  interim(s: ServerStream, headers: OutgoingHttpHeaders): void {
    if (s.closed || s.headersSent) return;
    this.headerBlock(s.id, headers, false);
  }

  /** @internal ServerStream.write */
  write(s: ServerStream, chunk: Buffer): boolean {
    if (s.closed || s.endQueued) return true;
    if (chunk.length > 0) {
      s.pending.push(chunk);
      s.pendingBytes += chunk.length;
      this.pump(s);
    }
    const ok = s.pendingBytes === 0 && !this.sockFull;
    if (!ok) s.wantDrain = true;
    return ok;
  }

  /** @internal ServerStream.end */
  end(s: ServerStream, last: Buffer | null): void {
    if (s.closed || s.endQueued) return;
    if (last !== null && last.length > 0) {
      s.pending.push(last);
      s.pendingBytes += last.length;
    }
    s.endQueued = true;
    this.pump(s);
  }

  /** @internal ServerStream.sendTrailers */
  trailers(s: ServerStream, headers: OutgoingHttpHeaders): void {
    if (s.closed || s.localEnded) return;
    let any = false;
    for (const name in headers) if (headers[name] !== undefined) any = true;
    if (any) this.headerBlock(s.id, headers, true);
    else {
      this.out.frame(Type.DATA, Flag.END_STREAM, s.id, null);
      this.queueFlush();
    }
    this.localEnd(s);
  }

  /**
   * Sends a stream's pending bytes as far as both windows and the frame size allow, the
   * last with END_STREAM when the response ends there; queues for connection window.
   */
  private pump(s: ServerStream): void {
    const pending = s.pending;
    while (pending.length > 0) {
      const chunk = pending[0]!;
      const off = s.pendingOff;
      const n = Math.min(chunk.length - off, s.sendWindow, this.sendWindow, this.peerMaxFrame);
      if (n <= 0) {
        if (this.sendWindow <= 0 && s.sendWindow > 0 && !s.blocked) {
          s.blocked = true;
          this.blocked.push(s);
        }
        this.queueFlush();
        return;
      }
      const whole = off + n === chunk.length;
      const final = whole && pending.length === 1 && s.endQueued && !s.trailersWanted;
      this.out.frame(Type.DATA, final ? Flag.END_STREAM : 0, s.id, chunk, off, off + n);
      // each DATA frame may earn a WINDOW_UPDATE or two: they are no flood
      if (this.nuisance > 0) this.nuisance--;
      s.sendWindow -= n;
      this.sendWindow -= n;
      s.pendingBytes -= n;
      if (whole) {
        pending.shift();
        s.pendingOff = 0;
      } else {
        s.pendingOff = off + n;
      }
      if (final) {
        this.queueFlush();
        this.localEnd(s);
        return;
      }
    }
    this.queueFlush();
    if (!s.endQueued || s.localEnded) return;
    if (s.trailersWanted) {
      s.trailersWanted = false;
      const h = s.handler;
      if (h !== null) {
        try {
          h.wantTrailers();
        } catch (err) {
          h.onInternalError(err);
        }
      }
      if (!s.localEnded && !s.closed) this.trailers(s, {});
      return;
    }
    this.out.frame(Type.DATA, Flag.END_STREAM, s.id, null);
    this.localEnd(s);
  }

  /** We sent END_STREAM: the stream closes if the client is done too (or was told to stop). */
  private localEnd(s: ServerStream): void {
    s.localEnded = true;
    if (s.remoteEnded) this.closeStream(s);
    else if (s.resetAfterEnd) this.reset(s, ErrorCode.NO_ERROR);
  }

  /** @internal ServerStream.close: RST_STREAM, or for NO_ERROR once the response is out. */
  reset(s: ServerStream, code: number): void {
    if (s.closed) return;
    if (code === ErrorCode.NO_ERROR && s.endQueued && !s.localEnded) {
      s.resetAfterEnd = true;
      return;
    }
    if (!this.dead) {
      this.out.frame32(Type.RST_STREAM, s.id, code);
      this.queueFlush();
    }
    this.closeStream(s);
  }

  /** @internal ServerStream.resume: the window taken meanwhile goes back. */
  resumed(s: ServerStream): void {
    if (!s.closed && !s.remoteEnded) this.ackStream(s, true);
  }

  /** Returns a stream's window once half of it is taken (or `all` of what is taken). */
  private ackStream(s: ServerStream, all: boolean): void {
    const n = s.recvUnacked;
    if (n === 0 || (!all && n < this.settings.streamWindow >>> 1)) return;
    s.recvUnacked = 0;
    s.recvWindow += n;
    this.out.frame32(Type.WINDOW_UPDATE, s.id, n);
    this.queueFlush();
  }

  private closeStream(s: ServerStream): void {
    if (s.closed) return;
    s.closed = true;
    s.pending = [];
    s.pendingBytes = 0;
    this.streams.delete(s.id);
    this.open--;
    if (s.blocked) {
      s.blocked = false;
      const k = this.blocked.indexOf(s);
      if (k >= 0) this.blocked.splice(k, 1);
    }
    this.closedQueue.push(s);
    this.queueFlush();
  }

  /** GOAWAY: NO_ERROR lets streams up to lastStreamId finish; another code closes the connection. */
  goAway(code: number): void {
    if (this.closed) return;
    if (this.goingAway && code === ErrorCode.NO_ERROR) return;
    this.goingAway = true;
    const out = this.out.reserve(FRAME_HEADER + 8);
    const at = this.out.offset;
    writeFrameHeader(out, at, 8, Type.GOAWAY, 0, 0);
    out.writeUInt32BE(this.lastStreamId, at + FRAME_HEADER);
    out.writeUInt32BE(code, at + FRAME_HEADER + 4);
    this.out.commit(FRAME_HEADER + 8);
    this.queueFlush();
  }

  /** Ends the connection after what is queued (FIN), and destroys the socket once it is written. */
  finish(): void {
    if (this.closed) return;
    this.dead = true;
    this.flush();
    const sock = this.sock;
    if (sock.destroyed) return;
    if (sock instanceof NativeSocket) {
      sock.end();
      if (!this.sockFull) setImmediate(() => sock.destroy());
      else sock.once('drain', () => sock.destroy());
      return;
    }
    sock.end(() => sock.destroy());
  }

  /** Closes at once. */
  destroy(): void {
    this.dead = true;
    this.sock.destroy();
  }

  /** A connection error: GOAWAY with the code, nothing more read, the socket closes once it is out. */
  private connectionError(err: unknown): void {
    if (this.dead) return;
    let code: number;
    if (err instanceof ConnectionError) code = err.h2code;
    else if (err instanceof HpackError) code = ErrorCode.COMPRESSION_ERROR;
    else {
      code = ErrorCode.INTERNAL_ERROR;
      log().error({ err }, 'internal error on an HTTP/2 connection (connection closed)');
    }
    this.goAway(code);
    this.dead = true;
    if (!this.sock.destroyed && !(this.sock instanceof NativeSocket)) this.sock.pause();
    try {
      this.owner.onConnectionError(code);
    } catch (e) {
      log().error({ err: e }, 'internal error on an HTTP/2 connection');
    }
    this.finish();
  }

  private guard(step: () => void): void {
    try {
      step();
    } catch (err) {
      this.connectionError(err);
    }
  }

  private onSocketClose(): void {
    this.closed = true;
    this.dead = true;
    for (const s of this.streams.values()) {
      this.closeStream(s);
    }
    const closed = this.closedQueue;
    this.closedQueue = [];
    for (const s of closed) this.tellClosed(s);
    try {
      this.owner.onClose();
    } catch (err) {
      log().error({ err }, 'internal error closing an HTTP/2 connection');
    }
  }

  // ---- reading -----------------------------------------------------------------------

  /** Bytes read: buf[start, end) (a shared buffer: what is kept is copied). */
  private onBytes(buf: Buffer, start: number, end: number): void {
    if (this.dead) return;
    try {
      this.reader.read(buf, this.preface(buf, start, end), end);
    } catch (err) {
      this.connectionError(err);
    }
    try {
      this.owner.onReadDone();
    } catch (err) {
      this.connectionError(err);
    }
  }

  /** Checks the connection preface's bytes at buf[start, end) while it lasts; returns where frames start. */
  private preface(buf: Buffer, start: number, end: number): number {
    let i = start;
    while (i < end && this.prefaceSeen < PREFACE.length) {
      if (buf[i] !== PREFACE[this.prefaceSeen]) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'not the HTTP/2 connection preface');
      i++;
      this.prefaceSeen++;
    }
    return i;
  }

  /** FrameSink: the connection is gone, read no further. */
  get stopped(): boolean {
    return this.dead;
  }

  /** FrameSink: a header block is open. */
  get inHeaderBlock(): boolean {
    return this.contBytes !== null;
  }

  /**
   * FrameSink: PRIORITY and unknown types do no request's work (they count toward the flood
   * budget); a client may not push. A stream may not depend on itself (RFC 7540 section
   * 5.3.1, as nghttp2 and HAProxy check): an open stream is reset, else the connection ends.
   */
  onOtherFrame(type: number, id: number, selfDependent: boolean): void {
    if (type === Type.PUSH_PROMISE) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'PUSH_PROMISE from a client');
    this.annoy(1);
    if (!selfDependent) return;
    const s = this.streams.get(id);
    if (s === undefined) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `PRIORITY making stream ${id} depend on itself`);
    this.streamError(s, ErrorCode.PROTOCOL_ERROR);
  }

  /** Counts frames that do no request's work; too many in a second is a flood. */
  private annoy(n: number): void {
    const now = Date.now();
    if (now - this.nuisanceAt >= 1000) {
      this.nuisanceAt = now;
      this.nuisance = 0;
    }
    this.nuisance += n;
    if (this.nuisance > NUISANCE_LIMIT) throw new ConnectionError(ErrorCode.ENHANCE_YOUR_CALM, 'too many frames that carry no request (a flood)');
  }

  /** Padding removed: returns where the payload ends. */
  /** A frame on stream `id`: its stream, undefined when closed; a connection error when idle. */
  private known(id: number, what: string): ServerStream | undefined {
    if (id > this.lastStreamId) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `${what} on idle stream ${id}`);
    return this.streams.get(id);
  }

  onData(flags: number, id: number, buf: Buffer, p: number, end: number): void {
    if (id === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'DATA on stream 0');
    const len = end - p;
    const dataEnd = unpadded(flags, buf, p, end);
    const from = (flags & Flag.PADDED) !== 0 ? p + 1 : p;
    // the connection window counts every DATA byte, and is returned as they arrive
    this.recvWindow -= len;
    if (this.recvWindow < 0) throw new ConnectionError(ErrorCode.FLOW_CONTROL_ERROR, 'DATA beyond the connection window');
    this.recvUnacked += len;
    if (this.recvUnacked >= this.settings.connectionWindow >>> 1) {
      this.out.frame32(Type.WINDOW_UPDATE, 0, this.recvUnacked);
      this.recvWindow += this.recvUnacked;
      this.recvUnacked = 0;
      this.queueFlush();
    }
    const endStream = (flags & Flag.END_STREAM) !== 0;
    const s = this.known(id, 'DATA');
    if (s === undefined) {
      this.annoy(1);
      return;
    }
    if (s.remoteEnded) return this.streamError(s, ErrorCode.STREAM_CLOSED);
    s.recvWindow -= len;
    if (s.recvWindow < 0) return this.streamError(s, ErrorCode.FLOW_CONTROL_ERROR);
    const n = dataEnd - from;
    if (n === 0 && !endStream) this.annoy(1);
    s.received += n;
    if (s.contentLength >= 0 && s.received > s.contentLength) return this.streamError(s, ErrorCode.PROTOCOL_ERROR);
    // padding is not the exchange's: returned with what it takes
    s.recvUnacked += len - n;
    const h = s.handler;
    if (n > 0 && h !== null) {
      const chunk = copyBytes(buf, from, dataEnd);
      try {
        h.onClientData(chunk);
      } catch (err) {
        h.onInternalError(err);
      }
      if (s.closed) return;
    }
    s.recvUnacked += n;
    if (endStream) return this.remoteEnd(s);
    if (!s.paused) this.ackStream(s, false);
  }

  private remoteEnd(s: ServerStream): void {
    if (s.contentLength >= 0 && s.received !== s.contentLength) return this.streamError(s, ErrorCode.PROTOCOL_ERROR);
    s.remoteEnded = true;
    const h = s.handler;
    if (h !== null) {
      try {
        h.onClientEnd();
      } catch (err) {
        h.onInternalError(err);
      }
    }
    if (s.localEnded && !s.closed) this.closeStream(s);
  }

  private streamError(s: ServerStream, code: number): void {
    this.reset(s, code);
  }

  onHeaders(flags: number, id: number, buf: Buffer, p: number, end: number): void {
    if (id === 0 || (id & 1) === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `HEADERS on stream ${id}`);
    let from = (flags & Flag.PADDED) !== 0 ? p + 1 : p;
    const to = unpadded(flags, buf, p, end);
    this.selfDependent = false;
    if ((flags & Flag.PRIORITY) !== 0) {
      if (to - from < 5) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'HEADERS too short for its priority');
      this.selfDependent = (buf.readUInt32BE(from) & 0x7fffffff) === id;
      from += 5;
    }
    if ((flags & Flag.END_HEADERS) === 0) {
      this.contStream = id;
      this.contFlags = flags;
      this.contBytes = copyBytes(buf, from, to);
      this.contFrames = 0;
      return;
    }
    this.headerBlock2(flags, id, buf, from, to);
  }

  onContinuation(flags: number, id: number, buf: Buffer, p: number, end: number): void {
    const sofar = this.contBytes;
    if (sofar === null || id !== this.contStream) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'CONTINUATION without its HEADERS');
    if (++this.contFrames > MAX_CONTINUATIONS) throw new ConnectionError(ErrorCode.ENHANCE_YOUR_CALM, `a header block in more than ${MAX_CONTINUATIONS} CONTINUATION frames`);
    if (sofar.length + end - p > this.maxBlock) throw new ConnectionError(ErrorCode.ENHANCE_YOUR_CALM, `a header block over ${this.maxBlock} bytes`);
    const all = Buffer.allocUnsafe(sofar.length + end - p);
    sofar.copy(all, 0);
    buf.copy(all, sofar.length, p, end);
    if ((flags & Flag.END_HEADERS) === 0) {
      this.contBytes = all;
      return;
    }
    this.contBytes = null;
    this.headerBlock2(this.contFlags, id, all, 0, all.length);
  }

  /** A whole header block on stream `id`: a new request, trailers, or one to drop. */
  private headerBlock2(flags: number, id: number, buf: Buffer, from: number, to: number): void {
    const endStream = (flags & Flag.END_STREAM) !== 0;
    const existing = id <= this.lastStreamId ? this.streams.get(id) : undefined;
    const fresh = id > this.lastStreamId;
    const b = this.block;
    b.reset(!fresh);
    // decoded whatever becomes of it: the dynamic table must stay in step with the client's
    this.decoder.decode(buf, from, to, b.field, Number.MAX_SAFE_INTEGER);
    b.finish();
    if (!fresh) {
      if (existing === undefined) {
        this.annoy(1);
        return; // a stream already closed (reset by us, say): dropped
      }
      if (existing.remoteEnded) return this.streamError(existing, ErrorCode.STREAM_CLOSED);
      if (b.verdict !== Verdict.OK || !endStream || this.selfDependent) return this.streamError(existing, b.verdict === Verdict.TOO_LARGE ? ErrorCode.ENHANCE_YOUR_CALM : ErrorCode.PROTOCOL_ERROR);
      const h = existing.handler;
      if (h !== null && b.lines !== '') {
        try {
          h.requestTrailers(b.lines);
        } catch (err) {
          h.onInternalError(err);
        }
      }
      if (!existing.closed) this.remoteEnd(existing);
      return;
    }
    this.lastStreamId = id;
    if (this.goingAway) return; // after our GOAWAY: not processed (the client may retry it elsewhere)
    const s = new ServerStream(this, id, this.settings.streamWindow, this.peerWindow);
    if (this.open >= this.settings.maxConcurrentStreams) {
      // beyond the limit we announced: a connection error once the client acknowledged it
      // (as nghttp2 does), before that the client may not know it: refused
      if (this.settingsAcked) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, `more than ${this.settings.maxConcurrentStreams} streams at once`);
      this.out.frame32(Type.RST_STREAM, id, ErrorCode.REFUSED_STREAM);
      this.queueFlush();
      return;
    }
    if (b.verdict !== Verdict.OK || this.selfDependent) {
      this.out.frame32(Type.RST_STREAM, id, b.verdict === Verdict.TOO_LARGE ? ErrorCode.ENHANCE_YOUR_CALM : ErrorCode.PROTOCOL_ERROR);
      this.queueFlush();
      this.annoy(1);
      return;
    }
    this.nuisance = Math.max(0, this.nuisance - 2);
    s.contentLength = b.contentLength;
    s.remoteEnded = endStream;
    if (endStream && b.contentLength > 0) {
      this.out.frame32(Type.RST_STREAM, id, ErrorCode.PROTOCOL_ERROR);
      this.queueFlush();
      return;
    }
    this.streams.set(id, s);
    this.open++;
    this.owner.onStream(s, b.raw, endStream);
  }

  onRstStream(id: number, buf: Buffer, p: number, end: number): void {
    if (end - p !== 4) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'RST_STREAM of a wrong size');
    if (id === 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'RST_STREAM on stream 0');
    const s = this.known(id, 'RST_STREAM');
    const now = Date.now();
    this.resetTokens = Math.min(RESET_BURST, this.resetTokens + ((now - this.resetAt) * RESET_RATE) / 1000);
    this.resetAt = now;
    if (--this.resetTokens < 0) throw new ConnectionError(ErrorCode.INTERNAL_ERROR, 'too many streams reset by the client (rapid reset)');
    if (s === undefined) return;
    this.closeStream(s);
  }

  onSettings(flags: number, id: number, buf: Buffer, p: number, end: number): void {
    const set = readSettings(flags, id, buf, p, end);
    if (set === null) {
      this.settingsAcked = true;
      return;
    }
    if (this.gotSettings) this.annoy(1);
    this.gotSettings = true;
    let windowChanged = false;
    if (set.headerTableSize >= 0) this.encoder.setLimit(set.headerTableSize);
    if (set.initialWindow >= 0) {
      windowChanged = moveWindows(this.streams.values(), this.peerWindow, set.initialWindow) > 0;
      this.peerWindow = set.initialWindow;
    }
    if (set.maxFrame >= 0) this.peerMaxFrame = set.maxFrame;
    this.out.frame(Type.SETTINGS, Flag.ACK, 0, null);
    this.queueFlush();
    if (windowChanged) for (const s of this.streams.values()) if (s.pendingBytes > 0 || (s.endQueued && !s.localEnded)) this.pumpAndDrain(s);
  }

  onPing(flags: number, id: number, buf: Buffer, p: number, end: number): void {
    const ack = readPing(flags, id, p, end);
    this.annoy(1);
    if (ack) return;
    this.out.frame(Type.PING, Flag.ACK, 0, buf, p, end);
    this.queueFlush();
  }

  onGoAway(id: number, buf: Buffer, p: number, end: number): void {
    const len = end - p;
    if (id !== 0) throw new ConnectionError(ErrorCode.PROTOCOL_ERROR, 'GOAWAY on a stream');
    if (len < 8) throw new ConnectionError(ErrorCode.FRAME_SIZE_ERROR, 'GOAWAY too short');
    this.annoy(1);
    this.owner.onPeerGoAway();
  }

  onWindowUpdate(id: number, buf: Buffer, p: number, end: number): void {
    const inc = windowIncrement(id, buf, p, end);
    if (id === 0) {
      this.sendWindow = growConnectionWindow(this.sendWindow, inc);
      if (this.blocked.length === 0) return this.annoy(1);
      const blocked = this.blocked;
      this.blocked = [];
      for (const s of blocked) {
        s.blocked = false;
        this.pumpAndDrain(s);
      }
      return;
    }
    const s = this.known(id, 'WINDOW_UPDATE');
    if (s === undefined) return this.annoy(1);
    if (inc === 0) return this.streamError(s, ErrorCode.PROTOCOL_ERROR);
    s.sendWindow += inc;
    if (s.sendWindow > MAX_WINDOW) return this.streamError(s, ErrorCode.FLOW_CONTROL_ERROR);
    if (s.pendingBytes > 0) this.pumpAndDrain(s);
    else this.annoy(1);
  }

  /** Sends what a stream has waiting; tells its handler when all of it went. */
  private pumpAndDrain(s: ServerStream): void {
    if (s.closed) return;
    this.pump(s);
    if (s.wantDrain && s.pendingBytes === 0 && !this.sockFull && !s.closed) {
      s.wantDrain = false;
      const h = s.handler;
      if (h === null) return;
      try {
        h.onClientDrain();
      } catch (err) {
        h.onInternalError(err);
      }
    }
  }
}

/** A field name HTTP/2 can carry (lowercase token characters). */
function checkName(name: string): void {
  if (name.length === 0) throw new Error('an empty field name');
  for (let k = 0; k < name.length; k++) {
    const c = name.charCodeAt(k);
    if (c <= 0x20 || c >= 0x7f || (c >= 0x41 && c <= 0x5a) || c === 0x3a) throw new Error(`field name ${JSON.stringify(name)}`);
  }
}

/** A field value HTTP/2 can carry (no NUL, CR or LF): field-rules.ts's rule, as a throw. */
function checkValue(name: string, value: string): string {
  const bad = valueProblem(name, value);
  if (bad !== null) throw new Error(bad);
  return value;
}
