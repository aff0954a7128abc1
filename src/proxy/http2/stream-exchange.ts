import type net from 'node:net';
import http2 from 'node:http2';
import type { Outcome, Pool, QueueWaiter } from '../../backend/pool.js';
import type { Server } from '../../backend/server.js';
import type { PickContext } from '../../balance/balancer.js';
import type { Expirable, Sweeper } from '../../core/sweeper.js';
import { IDEMPOTENT, keyHash } from '../http/exchange.js';
import type { FastBuffer } from '../../io/fast-buffer.js';
import type { HttpFrontend } from '../http/frontend.js';
import { HttpParseError, parseRequestHead, parseResponseHead, type RequestHead, type ResponseHead } from '../http/head.js';
import { httpsRedirect } from '../http/https-redirect.js';
import { errorBody } from '../http/local-response.js';
import { cookieValue, requestKey } from '../http/request-keys.js';
import { rewriteRequestHead, type ClientFacts } from '../http/rewrite.js';
import type { UpstreamConn, UpstreamOwner } from '../http/upstream.js';
import { encodeV1, encodeV2, type ProxyAddress } from '../proxy-protocol.js';
import { ChunkedScanner } from '../http/chunked.js';
import { copyBytes } from '../../io/read-buffer.js';
import { http1RequestHead, http2ResponseHeaders } from './headers.js';
import { log } from '../../core/log.js';
import { BodyBudget } from '../body-budget.js';

const { NGHTTP2_NO_ERROR, NGHTTP2_CANCEL, NGHTTP2_INTERNAL_ERROR } = http2.constants;
const CRLFCRLF = Buffer.from('\r\n\r\n');
const CRLF = Buffer.from('\r\n');
const LAST_CHUNK = Buffer.from('0\r\n\r\n');
/** Request body bytes held while no server connection takes them, before the stream is paused. */
const BODY_BUFFER = 64 * 1024;

/** What a stream needs from its HTTP/2 connection. */
export interface StreamHost {
  readonly fe: HttpFrontend;
  /** Client facts for header rewriting (proto https, or http for h2c). */
  readonly facts: ClientFacts;
  /** The client as a PROXY header named it, else null. */
  readonly proxied: ProxyAddress | null;
  readonly sock: net.Socket;
  readonly sweeper: Sweeper;
  /** Fields added to every response of the listener (Strict-Transport-Security). */
  readonly responseFields: ReadonlyArray<readonly [string, string]>;
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
 * One HTTP/2 request stream proxied to an HTTP/1.1 server of the pools the HTTP/1.1
 * engine uses (same upstream connection pools, retries, queue, passive health). The
 * request is translated into an HTTP/1.1 head and parsed by the strict parser; the
 * response head is parsed and turned into HTTP/2 fields, its body relayed (de-chunked)
 * with backpressure both ways: a slow client pauses the server connection, a slow server
 * pauses the stream, whose flow-control window then closes.
 */
export class StreamExchange implements UpstreamOwner, QueueWaiter, Expirable {
  /** The time the request body may take (null without a body). */
  private budget: BodyBudget | null = null;
  deadline = 0;
  private readonly fe: HttpFrontend;
  private req: RequestHead | null = null;
  private reqHead = '';
  private body = Body.NONE;
  /** The client sent END_STREAM: every body byte has been read. */
  private reqComplete = false;
  private reqBodySent = false;
  private headSent = false;
  private queuedBody: Buffer[] = [];
  private queuedBytes = 0;

  private pool: Pool | null = null;
  private server: Server | null = null;
  private up: UpstreamConn | null = null;
  private tried: Set<Server> | null = null;
  private attempts = 0;
  private maxAttempts = 1;
  private queued = false;
  private lastFailure: { status: number; detail: string } | null = null;
  private readonly ctx: PickContext = { avoid: null, hash: 0, sticky: null };

  private respBuf: Buffer | null = null;
  private resp: ResponseHead | null = null;
  /** Response headers (or an interim response) went to the client: no retry, no error answer. */
  private respStarted = false;
  private respBodyLeft = 0;
  private decoder: ChunkedScanner | null = null;
  private respUntilClose = false;
  private upReusable = false;
  /** Our side is over (response complete, error answered, or the stream reset). */
  private finished = false;

  private pausedForUpstream = false;
  private pausedForBuffer = false;
  private streamPaused = false;
  private upPausedForClient = false;
  /** Body parts the chunked decoder found in the current read. */
  private parts: Buffer[] = [];
  private readonly collect = (part: Buffer) => this.parts.push(part);

  constructor(
    private readonly host: StreamHost,
    private readonly stream: http2.ServerHttp2Stream,
    raw: readonly string[],
  ) {
    this.fe = host.fe;
    // shared listeners (no closures per stream)
    (stream as OwnedStream)[OWNER] = this;
    stream.on('data', onData);
    stream.on('end', onEnd);
    stream.on('drain', onDrain);
    stream.on('close', onClose);
    stream.on('error', ignore);
    host.sweeper.add(this);
    this.guard(() => this.start(raw, stream.endAfterHeaders));
  }

  /**
   * Sends the request to a server, unless the stream ended meanwhile. The host calls
   * this at once, or, for a client that resets streams, after the read that opened the
   * stream has been processed whole (dispatchLater), so that a stream reset in the same
   * read (rapid reset) never costs a server request.
   */
  dispatchNow(): void {
    if (this.finished || this.stream.closed || this.stream.destroyed) return;
    this.guard(() => this.dispatch(this.pool!.pick(this.ctx), false));
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

  // ---- request -----------------------------------------------------------------

  private start(raw: readonly string[], ended: boolean): void {
    const limits = this.fe.limits;
    const text = http1RequestHead(raw);
    if (typeof text !== 'string') {
      this.respondError(text.status, text.reason);
      return;
    }
    if (text.length > limits.headerBytes) {
      this.respondError(431, `request head larger than ${limits.headerBytes} bytes`);
      return;
    }
    let req: RequestHead;
    try {
      req = parseRequestHead(text, limits);
    } catch (err) {
      if (!(err instanceof HttpParseError)) throw err;
      this.respondError(err.status, err.reason);
      return;
    }
    this.req = req;
    this.reqComplete = ended;
    this.body = ended ? Body.NONE : req.contentLength >= 0 ? Body.LENGTH : Body.UNDECIDED;
    if (ended) this.deadline = 0;
    else {
      this.budget = BodyBudget.of(this.fe.timeouts, this.fe.limits);
      this.deadline = this.budget.begin(Date.now());
    }
    const pool = this.fe.route(req);
    if (pool === undefined) {
      const https = this.fe.config.httpsRedirect;
      if (https !== null) {
        const r = httpsRedirect(req, https);
        this.respondLocal(r.status, r.body, r.location === null ? {} : { location: r.location });
      } else {
        this.respondLocal(this.fe.noRoute.status, this.fe.noRoute.body, {});
      }
      return;
    }
    const facts = this.host.facts;
    const fwd = this.fe.forwarded;
    const head = rewriteRequestHead(req, facts, fwd.via ? { ...fwd, via: false } : fwd, false);
    // the request reached us over HTTP/2 (RFC 9110 section 7.6.3)
    this.reqHead = fwd.via ? `${head.slice(0, -2)}Via: 2 fulcrum\r\n\r\n` : head;
    this.pool = pool;
    const cfg = pool.config;
    this.maxAttempts = 1 + cfg.retries;
    this.ctx.hash = cfg.balance === 'maglev' ? keyHash(requestKey(cfg.hash, req, facts.ip)) : 0;
    this.ctx.sticky = cfg.balance === 'sticky' ? cookieValue(req, cfg.sticky.cookie) : null;
    // without a length, wait for the first DATA frame or the end: a GET whose END_STREAM
    // comes in an empty DATA frame then goes out without a body
    if (this.body !== Body.UNDECIDED) this.host.dispatchLater(this);
  }

  /** @internal stream listener target */
  onClientData(chunk: Buffer): void {
    if (this.finished || chunk.length === 0) return;
    this.deadline = this.budget!.add(chunk.length, Date.now());
    if (this.body === Body.UNDECIDED) {
      this.body = Body.CHUNKED;
      this.reqHead = `${this.reqHead.slice(0, -2)}Transfer-Encoding: chunked\r\n\r\n`;
      this.queue(chunk);
      this.host.dispatchLater(this);
      return;
    }
    const up = this.up;
    if (up !== null && this.headSent) this.writeBody(up, chunk);
    else this.queue(chunk);
  }

  private queue(chunk: Buffer): void {
    this.queuedBody.push(chunk);
    this.queuedBytes += chunk.length;
    if (this.queuedBytes > BODY_BUFFER && !this.pausedForBuffer) {
      this.pausedForBuffer = true;
      this.updateFlow();
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
    if (up !== null && this.headSent) {
      if (this.body === Body.CHUNKED) up.sock.write(LAST_CHUNK);
      this.requestSent(up);
    }
  }

  private writeBody(up: UpstreamConn, chunk: Buffer): void {
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
    if (!ok && !this.pausedForUpstream) {
      this.pausedForUpstream = true;
      this.updateFlow();
    }
  }

  private updateFlow(): void {
    const want = this.pausedForUpstream || this.pausedForBuffer;
    if (want === this.streamPaused) return;
    this.streamPaused = want;
    if (want) {
      this.stream.pause();
      this.budget?.pause(Date.now());
    } else {
      this.stream.resume();
      this.budget?.resume(Date.now());
    }
  }

  onUpstreamDrain(): void {
    if (this.pausedForUpstream) {
      this.pausedForUpstream = false;
      this.updateFlow();
    }
  }

  // ---- choosing a server -------------------------------------------------------

  private dispatch(server: Server | undefined, fresh: boolean): void {
    if (this.finished) return;
    if (server === undefined) {
      this.noServer();
      return;
    }
    this.attempts++;
    this.server = server;
    server.active++;
    this.respBuf = null;
    this.resp = null;
    this.headSent = false;
    const sendProxy = this.pool!.config.sendProxy;
    const up = this.fe.upstreamFor(server).acquire(this, fresh || sendProxy !== null);
    this.up = up;
    if (sendProxy !== null) up.sock.write(this.proxyHeader(sendProxy));
    up.deadline = Date.now() + (up.connected ? this.fe.timeouts.serverMs : this.fe.timeouts.connectMs);
    if (up.connected) this.sendHead(up);
  }

  private noServer(): void {
    const pool = this.pool!;
    const failure = this.lastFailure;
    if (this.tried !== null && failure !== null) {
      const detail = `${failure.detail}; tried ${[...this.tried].join(', ')}`;
      this.fe.logNoServer(pool, detail);
      this.respondError(failure.status, detail, failure.status === 503);
      return;
    }
    if (this.tried === null && !this.queued && pool.usable.length > 0 && pool.enqueue(this)) {
      this.queued = true;
      return;
    }
    const why = pool.usable.length > 0 ? `${pool.whyNone()}; the queue (size ${pool.config.queue.size}) is full` : pool.whyNone();
    this.fe.logNoServer(pool, why);
    this.respondError(503, `no server available in pool ${pool.name} (${why})`, true);
  }

  /** QueueWaiter: a server has room again. */
  wake(): void {
    this.queued = false;
    if (this.finished || this.up !== null) return;
    this.guard(() => this.dispatch(this.pool!.pick(this.ctx), false));
  }

  /** QueueWaiter: no server got room in time. */
  queueTimeout(): void {
    this.queued = false;
    if (this.finished || this.up !== null) return;
    const pool = this.pool!;
    this.fe.logNoServer(pool, `queue timeout after ${pool.config.queue.timeoutMs} ms: ${pool.whyNone()}`);
    this.respondError(503, `waited ${pool.config.queue.timeoutMs} ms in the queue of pool ${pool.name} and no server had room (${pool.whyNone()})`, true);
  }

  onUpstreamConnect(up: UpstreamConn): void {
    if (up !== this.up) return;
    up.deadline = Date.now() + this.fe.timeouts.serverMs;
    this.sendHead(up);
  }

  /** Head and the body bytes read so far, in one write when they are small. */
  private sendHead(up: UpstreamConn): void {
    this.headSent = true;
    const sock = up.sock;
    sock.cork();
    sock.write(this.reqHead, 'latin1');
    const queued = this.queuedBody;
    if (queued.length > 0) {
      this.queuedBody = [];
      this.queuedBytes = 0;
      for (const chunk of queued) this.writeBody(up, chunk);
      if (this.pausedForBuffer) {
        this.pausedForBuffer = false;
        this.updateFlow();
      }
    }
    if (this.reqComplete && this.body === Body.CHUNKED) sock.write(LAST_CHUNK);
    sock.uncork();
    if (this.reqComplete) this.requestSent(up);
  }

  private requestSent(up: UpstreamConn): void {
    this.deadline = 0;
    up.deadline = Date.now() + this.fe.timeouts.serverMs;
  }

  // ---- response ----------------------------------------------------------------

  onUpstreamData(up: UpstreamConn, chunk: Buffer): void {
    if (up !== this.up || this.finished) return;
    up.deadline = Date.now() + this.fe.timeouts.serverMs;
    if (this.resp === null) this.readResponseHead(chunk);
    else this.forwardResponseBody(chunk, 0);
  }

  onUpstreamBytes(up: UpstreamConn, arena: Buffer, start: number, end: number, _headLength: number): void {
    this.onUpstreamData(up, copyBytes(arena, start, end));
  }

  private readResponseHead(chunk: Buffer): void {
    let buf = this.respBuf === null ? chunk : Buffer.concat([this.respBuf, chunk]);
    const limits = this.fe.limits;
    for (;;) {
      const end = buf.indexOf(CRLFCRLF);
      if (end < 0) {
        if (buf.length > limits.headerBytes) this.badResponse('response head too large');
        else this.respBuf = buf;
        return;
      }
      if (end + 4 > limits.headerBytes) {
        this.badResponse('response head too large');
        return;
      }
      this.respBuf = null;
      let resp: ResponseHead;
      try {
        resp = parseResponseHead((buf as FastBuffer).latin1Slice(0, end + 4), limits.headerCount);
      } catch (err) {
        if (!(err instanceof HttpParseError)) throw err;
        this.badResponse(err.reason);
        return;
      }
      const rest = end + 4;
      if (resp.status >= 200) {
        this.startResponse(resp, buf, rest);
        return;
      }
      if (resp.status === 101) {
        this.badResponse('101 Switching Protocols without an Upgrade request');
        return;
      }
      // interim responses: 100 Continue and 103 Early Hints reach the client
      if (resp.status === 100 || resp.status === 103) {
        this.respStarted = true;
        try {
          this.stream.additionalHeaders(http2ResponseHeaders(resp, true, []));
        } catch {
          // a field HTTP/2 cannot carry: the hint is dropped, the final response follows
        }
      }
      if (rest === buf.length) return;
      buf = buf.subarray(rest);
    }
  }

  private startResponse(resp: ResponseHead, buf: Buffer, offset: number): void {
    const req = this.req!;
    const server = this.server!;
    const pool = this.pool!;
    const status = resp.status;
    this.report(server, status >= 500 ? 'server-error' : 'ok');
    this.resp = resp;
    this.respStarted = true;
    let dropLength = false;
    this.decoder = null;
    this.respUntilClose = false;
    this.upReusable = !resp.connClose && (resp.minor === 1 || resp.connKeepAlive);
    this.respBodyLeft = -1;
    if (req.method === 'HEAD' || status === 204 || status === 304) {
      this.respBodyLeft = 0;
    } else if (resp.hasTransferEncoding) {
      dropLength = true;
      if (resp.chunked) {
        this.decoder = new ChunkedScanner(502, this.fe.limits.headerBytes);
        if (resp.contentLength >= 0) this.upReusable = false;
      } else {
        this.respUntilClose = true;
      }
    } else if (resp.contentLength >= 0) {
      this.respBodyLeft = resp.contentLength;
    } else {
      this.respUntilClose = true;
    }
    if (this.respUntilClose || !this.reqComplete) this.upReusable = false;
    const extra: Array<readonly [string, string]> = [];
    if (this.fe.forwarded.via) extra.push(['via', resp.minor === 1 ? '1.1 fulcrum' : '1.0 fulcrum']);
    if (pool.config.balance === 'sticky' && this.ctx.sticky !== server.name) {
      extra.push(['set-cookie', `${pool.config.sticky.cookie}=${server.name}; Path=/; HttpOnly`]);
    }
    extra.push(...this.host.responseFields);
    const endNow = this.respBodyLeft === 0;
    try {
      this.stream.respond(http2ResponseHeaders(resp, dropLength, extra), { endStream: endNow });
    } catch (err) {
      this.respStarted = false;
      this.badResponse(`a response field HTTP/2 cannot carry (${(err as Error).message})`);
      return;
    }
    if (endNow) {
      if (offset < buf.length) this.upReusable = false;
      this.finishExchange();
      return;
    }
    if (offset < buf.length) this.forwardResponseBody(buf, offset);
  }

  /**
   * Relays response body bytes. The last part goes out with the end of the stream (one
   * write with END_STREAM rather than a write and an empty end, which also spares Node
   * an error object per stream for writes still queued when the stream closes).
   */
  private forwardResponseBody(buf: Buffer, offset: number): void {
    const len = buf.length;
    if (this.respUntilClose) {
      this.writeClient(offset === 0 ? buf : buf.subarray(offset));
      return;
    }
    let end: number;
    let last: Buffer | null = null;
    if (this.decoder !== null) {
      try {
        end = this.decoder.scan(buf, offset, len, this.collect);
      } catch (err) {
        this.parts = [];
        if (!(err instanceof HttpParseError)) throw err;
        this.resetStream(NGHTTP2_INTERNAL_ERROR);
        return;
      }
      if (end < 0) end = len;
      const parts = this.parts;
      this.parts = [];
      const done = this.decoder.done;
      const n = done ? parts.length - 1 : parts.length;
      for (let i = 0; i < n; i++) this.writeClient(parts[i]!);
      if (!done) return;
      last = parts.length > 0 ? parts[parts.length - 1]! : null;
    } else {
      end = offset + Math.min(this.respBodyLeft, len - offset);
      this.respBodyLeft -= end - offset;
      const slice = end > offset ? (offset === 0 && end === len ? buf : buf.subarray(offset, end)) : null;
      if (this.respBodyLeft > 0) {
        if (slice !== null) this.writeClient(slice);
        return;
      }
      last = slice;
    }
    if (this.finished) return;
    if (end < len) this.upReusable = false;
    this.finishExchange(last);
  }

  private writeClient(data: Buffer): void {
    if (this.stream.destroyed) return;
    if (!this.stream.write(data) && this.up !== null && !this.upPausedForClient) {
      this.upPausedForClient = true;
      this.up.sock.pause();
      this.deadline = Date.now() + this.fe.timeouts.clientMs;
    }
  }

  /** @internal stream listener target */
  onClientDrain(): void {
    if (this.upPausedForClient) {
      this.upPausedForClient = false;
      this.up?.sock.resume();
      this.deadline = this.reqComplete ? 0 : Date.now() + this.fe.timeouts.clientMs;
    }
  }

  /** The response is complete: the stream ends (with `last`, the final body bytes) and the server connection goes back to its pool. */
  private finishExchange(last: Buffer | null = null): void {
    this.finished = true;
    this.deadline = 0;
    const up = this.up;
    this.up = null;
    this.releaseServer();
    if (up !== null) {
      if (this.upPausedForClient) up.sock.resume();
      if (this.upReusable && this.reqComplete && this.pool!.config.sendProxy === null) up.pool.release(up);
      else up.destroy();
    }
    this.upPausedForClient = false;
    if (!this.stream.destroyed) {
      if (last === null) this.stream.end();
      else this.stream.end(last);
    }
    this.stopReading();
  }

  /** Our answer is complete while the client still sends a body: tell it to stop, without error (RFC 9113 section 8.1). */
  private stopReading(): void {
    if (this.reqComplete || this.stream.closed) return;
    this.stream.close(NGHTTP2_NO_ERROR);
  }

  onUpstreamEnd(up: UpstreamConn): void {
    if (up !== this.up) return;
    up.sock.destroy(); // handled in onUpstreamClose
  }

  onUpstreamClose(up: UpstreamConn, err: Error | undefined): void {
    if (up !== this.up) return;
    this.up = null;
    if (this.finished) return;
    if (this.resp !== null && this.respUntilClose) {
      this.finishExchange(); // close-delimited body: the close is the end
      return;
    }
    const server = this.server!;
    this.releaseServer();
    if (this.resp !== null) {
      this.resetStream(NGHTTP2_INTERNAL_ERROR); // truncated response: the client must see it was cut
      return;
    }
    const neverConnected = !up.connected;
    if (neverConnected) this.report(server, 'connect-error');
    else if (!up.reused) this.report(server, 'reset');
    const replayable = !this.respStarted && this.respBuf === null && this.reqComplete && !this.reqBodySent && IDEMPOTENT.has(this.req!.method);
    const code = err === undefined ? 'timeout' : ((err as NodeJS.ErrnoException).code ?? err.message);
    this.lastFailure = neverConnected
      ? { status: 503, detail: `could not connect to server ${server} (${code})` }
      : { status: 502, detail: `server ${server} closed the connection without a complete response` };
    if ((neverConnected || replayable) && this.attempts < this.maxAttempts) {
      if (!neverConnected && up.reused) {
        this.dispatch(server, true); // the keep-alive race: the same server, a fresh connection
        return;
      }
      this.ctx.avoid = this.tried ??= new Set();
      this.tried.add(server);
      this.dispatch(this.pool!.pick(this.ctx), false);
      return;
    }
    const f = this.lastFailure;
    if (neverConnected) this.fe.logNoServer(this.pool!, `${f.detail} after ${this.attempts} attempt(s)`);
    this.respondError(f.status, f.detail, f.status === 503);
  }

  onUpstreamTimeout(up: UpstreamConn): void {
    if (up !== this.up) return;
    if (!up.connected) {
      up.destroy(); // onUpstreamClose tries the next server
      return;
    }
    this.up = null;
    const server = this.server;
    if (server !== null) this.report(server, 'reset');
    this.releaseServer();
    up.destroy();
    if (this.resp !== null) {
      this.resetStream(NGHTTP2_INTERNAL_ERROR);
      return;
    }
    this.respondError(504, `server ${server} did not answer in time`);
  }

  private badResponse(reason: string): void {
    const server = this.server;
    this.abortUpstream();
    if (this.resp !== null) {
      this.resetStream(NGHTTP2_INTERNAL_ERROR);
      return;
    }
    this.respondError(502, `invalid response from server ${server}: ${reason}`);
  }

  // ---- stream end, deadlines -----------------------------------------------------

  /** @internal stream listener target */
  onStreamClose(): void {
    this.host.sweeper.delete(this);
    this.host.streamClosed();
    if (!this.finished) {
      // the client reset the stream, or the connection went away
      this.finished = true;
      this.abortUpstream();
      this.host.streamReset();
    }
    if (this.queued) {
      this.queued = false;
      this.pool!.dequeue(this);
    }
  }

  /** Client-side deadline: the request body stalled, or the client stopped reading the response. */
  expire(): void {
    this.guard(() => {
      if (this.finished) return;
      if (!this.reqComplete && !this.respStarted) {
        this.abortUpstream();
        this.respondError(408, BodyBudget.reason(this.budget, Date.now()));
        return;
      }
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

  /** An error of ours: status, text body, and Retry-After when a retry later may work. */
  private respondError(status: number, detail: string, retryAfter = false): void {
    this.respondLocal(status, errorBody(status, detail), retryAfter ? { 'retry-after': '1' } : {});
  }

  /** A complete response of our own (errors, no route, redirects). */
  private respondLocal(status: number, body: string, fields: Record<string, string>): void {
    this.abortUpstream();
    this.finished = true;
    this.deadline = 0;
    const stream = this.stream;
    if (stream.closed || stream.destroyed) return;
    if (stream.headersSent) {
      stream.close(NGHTTP2_INTERNAL_ERROR);
      return;
    }
    const payload = Buffer.from(body);
    const headOnly = this.req?.method === 'HEAD';
    stream.respond(
      {
        ':status': status,
        'content-type': 'text/plain; charset=utf-8',
        'content-length': payload.length,
        'cache-control': 'no-store',
        ...Object.fromEntries(this.host.responseFields),
        ...fields,
      },
      { endStream: headOnly },
    );
    if (!headOnly) stream.end(payload);
    this.stopReading();
  }

  private releaseServer(): void {
    const server = this.server;
    if (server !== null) {
      server.active--;
      this.server = null;
      this.pool!.released(server);
    }
  }

  private abortUpstream(): void {
    const up = this.up;
    this.up = null;
    this.releaseServer();
    if (up !== null) {
      up.owner = null;
      up.destroy();
    }
  }

  private report(server: Server, outcome: Outcome): void {
    const outlier = this.pool!.outlier;
    if (outlier !== null) outlier.record(server, outcome);
  }

  private proxyHeader(version: 'v1' | 'v2'): Buffer {
    const sock = this.host.sock;
    const src = this.host.proxied ?? { address: this.host.facts.ip, port: sock.remotePort ?? 0 };
    const dst = { address: sock.localAddress ?? '', port: sock.localPort ?? 0 };
    return version === 'v1' ? encodeV1(src, dst) : encodeV2(src, dst);
  }
}

function ignore(): void {}

const OWNER = Symbol('fulcrum.stream');
type OwnedStream = http2.ServerHttp2Stream & { [OWNER]: StreamExchange };

function onData(this: OwnedStream, chunk: Buffer): void {
  const x = this[OWNER];
  try {
    x.onClientData(chunk);
  } catch (err) {
    x.onInternalError(err);
  }
}

function onEnd(this: OwnedStream): void {
  const x = this[OWNER];
  try {
    x.onClientEnd();
  } catch (err) {
    x.onInternalError(err);
  }
}

function onDrain(this: OwnedStream): void {
  const x = this[OWNER];
  try {
    x.onClientDrain();
  } catch (err) {
    x.onInternalError(err);
  }
}

function onClose(this: OwnedStream): void {
  const x = this[OWNER];
  try {
    x.onStreamClose();
  } catch (err) {
    x.onInternalError(err);
  }
}
