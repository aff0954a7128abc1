/**
 * One request to an HTTP/2 server, as the exchange sees it: an Upstream that opens its
 * stream with the request's fields (openRequest: the exchange rewrote them, no head text),
 * whose socket then takes the body bytes in the exchange's framing (Content-Length or
 * chunked), and that gives back the response head as a status and fields (onUpstreamHead)
 * and its body as bytes (chunked when the server gave no length, its trailers in the last
 * chunk). So the exchange's routing, retries, limits, framing checks and both client
 * adapters work unchanged, and the HTTP/1.1 path pays nothing for HTTP/2. Each request is
 * its own stream, picked per request, so one client connection spreads over every server.
 *
 * Flow control is per stream: when the client cannot take more, the exchange pauses this
 * "socket", the stream stops handing data over and only its own window closes; the
 * connection's window is granted as data arrives (h2-client.ts), so other streams go on.
 */
import type net from 'node:net';
import type { Expirable } from '../../core/sweeper.js';
import { ChunkedScanner } from '../http/chunked.js';
import { HttpParseError } from '../http/head.js';
import type { RequestFields } from '../http/rewrite.js';
import { expireUpstream, type Upstream, type UpstreamOwner } from '../http/upstream.js';
import type { ClientStream, StreamHandler } from './h2-client.js';
import { lastChunkOf, trailerFields, type Fields } from './upstream-headers.js';
import type { H2Connection, H2Upstream } from './upstream-session.js';
import { ErrorCode } from './wire/frames.js';

const CRLF = Buffer.from('\r\n');
/** Request body bytes kept for a replay while the server has not answered (a refused stream is sent again with them). */
const REPLAY_MAX = 64 * 1024;

/**
 * The body bytes of a refused stream, handed to the next stream its owner takes while it
 * hears of the refusal: the exchange retries at once (in onUpstreamClose), and its
 * adapter sends only the body bytes the first stream did not get. Set only during that call.
 */
let carried: { owner: UpstreamOwner; bytes: Buffer[] } | null = null;
/** Times a refused stream is sent again on another connection to the same server before the exchange picks another server. */
const SAME_SERVER_RETRIES = 3;

const enum Req {
  /** The stream is not open yet (openRequest). */
  HEAD,
  /** Content-Length bytes go as they are. */
  LENGTH,
  /** Chunked: de-framed, the trailer section becomes HTTP/2 trailers. */
  CHUNKED,
  /** The request is all sent. */
  DONE,
}

/** Why a stream failed that the server never processed: the exchange sends the request elsewhere. */
export class RefusedStream extends Error {
  readonly code = 'REFUSED_STREAM';
}

export class H2StreamConn implements Upstream, Expirable, StreamHandler {
  /** This object, posing as the socket the exchange writes to (see the methods below). */
  readonly sock: net.Socket;
  owner: UpstreamOwner | null;
  connected = false;
  readonly reused = false;
  readonly http2 = true;
  deadline = 0;
  sweepSlot = -1;
  closed = false;
  private stream: ClientStream | null = null;
  private req = Req.HEAD;
  private left = 0;
  private chunks: ChunkedScanner | null = null;
  private reqTrailers: Fields | null = null;
  /** The response's body goes chunked (the server gave no length). */
  private respChunked = false;
  private respTrailers: string | null = null;
  private respEnded = false;
  private paused = false;
  private error: Error | undefined;
  /** Body bytes written so far, in the exchange's framing, while the server has not answered; null past REPLAY_MAX or once it answered. */
  private sent: Buffer[] | null = [];
  private sentBytes = 0;
  /** A refused stream's body bytes, written after the head before anything else. */
  private replay: Buffer[] | null = null;
  /** The request's fields, kept to send them again (see sendAgain). */
  private fields: RequestFields | null = null;
  /** Sent again on another connection to the same server after a refusal: waiting for it to be ready. */
  private again = false;
  /** The stream took the last body bytes whole (false: wait for onUpstreamDrain). */
  private canWrite = true;
  /** Destroyed before it had a stream: it closes at once, whatever the connection does meanwhile. */
  private dead = false;
  /** Times the request went again to another connection of the same server after a refusal. */
  private retries = 0;

  constructor(
    readonly pool: H2Upstream,
    public conn: H2Connection,
    owner: UpstreamOwner,
  ) {
    this.owner = owner;
    this.sock = this as unknown as net.Socket;
    this.connected = conn.connected;
    if (carried !== null && carried.owner === owner) {
      this.replay = carried.bytes;
      carried = null;
    }
  }

  // ---- the session ------------------------------------------------------------------

  /** The connection is ready: the exchange may write. */
  onConnect(): void {
    if (this.closed || this.dead) return;
    if (this.again) {
      // the request goes again on this new connection: the exchange has written it already
      this.again = false;
      this.openRequest(this.fields!);
      return;
    }
    this.connected = true;
    const owner = this.owner;
    if (owner === null) return;
    try {
      owner.onUpstreamConnect(this);
    } catch (err) {
      owner.onInternalError(err);
    }
  }

  /** The connection failed before this request got a stream: it never reached the server. */
  onConnectionGone(err: Error | undefined): void {
    if (this.closed || this.stream !== null) return;
    this.connected = false;
    const bytes = this.replay;
    if (this.again && bytes !== null && bytes.length > 0 && this.owner !== null) carried = { owner: this.owner, bytes };
    try {
      this.finish(err);
    } finally {
      carried = null;
    }
  }

  expire(): void {
    expireUpstream(this);
  }

  // ---- the socket the exchange writes to ----------------------------------------------

  /** Request body bytes, in the framing openRequest was told (the exchange's empty head writes are nothing). Returns false while the stream's buffer is full. */
  write(data: Buffer | string, _encoding?: string): boolean {
    if (this.closed || this.dead) return false;
    if (data.length === 0) return this.canWrite;
    if (this.again) {
      // waiting for another connection after a refusal: body bytes join the replay
      (this.replay ??= []).push(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
      return true;
    }
    if (this.req === Req.HEAD) {
      // bytes before the stream opened: not something the exchange does
      this.destroy();
      return false;
    }
    return this.body(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
  }

  /** Request body bytes in the exchange's framing (Content-Length or chunked). */
  private body(buf: Buffer): boolean {
    const stream = this.stream!;
    if (this.req === Req.DONE || this.closed) return this.canWrite;
    const sent = this.sent;
    if (sent !== null) {
      this.sentBytes += buf.length;
      if (this.sentBytes > REPLAY_MAX) this.sent = null;
      else sent.push(buf);
    }
    if (this.req === Req.LENGTH) {
      const take = Math.min(this.left, buf.length);
      this.left -= take;
      if (take > 0) this.canWrite = stream.write(take === buf.length ? buf : buf.subarray(0, take));
      if (this.left === 0) this.endRequest();
    } else if (this.req === Req.CHUNKED) {
      const chunks = this.chunks!;
      try {
        chunks.scan(buf, 0, buf.length, (part) => {
          this.canWrite = stream.write(part);
        });
      } catch (err) {
        if (!(err instanceof HttpParseError)) throw err;
        this.destroy();
        return false;
      }
      if (chunks.done) {
        this.reqTrailers = chunks.trailerText === '' ? null : trailerFields(chunks.trailerText);
        this.endRequest();
      }
    }
    return this.canWrite;
  }

  /**
   * Opens the stream with the request's fields (and writes the body bytes of a refused
   * stream sent again); false when it could not be (the exchange heard of it through
   * onUpstreamClose).
   */
  openRequest(fields: RequestFields): boolean {
    if (this.closed || this.dead) return false;
    this.fields = fields;
    if (!this.conn.connected) {
      // the exchange writes only once connected; after a refusal, onConnect opens it
      this.again = true;
      return true;
    }
    const chunked = fields.chunked;
    const hasBody = chunked || fields.contentLength > 0;
    let stream: ClientStream;
    try {
      stream = this.conn.session.request(fields.names, fields.values, !hasBody, this);
    } catch (err) {
      // the session went away between the pick and this write: the server never saw it
      this.connected = false;
      this.finish(new RefusedStream((err as Error).message));
      return false;
    }
    this.stream = stream;
    this.canWrite = true;
    if (chunked) {
      this.req = Req.CHUNKED;
      this.chunks = new ChunkedScanner(400, 64 * 1024);
    } else if (hasBody) {
      this.req = Req.LENGTH;
      this.left = fields.contentLength;
    } else {
      this.req = Req.DONE;
    }
    if (this.paused) stream.pause();
    const replay = this.replay;
    if (replay !== null) {
      this.replay = null;
      for (const bytes of replay) this.body(bytes);
    }
    return !this.closed;
  }

  private endRequest(): void {
    this.req = Req.DONE;
    const t = this.reqTrailers;
    this.stream!.end(t === null ? null : t.names, t === null ? null : t.values);
  }

  cork(): void {}
  uncork(): void {}
  /** The client is full: stop reading this stream (its window closes, no other's). */
  pause(): this {
    this.paused = true;
    this.stream?.pause();
    return this;
  }
  resume(): this {
    this.paused = false;
    this.stream?.resume();
    return this;
  }
  isPaused(): boolean {
    return this.paused;
  }
  /** A half-close has no HTTP/2 meaning here (tunnels do not go over HTTP/2 pools). */
  end(): this {
    this.destroy();
    return this;
  }

  /** Cancels the stream (RST_STREAM CANCEL) unless it is complete; the owner, if any, hears onUpstreamClose. */
  destroy(): void {
    if (this.closed || this.dead) return;
    const stream = this.stream;
    if (stream === null) {
      // no stream yet: nothing reached the server
      this.dead = true;
      this.connected = false;
      queueMicrotask(() => this.finish(undefined));
      return;
    }
    if (!stream.closed) {
      if (this.respEnded && this.req === Req.DONE) return; // complete: it closes by itself
      stream.reset(ErrorCode.CANCEL);
    }
  }

  /** The exchange is done with a complete response: the stream closes by itself. */
  release(): void {
    this.owner = null;
    if (this.paused) this.resume();
    if (this.req !== Req.DONE) this.destroy();
  }

  // ---- the response (h2-client's StreamHandler) -----------------------------------------

  /**
   * The response head goes to the exchange as fields, with what says how its body comes
   * here: chunked when the server gave no length (the chunks carry its trailers), a
   * length of 0 when the HEADERS frame ended the stream without one.
   */
  onStreamHead(status: number, names: string[], values: string[], contentLength: number, ended: boolean): void {
    this.sent = null;
    if (status >= 200) {
      this.respChunked = !ended && contentLength < 0;
      if (ended) this.respEnded = true;
      if (this.respChunked) {
        names.push('transfer-encoding');
        values.push('chunked');
      } else if (ended && contentLength < 0 && status !== 204 && status !== 304) {
        names.push('content-length');
        values.push('0');
      }
    }
    const owner = this.owner;
    if (owner === null) return;
    try {
      owner.onUpstreamHead(this, status, names, values);
    } catch (err) {
      owner.onInternalError(err);
    }
  }

  onStreamData(chunk: Buffer): void {
    if (!this.respChunked) {
      this.emit(chunk);
      return;
    }
    const size = chunk.length.toString(16);
    const framed = Buffer.allocUnsafe(size.length + 2 + chunk.length + 2);
    framed.write(size, 0, 'latin1');
    CRLF.copy(framed, size.length);
    chunk.copy(framed, size.length + 2);
    CRLF.copy(framed, framed.length - 2);
    this.emit(framed);
  }

  onStreamTrailers(lines: string): void {
    this.respTrailers = lines;
  }

  onStreamEnd(): void {
    if (this.respChunked && !this.respEnded) {
      this.respEnded = true;
      const t = this.respTrailers;
      this.emit(t === null ? '0\r\n\r\n' : lastChunkOf(t));
      return;
    }
    this.respEnded = true;
  }

  onStreamDrain(): void {
    this.canWrite = true;
    const owner = this.owner;
    if (owner === null) return;
    try {
      owner.onUpstreamDrain(this);
    } catch (err) {
      owner.onInternalError(err);
    }
  }

  onStreamClose(code: number, err: Error | undefined): void {
    if (err !== undefined) this.error = err;
    this.closedStream(code);
  }

  /**
   * The stream closed. One the server refused (REFUSED_STREAM, or above a
   * GOAWAY's last stream) never reached its application: it counts as never connected, and
   * the exchange sends it again, elsewhere, with the body bytes it had (kept up to
   * REPLAY_MAX; past that it fails like a reset).
   */
  private closedStream(code: number): void {
    const stream = this.stream!;
    const last = this.conn.goawayLast;
    const sent = this.sent;
    if (!this.respEnded && (code === ErrorCode.REFUSED_STREAM || (last >= 0 && stream.id > last))) {
      if (sent !== null && this.retries < SAME_SERVER_RETRIES && this.owner !== null && !this.closed) {
        this.sendAgain(sent);
        return;
      }
      this.error = new RefusedStream(`stream refused by the server${last >= 0 ? ` (GOAWAY, last stream ${last})` : ''}`);
      if (sent !== null) {
        this.connected = false;
        if (sent.length > 0 && this.owner !== null) carried = { owner: this.owner, bytes: sent };
      }
    }
    try {
      this.finish(this.error);
    } finally {
      carried = null;
    }
  }

  /**
   * A refused stream goes again to the same server, on another connection (a server that
   * rotates its connections with GOAWAY refuses the streams that crossed it, and a pool may
   * have no other server), up to SAME_SERVER_RETRIES times: the head and the body bytes it
   * had, then whatever the exchange writes next. After that, or when no connection can be
   * had, the exchange hears of a refusal and sends the request elsewhere.
   */
  private sendAgain(sent: Buffer[]): void {
    this.retries++;
    this.error = undefined;
    this.stream = null;
    this.req = Req.HEAD;
    this.chunks = null;
    this.left = 0;
    this.reqTrailers = null;
    this.respChunked = false;
    this.respTrailers = null;
    this.sent = [];
    this.sentBytes = 0;
    this.replay = sent;
    const conn = this.pool.moveStream(this);
    if (conn.connected) this.openRequest(this.fields!);
    else this.again = true;
  }

  private emit(data: Buffer | string): void {
    const owner = this.owner;
    if (owner === null) return;
    try {
      owner.onUpstreamData(this, typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
    } catch (err) {
      owner.onInternalError(err);
    }
  }

  /** Closed for good: the connection's stream count goes down, and the owner (if any) hears of it. */
  private finish(err: Error | undefined): void {
    if (this.closed) return;
    this.closed = true;
    this.pool.streamClosed(this);
    const owner = this.owner;
    this.owner = null;
    if (owner === null) return;
    try {
      owner.onUpstreamClose(this, err);
    } catch (e) {
      owner.onInternalError(e);
    }
  }
}
