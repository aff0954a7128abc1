import type { OutgoingHttpHeaders } from 'node:http2';
import { now } from '../../core/clock.js';
import type { Sweeper } from '../../core/sweeper.js';
import type { HttpFrontend } from '../http/frontend.js';
import type { ResponseHead } from '../http/head.js';
import type { ClientFacts } from '../http/rewrite.js';
import type { Upstream } from '../http/upstream.js';
import type { ProxyAddress } from '../proxy-protocol.js';
import { http2ResponseFields, http2ResponseHeaders, requestHeadOfFields } from './headers.js';
import { log } from '../../core/log.js';
import { Exchange } from '../exchange/exchange.js';
import type { Fields } from '../exchange/added-fields.js';
import { grpcAnswer, grpcStatusOf, grpcTimeoutMs, grpcTrailers, GRPC, isGrpcType } from './grpc.js';
import { trailersOf } from './upstream-headers.js';
import { ErrorCode } from './wire/frames.js';
import type { H2Stream, StreamEvents } from './h2-stream.js';
import type { Peer } from '../exchange/exchange.js';

const NGHTTP2_NO_ERROR = ErrorCode.NO_ERROR;
const NGHTTP2_CANCEL = ErrorCode.CANCEL;
const NGHTTP2_INTERNAL_ERROR = ErrorCode.INTERNAL_ERROR;
const CRLF = Buffer.from('\r\n');
const LAST_CHUNK = Buffer.from('0\r\n\r\n');
/** Request body bytes held while no server connection takes them, before the stream is paused. */
const BODY_BUFFER = 64 * 1024;
/** The empty queue of a stream without body bytes waiting (shared; replaced before a push). */
const NO_BODY: Buffer[] = [];

/** What a stream needs from its HTTP/2 connection. */
export interface StreamHost {
  readonly fe: HttpFrontend;
  /** Client facts for header rewriting (proto https, or http for h2c). */
  readonly facts: ClientFacts;
  /** The client as a PROXY header named it, else null. */
  readonly proxied: ProxyAddress | null;
  /** The client's socket (its addresses). */
  readonly sock: Peer;
  /** The client connection's TLS version ("TLSv1.3"), or '' for h2c. */
  readonly tlsVersion: string;
  readonly serverName: string;
  readonly sweeper: Sweeper;
  /** A stream of this connection closed. */
  streamClosed(): void;
  /** Calls `x.dispatchNow()`, at once or once the current read has been processed (see dispatchNow). */
  dispatchLater(x: StreamExchange): void;
  /** The client reset a stream before its response was done. */
  streamReset(): void;
}

const enum Body {
  /** No body: the HEADERS frame ended the stream, or DATA ended without bytes. */
  NONE,
  /** Content-Length given: bytes pass as they are (nghttp2 checks the length). */
  LENGTH,
  /** No length: relayed with chunked framing. */
  CHUNKED,
  /** Not known yet: waiting for the first DATA or the end of the stream. */
  UNDECIDED,
}

/**
 * One HTTP/2 request stream, the HTTP/2 adapter of the shared upstream Exchange (the same
 * pools, retries, queue, passive health, counters and access log as HTTP/1.1). The
 * request's fields become a request head under the HTTP/1.1 parser's rules; the
 * response head is turned into HTTP/2 fields, its body relayed (de-chunked) with
 * backpressure both ways: a slow client pauses the server connection, a slow server
 * pauses the stream, whose flow-control window then closes.
 */
export class StreamExchange extends Exchange implements StreamEvents {
  private body = Body.NONE;
  private queuedBody: Buffer[] = NO_BODY;
  private queuedBytes = 0;
  /** Our side is over (response complete, error answered, or the stream reset). */
  private finished = false;
  /** A gRPC request (content-type application/grpc...): our own errors answer with grpc-status. */
  private grpc = false;
  /** The call's grpc-timeout, running; null without one. */
  private grpcTimer: NodeJS.Timeout | null = null;
  /** The response was sent waiting for trailers (a chunked or gRPC response). */
  private trailersWanted = false;
  /** Trailers of ours that replace the server's (a gRPC call cut short), or null. */
  private ownTrailers: OutgoingHttpHeaders | null = null;
  /** The client's request trailers (field lines), or null. */
  private reqTrailers: string | null = null;

  constructor(
    private readonly host: StreamHost,
    private readonly stream: H2Stream,
    raw: readonly string[],
    ended: boolean,
  ) {
    super(host.fe, host.sock, true, true);
    this.facts = host.facts;
    this.proxied = host.proxied;
    stream.own(this);
    host.sweeper.add(this);
    // as guard() does, without a closure per stream
    try {
      this.start(raw, ended);
    } catch (err) {
      this.onInternalError(err);
    }
  }

  /**
   * Sends the request to a server, unless the stream ended meanwhile. The host calls
   * this at once, or, for a client that resets streams, after the read that opened the
   * stream has been processed whole (dispatchLater), so that a stream reset in the same
   * read (rapid reset) never costs a server request.
   */
  dispatchNow(): void {
    if (this.finished || this.stream.closed) return;
    try {
      this.dispatchFirst();
    } catch (err) {
      this.onInternalError(err);
    }
  }

  /** @internal runs a step; an exception costs this stream only */
  guard(step: () => void): void {
    try {
      step();
    } catch (err) {
      this.onInternalError(err);
    }
  }

  /** A bug of ours: it costs this stream only. */
  onInternalError(err: unknown): void {
    log().error({ err }, `internal error on an HTTP/2 stream of listener ${this.fe.name} (stream reset)`);
    this.finished = true;
    this.abortUpstream();
    if (!this.stream.closed) this.stream.close(NGHTTP2_INTERNAL_ERROR);
  }

  protected live(): boolean {
    return !this.finished;
  }

  protected version(): string {
    return '2';
  }

  // ---- request -----------------------------------------------------------------

  private start(raw: readonly string[], ended: boolean): void {
    this.readGrpc(raw);
    const req = requestHeadOfFields(raw, this.fe.limits);
    if (!('method' in req)) {
      this.fail(req.status, req.reason);
      return;
    }
    this.reqComplete = ended;
    this.body = ended ? Body.NONE : req.contentLength >= 0 ? Body.LENGTH : Body.UNDECIDED;
    this.begin(req);
  }

  /** Notes a gRPC request and starts its grpc-timeout, the call's deadline here too. */
  private readGrpc(raw: readonly string[]): void {
    let timeout = -1;
    for (let i = 0; i + 1 < raw.length; i += 2) {
      const name = raw[i]!;
      if (name === 'content-type') this.grpc = isGrpcType(raw[i + 1]!);
      else if (name === 'grpc-timeout') timeout = grpcTimeoutMs(raw[i + 1]!);
    }
    if (!this.grpc || timeout < 0) return;
    this.grpcTimer = setTimeout(() => this.guard(() => this.grpcDeadline(timeout)), Math.min(timeout, 0x7fffffff));
    this.grpcTimer.unref();
  }

  /** The call's grpc-timeout passed: DEADLINE_EXCEEDED, the server's stream cancelled. */
  private grpcDeadline(ms: number): void {
    this.grpcTimer = null;
    if (this.finished) return;
    const why = `deadline exceeded: the call's grpc-timeout of ${ms} ms passed at the balancer`;
    if (!this.stream.headersSent) {
      this.clientGone(); // the server's stream, or the place in the pool's queue
      this.answerError(504, why, 'text/plain', false);
      return;
    }
    this.endGrpc(GRPC.DEADLINE_EXCEEDED, why);
  }

  /** Ends a gRPC response already started with our trailers (the server's stream is cancelled); false when it cannot carry them. */
  private endGrpc(code: number, message: string): boolean {
    const stream = this.stream;
    if (!this.trailersWanted || stream.writableEnded) return false;
    this.finished = true;
    this.deadline = 0;
    this.abortUpstream();
    this.ownTrailers = grpcTrailers(code, message);
    stream.end(null);
    this.stopReading();
    return true;
  }

  /** @internal the response is written: its trailers go now (the server's, ours, or none) */
  wantTrailers(): void {
    const stream = this.stream;
    if (stream.closed) return;
    stream.sendTrailers(this.ownTrailers ?? trailersOf(this.responseTrailers()));
  }

  /** @internal the client sent trailers: they go in the request's last chunk */
  requestTrailers(lines: string): void {
    this.reqTrailers = lines;
  }

  /** The last chunk of the request body, with the client's trailers. */
  private lastChunk(): Buffer | string {
    return this.reqTrailers === null ? LAST_CHUNK : `0\r\n${this.reqTrailers}\r\n`;
  }

  /**
   * Without a length, waits for the first DATA frame or the end: a GET whose END_STREAM
   * comes in an empty DATA frame then goes out without a body.
   */
  protected routed(): void {
    if (this.body !== Body.UNDECIDED) this.host.dispatchLater(this);
  }

  protected override requestFraming(): string {
    return this.body === Body.CHUNKED ? 'Transfer-Encoding: chunked\r\n' : '';
  }

  /** @internal stream listener target */
  onClientData(chunk: Buffer): void {
    if (this.finished || chunk.length === 0) return;
    this.deadline = this.budget!.add(chunk.length, now());
    if (this.body === Body.UNDECIDED) {
      this.body = Body.CHUNKED;
      this.queue(chunk);
      this.host.dispatchLater(this);
      return;
    }
    const up = this.up;
    if (up !== null && this.requestStarted) this.writeRequestBody(up, chunk);
    else this.queue(chunk);
  }

  private queue(chunk: Buffer): void {
    if (this.queuedBody === NO_BODY) this.queuedBody = [];
    this.queuedBody.push(chunk);
    this.queuedBytes += chunk.length;
    if (this.queuedBytes > BODY_BUFFER && !this.pausedForBuffer) {
      this.pausedForBuffer = true;
      this.updateClientFlow();
    }
  }

  /** @internal stream listener target */
  onClientEnd(): void {
    if (this.finished) return;
    this.reqComplete = true;
    if (this.body === Body.UNDECIDED) {
      this.body = Body.NONE;
      this.deadline = 0;
      this.host.dispatchLater(this);
      return;
    }
    const up = this.up;
    if (up !== null && this.requestStarted) {
      if (this.body === Body.CHUNKED) up.sock.write(this.lastChunk(), 'latin1');
      this.requestSent();
    }
  }

  private writeRequestBody(up: Upstream, chunk: Buffer): void {
    this.reqBodySent = true;
    let ok: boolean;
    if (this.body === Body.CHUNKED) {
      up.sock.cork();
      up.sock.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
      up.sock.write(chunk);
      ok = up.sock.write(CRLF);
      up.sock.uncork();
    } else {
      ok = up.sock.write(chunk);
    }
    if (!ok) this.upstreamFull();
  }

  protected pauseClient(paused: boolean): void {
    if (paused) this.stream.pause();
    else this.stream.resume();
  }

  /** Head and the body bytes read so far, in one write when they are small. */
  protected sendRequest(up: Upstream): void {
    const sock = up.sock;
    if (this.body === Body.NONE && this.queuedBody.length === 0) {
      // a request without a body (most): the head alone, one write without cork's copy
      this.writeUpstream(this.reqHead);
      this.requestSent();
      return;
    }
    sock.cork();
    sock.write(this.reqHead, 'latin1');
    const queued = this.queuedBody;
    if (queued.length > 0) {
      this.queuedBody = NO_BODY;
      this.queuedBytes = 0;
      for (const chunk of queued) this.writeRequestBody(up, chunk);
      if (this.pausedForBuffer) {
        this.pausedForBuffer = false;
        this.updateClientFlow();
      }
    }
    if (this.reqComplete && this.body === Body.CHUNKED) sock.write(this.lastChunk(), 'latin1');
    sock.uncork();
    if (this.reqComplete) this.requestSent();
  }

  // ---- response ----------------------------------------------------------------

  /** 100 Continue and 103 Early Hints reach the client; a field HTTP/2 cannot carry drops the hint. */
  protected sendInterim(resp: ResponseHead): boolean {
    if (resp.status !== 100 && resp.status !== 103) return false;
    try {
      this.stream.additionalHeaders(http2ResponseHeaders(resp, true, []));
    } catch {
      // the final response follows
    }
    return true;
  }

  override serverName(): string {
    return this.host.serverName;
  }

  protected override tlsVersion(): string {
    return this.host.tlsVersion;
  }

  protected sendResponseHead(resp: ResponseHead, dropLength: boolean, cookie: string | null, bodyless: boolean): number {
    const fields = http2ResponseFields(resp, dropLength || resp.hasTransferEncoding, this.fe.added.response(this.responseVersion(resp), cookie, this.requestId), this.responseEdit());
    // a chunked body may end with trailers, and a gRPC call always does
    this.trailersWanted = !bodyless && (resp.chunked || this.grpc);
    try {
      this.stream.respondFields(resp.status, fields.names, fields.values, bodyless, this.trailersWanted);
    } catch (err) {
      this.resp = null;
      this.respStarted = false;
      this.badResponse(`a response field HTTP/2 cannot carry (${(err as Error).message})`);
      return -1;
    }
    return 0;
  }

  protected sendBody(data: Buffer): boolean {
    if (this.stream.closed) return true;
    return this.stream.write(data);
  }

  /**
   * The stream ends, with `last` (the final body bytes): one write with END_STREAM rather
   * than a write and an empty end, which also spares Node an error object per stream for
   * writes still queued when the stream closes.
   */
  protected endResponse(last: Buffer | null): void {
    this.finished = true;
    this.deadline = 0;
    const stream = this.stream;
    if (!stream.writableEnded) stream.end(last);
    this.stopReading();
  }

  /** Our answer is complete while the client still sends a body: tell it to stop, without error (RFC 9113 section 8.1). */
  private stopReading(): void {
    if (this.reqComplete || this.stream.closed) return;
    this.stream.close(NGHTTP2_NO_ERROR);
  }

  /** A cut gRPC call ends with UNAVAILABLE in its trailers (RST_STREAM would read as INTERNAL); anything else is reset. */
  protected cutClient(): void {
    if (this.grpc && this.endGrpc(GRPC.UNAVAILABLE, 'the server\'s stream ended before its response was complete')) return;
    this.resetStream(NGHTTP2_INTERNAL_ERROR);
  }

  // ---- stream end, deadlines -----------------------------------------------------

  /** @internal stream listener target */
  onClientClose(): void {
    this.host.sweeper.delete(this);
    if (this.grpcTimer !== null) clearTimeout(this.grpcTimer);
    this.host.streamClosed();
    if (!this.finished) {
      // the client reset the stream, or the connection went away
      this.finished = true;
      this.host.streamReset();
    }
    this.clientGone();
  }

  /** Client-side deadline: the request body stalled, or the client stopped reading the response. */
  expire(): void {
    this.guard(() => {
      if (this.finished || this.failSlowBody()) return;
      this.resetStream(NGHTTP2_CANCEL);
    });
  }

  // ---- helpers -----------------------------------------------------------------

  private resetStream(code: number): void {
    this.finished = true;
    this.deadline = 0;
    this.abortUpstream();
    if (!this.stream.closed) this.stream.close(code);
  }

  /** A complete response of our own (errors, no route, redirects). */
  protected answer(status: number, body: string, type: string, fields: Fields): number {
    this.finished = true;
    this.deadline = 0;
    const stream = this.stream;
    if (stream.closed) return 0;
    if (this.grpc && status >= 300) return this.answerGrpc(status, body, fields);
    if (stream.headersSent) {
      stream.close(NGHTTP2_INTERNAL_ERROR);
      return 0;
    }
    const payload = Buffer.from(body);
    const headOnly = this.req?.method === 'HEAD';
    const headers: OutgoingHttpHeaders = { ':status': status, 'content-type': type, 'content-length': payload.length, 'cache-control': 'no-store' };
    for (const [name, value] of fields) headers[name.toLowerCase()] = value;
    stream.respond(headers, headOnly, false);
    if (!headOnly) stream.end(payload);
    this.stopReading();
    return headOnly ? 0 : payload.length;
  }

  /** An answer of ours to a gRPC call: trailers-only with the gRPC status (or trailers, when its response already started). */
  private answerGrpc(status: number, body: string, fields: Fields): number {
    const stream = this.stream;
    const code = grpcStatusOf(status);
    const message = this.grpcReason(body);
    if (stream.headersSent) {
      this.finished = false; // endGrpc sets it again
      if (!this.endGrpc(code, message)) {
        this.finished = true;
        stream.close(NGHTTP2_INTERNAL_ERROR);
      }
      return 0;
    }
    const headers = grpcAnswer(code, message);
    for (const [name, value] of fields) headers[name.toLowerCase()] ??= value;
    stream.respond(headers, true, false);
    this.stopReading();
    return 0;
  }

  /** The text of an answer of ours, for grpc-message: its first line. */
  private grpcReason(body: string): string {
    const nl = body.indexOf('\n');
    return nl < 0 ? body : body.slice(0, nl);
  }
}
