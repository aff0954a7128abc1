/**
 * One request to an HTTP/2 server, as the exchange sees it: an Upstream whose socket takes
 * the HTTP/1.1 request bytes the exchange writes (its head, then the body with its own
 * framing) and gives back the response as HTTP/1.1 bytes (a head, then the body chunked
 * when the server gave no length, its trailers in the last chunk). So the exchange's
 * routing, retries, limits, framing checks and both client adapters work unchanged, and
 * the HTTP/1.1 path pays nothing for HTTP/2. Each request is its own stream, picked per
 * request, so one client connection spreads over every server.
 *
 * Flow control is per stream: when the client cannot take more, the exchange pauses this
 * "socket", the stream stops being read and only its own window closes; the connection's
 * window is granted as data arrives (Node does so), so other streams go on.
 */
import http2 from 'node:http2';
import type net from 'node:net';
import type { Expirable } from '../../core/sweeper.js';
import { ChunkedScanner } from '../http/chunked.js';
import { HttpParseError, parseRequestHead } from '../http/head.js';
import { expireUpstream, type Upstream, type UpstreamOwner } from '../http/upstream.js';
import { http1ResponseHead, http2RequestHeaders, lastChunk, trailersOf } from './upstream-headers.js';
import type { H2Connection, H2Upstream } from './upstream-session.js';

const { NGHTTP2_CANCEL, NGHTTP2_REFUSED_STREAM, NGHTTP2_FLAG_END_STREAM } = http2.constants;
const CRLF = Buffer.from('\r\n');
/** Limits for parsing our own request head again (the listener's were applied to the client's). */
const OWN_HEAD = { urlBytes: 1 << 20, headerCount: 10_000 };
const STREAM = Symbol('fulcrum.h2upstream');
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
type Owned = http2.ClientHttp2Stream & { [STREAM]: H2StreamConn };

const enum Req {
  /** The exchange has not written the whole head yet. */
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

export class H2StreamConn implements Upstream, Expirable {
  /** This object, posing as the socket the exchange writes to (see the methods below). */
  readonly sock: net.Socket;
  owner: UpstreamOwner | null;
  connected = false;
  readonly reused = false;
  deadline = 0;
  closed = false;
  private stream: Owned | null = null;
  private req = Req.HEAD;
  private head = '';
  private left = 0;
  private chunks: ChunkedScanner | null = null;
  private reqTrailers: http2.OutgoingHttpHeaders | null = null;
  /** The response's body goes chunked (the server gave no length). */
  private respChunked = false;
  private respTrailers: http2.IncomingHttpHeaders | null = null;
  private respEnded = false;
  private paused = false;
  private error: Error | undefined;
  /** Body bytes written so far, in the exchange's framing, while the server has not answered; null past REPLAY_MAX or once it answered. */
  private sent: Buffer[] | null = [];
  private sentBytes = 0;
  /** A refused stream's body bytes, written after the head before anything else. */
  private replay: Buffer[] | null = null;
  /** The request head, kept to send it again (see sendAgain). */
  private headText = '';
  /** Sent again on another connection to the same server after a refusal: waiting for it to be ready (the head), else null. */
  private again: string | null = null;
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
    if (this.again !== null) {
      // the request goes again on this new connection: the exchange has written it already
      const head = this.again;
      this.again = null;
      this.write(head);
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
    if (this.again !== null && bytes !== null && bytes.length > 0 && this.owner !== null) carried = { owner: this.owner, bytes };
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

  /** Request bytes: the head (opens the stream), then the body in the head's framing. Returns false while the stream's buffer is full. */
  write(data: Buffer | string, _encoding?: string): boolean {
    if (this.closed || this.dead) return false;
    if (this.again !== null) {
      // waiting for another connection after a refusal: body bytes join the replay
      (this.replay ??= []).push(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
      return true;
    }
    if (this.req === Req.HEAD) {
      const text = typeof data === 'string' ? data : data.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      if (end < 0) {
        this.head += text;
        return true;
      }
      const head = this.head + text.slice(0, end + 4);
      this.head = '';
      if (!this.open(head)) return false;
      const replay = this.replay;
      if (replay !== null) {
        this.replay = null;
        for (const bytes of replay) this.body(bytes);
      }
      if (typeof data === 'string' || end + 4 === data.length) return !this.stream!.writableNeedDrain;
      data = data.subarray(end + 4);
    }
    return this.body(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
  }

  /** Request body bytes in the exchange's framing (Content-Length or chunked). */
  private body(buf: Buffer): boolean {
    const stream = this.stream!;
    if (this.req === Req.DONE || this.closed) return !stream.writableNeedDrain;
    const sent = this.sent;
    if (sent !== null) {
      this.sentBytes += buf.length;
      if (this.sentBytes > REPLAY_MAX) this.sent = null;
      else sent.push(buf);
    }
    if (this.req === Req.LENGTH) {
      const take = Math.min(this.left, buf.length);
      this.left -= take;
      if (take > 0) stream.write(take === buf.length ? buf : buf.subarray(0, take));
      if (this.left === 0) this.endRequest();
    } else if (this.req === Req.CHUNKED) {
      const chunks = this.chunks!;
      try {
        chunks.scan(buf, 0, buf.length, (part) => stream.write(part));
      } catch (err) {
        if (!(err instanceof HttpParseError)) throw err;
        this.destroy();
        return false;
      }
      if (chunks.done) {
        this.reqTrailers = chunks.trailerText === '' ? null : trailersOf(chunks.trailerText);
        this.endRequest();
      }
    }
    return !stream.writableNeedDrain;
  }

  /** Opens the stream for the request head `text`; false when it could not be (the exchange hears of it through onUpstreamClose). */
  private open(text: string): boolean {
    this.headText = text;
    let req;
    try {
      req = parseRequestHead(text, OWN_HEAD);
    } catch (err) {
      if (!(err instanceof HttpParseError)) throw err;
      this.destroy();
      return false;
    }
    const chunked = req.chunked;
    const hasBody = chunked || req.contentLength > 0;
    const headers = http2RequestHeaders(req, this.pool.scheme);
    let stream: Owned;
    try {
      stream = this.conn.session.request(headers, { endStream: !hasBody, waitForTrailers: chunked }) as Owned;
    } catch (err) {
      // the session went away between the pick and this write: the server never saw it
      this.connected = false;
      this.finish(new RefusedStream((err as Error).message));
      return false;
    }
    stream[STREAM] = this;
    this.stream = stream;
    stream.on('response', onResponse);
    stream.on('headers', onInterim);
    stream.on('continue', onContinue);
    stream.on('data', onData);
    stream.on('trailers', onTrailers);
    stream.on('end', onEnd);
    stream.on('drain', onDrain);
    stream.on('error', onError);
    stream.on('close', onClose);
    if (chunked) {
      this.req = Req.CHUNKED;
      this.chunks = new ChunkedScanner(400, 64 * 1024);
      stream.on('wantTrailers', onWantTrailers);
    } else if (hasBody) {
      this.req = Req.LENGTH;
      this.left = req.contentLength;
    } else {
      this.req = Req.DONE;
    }
    if (this.paused) stream.pause();
    return true;
  }

  private endRequest(): void {
    this.req = Req.DONE;
    this.stream!.end();
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
    if (!stream.closed && !stream.destroyed) {
      if (this.respEnded && this.req === Req.DONE) return; // complete: it closes by itself
      stream.close(NGHTTP2_CANCEL);
    }
  }

  /** The exchange is done with a complete response: the stream closes by itself. */
  release(): void {
    this.owner = null;
    if (this.paused) this.resume();
    if (this.req !== Req.DONE) this.destroy();
  }

  // ---- the response --------------------------------------------------------------------

  /** @internal */ response(headers: http2.IncomingHttpHeaders, flags: number): void {
    this.sent = null;
    const ended = (flags & NGHTTP2_FLAG_END_STREAM) !== 0;
    this.respChunked = !ended && headers['content-length'] === undefined;
    if (ended) this.respEnded = true;
    this.emit(http1ResponseHead(headers, ended, this.respChunked));
  }

  /** @internal */ interim(headers: http2.IncomingHttpHeaders): void {
    this.sent = null;
    const status = Number(headers[':status']);
    if (status >= 100 && status < 200) this.emit(http1ResponseHead(headers, false, false));
  }

  /** @internal */ data(chunk: Buffer): void {
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

  /** @internal */ trailers(headers: http2.IncomingHttpHeaders): void {
    this.respTrailers = headers;
  }

  /** @internal */ responseEnd(): void {
    this.respEnded = true;
    if (this.respChunked) this.emit(lastChunk(this.respTrailers));
  }

  /** @internal */ wantTrailers(): void {
    const stream = this.stream!;
    if (stream.closed || stream.destroyed) return;
    stream.sendTrailers(this.reqTrailers ?? {});
  }

  /** @internal */ drain(): void {
    const owner = this.owner;
    if (owner === null) return;
    try {
      owner.onUpstreamDrain(this);
    } catch (err) {
      owner.onInternalError(err);
    }
  }

  /** @internal */ failed(err: Error): void {
    this.error = err;
  }

  /**
   * @internal the stream closed. One the server refused (REFUSED_STREAM, or above a
   * GOAWAY's last stream) never reached its application: it counts as never connected, and
   * the exchange sends it again, elsewhere, with the body bytes it had (kept up to
   * REPLAY_MAX; past that it fails like a reset).
   */
  closedStream(): void {
    const stream = this.stream!;
    const last = this.conn.goawayLast;
    const sent = this.sent;
    if (!this.respEnded && (stream.rstCode === NGHTTP2_REFUSED_STREAM || stream.id === undefined || (last >= 0 && stream.id > last))) {
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
    const head = this.headText;
    const conn = this.pool.moveStream(this);
    if (conn.connected) this.write(head);
    else this.again = head;
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

// Shared listeners (no closure per stream): each finds its H2StreamConn on the stream.
function onResponse(this: Owned, headers: http2.IncomingHttpHeaders, flags: number): void {
  this[STREAM].response(headers, flags);
}
function onInterim(this: Owned, headers: http2.IncomingHttpHeaders): void {
  this[STREAM].interim(headers);
}
function onContinue(this: Owned): void {
  this[STREAM].interim({ ':status': '100' } as unknown as http2.IncomingHttpHeaders);
}
function onData(this: Owned, chunk: Buffer): void {
  this[STREAM].data(chunk);
}
function onTrailers(this: Owned, headers: http2.IncomingHttpHeaders): void {
  this[STREAM].trailers(headers);
}
function onEnd(this: Owned): void {
  this[STREAM].responseEnd();
}
function onDrain(this: Owned): void {
  this[STREAM].drain();
}
function onWantTrailers(this: Owned): void {
  this[STREAM].wantTrailers();
}
function onError(this: Owned, err: Error): void {
  this[STREAM].failed(err);
}
function onClose(this: Owned): void {
  this[STREAM].closedStream();
}
