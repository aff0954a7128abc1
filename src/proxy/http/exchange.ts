import { now } from '../../core/clock.js';
import type net from 'node:net';
import type { Outcome, Pool, QueueWaiter } from '../../backend/pool.js';
import type { PickContext } from '../../balance/balancer.js';
import { hashKey } from '../../balance/maglev.js';
import type { Server } from '../../backend/server.js';
import type { Expirable } from '../../core/sweeper.js';
import { ChunkedScanner } from './chunked.js';
import type { HttpFrontend } from './frontend.js';
import { BodyBudget } from '../body-budget.js';
import { HttpParseError, parseRequestHead, parseResponseHead, requestLinePrefixError, type RequestHead, type ResponseHead } from './head.js';
import type { FastBuffer } from '../../io/fast-buffer.js';
import { errorBody, localResponse, reasonPhrase } from './local-response.js';
import { copyBytes, takeRead } from '../../io/read-buffer.js';
import { writeHeadAndBody, writeSocket } from '../../io/socket-write.js';
import { NativeSocket } from '../../io/native-socket.js';
import { cookieValue, requestKey } from './request-keys.js';
import { encodeV1, encodeV2, parseProxyHeader, type ProxyAddress } from '../proxy-protocol.js';
import { rewriteRequestHead, rewriteResponseHead, type ClientFacts } from './rewrite.js';
import { httpsRedirect } from './https-redirect.js';
import type { UpstreamConn, UpstreamOwner } from './upstream.js';
import { log } from '../../core/log.js';

const enum Phase {
  /** Waiting for the PROXY protocol header of a downstream balancer (listener proxy_protocol). */
  PROXY,
  /** Waiting for (the rest of) a request head. */
  HEAD,
  /** A request is being forwarded and/or its response relayed. */
  EXCHANGE,
  /** After a 101: bytes flow both ways untouched. */
  TUNNEL,
  CLOSED,
}

const CRLFCRLF = Buffer.from('\r\n\r\n');
const OWNER = Symbol('fulcrum.connection');
/** A client socket: Node's, or one on the native addon's streams (plain listeners). */
export type ClientSocket = net.Socket | NativeSocket;
type OwnedSocket = ClientSocket & { [OWNER]: ClientConnection };

/** net `onread` callback of adopted client sockets (see read-buffer.ts). */
export function onClientRead(this: net.Socket, n: number): boolean {
  const c = (this as OwnedSocket)[OWNER];
  try {
    c.onClientData(takeRead(n));
  } catch (err) {
    c.onInternalError(err);
  }
  return true;
}

/** Native client sockets' onBytes: reads straight from the addon's arena. */
function onBytes(this: NativeSocket, arena: Buffer, start: number, end: number, headLength: number): void {
  const c = (this as OwnedSocket)[OWNER];
  try {
    c.onClientBytes(arena, start, end, headLength);
  } catch (err) {
    c.onInternalError(err);
  }
}

/** 'data' listener of client sockets that do not read through READ_BUFFER. */
function onData(this: OwnedSocket, chunk: Buffer): void {
  const c = this[OWNER];
  try {
    c.onClientData(chunk);
  } catch (err) {
    c.onInternalError(err);
  }
}

function onEnd(this: OwnedSocket): void {
  const c = this[OWNER];
  try {
    c.onClientEnd();
  } catch (err) {
    c.onInternalError(err);
  }
}

function onDrain(this: OwnedSocket): void {
  this[OWNER].onClientDrain();
}

function onClose(this: OwnedSocket): void {
  this[OWNER].onClientClose();
}

function ignore(): void {}

/** The path and query of a request target in any form ("/a?b", "http://h/a?b", "*"). */
function pathAndQuery(target: string): string {
  if (target.charCodeAt(0) === 0x2f) return target;
  const m = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/?#]*(.*)$/.exec(target);
  if (m === null || m[1] === '') return '/';
  return m[1]!.charCodeAt(0) === 0x2f ? m[1]! : `/${m[1]}`;
}

/** Hash of a request key; requests without the key spread at random. */
export function keyHash(key: string | null): number {
  return key === null ? (Math.random() * 0x100000000) >>> 0 : hashKey(key);
}
/** Pipelined bytes buffered while a response is pending before we stop reading. */
const PIPELINE_BUFFER = 64 * 1024;
/** Bodies up to this size are copied next to their head into one write. */
const COALESCE = 16 * 1024;
/** Methods a request may be sent again with, when nothing of it reached a server's application. */
export const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/**
 * One client connection and the request/response exchanges on it, one at a time (so
 * pipelined requests are answered in order). Works on raw socket bytes: heads are
 * parsed and rewritten, bodies are relayed as received (chunked framing is checked,
 * not re-encoded) with backpressure both ways.
 */
export class ClientConnection implements UpstreamOwner, Expirable, QueueWaiter {
  deadline = 0;
  private phase: Phase;
  /** The client as a downstream balancer's PROXY header names it (else the socket's peer). */
  private proxiedClient: ProxyAddress | null = null;
  private pending: Buffer | null = null;
  /** Client address facts, computed at the first request (idle connections never pay). */
  private facts: ClientFacts | null = null;
  /** Requests seen on this connection. */
  private count = 0;

  // The current exchange.
  private req: RequestHead | null = null;
  private reqHead = '';
  private reqBodyLeft = 0;
  private reqChunks: ChunkedScanner | null = null;
  private reqComplete = false;
  private reqBodySent = false;
  private tunnelWanted = false;
  private pool: Pool | null = null;
  private server: Server | null = null;
  private up: UpstreamConn | null = null;
  private connecting = false;
  private tried: Set<Server> | null = null;
  private attempts = 0;
  private maxAttempts = 1;
  /** Waiting in the pool's queue for a server below max_conn. */
  private queued = false;
  /** Why the last try failed (the answer when no server is left to try). */
  private lastFailure: { status: number; detail: string } | null = null;
  /** Reused for every pick on this connection. */
  private readonly ctx: PickContext = { avoid: null, hash: 0, sticky: null };
  private respBuf: Buffer | null = null;
  private resp: ResponseHead | null = null;
  private respStarted = false;
  private respBodyLeft = 0;
  private respChunks: ChunkedScanner | null = null;
  private respUntilClose = false;
  private upReusable = false;
  private closeAfter = false;
  private clientEnded = false;
  // For the access log: when the request arrived, the status answered, bytes written.
  private reqAt = 0;
  private status = 0;
  private sent = 0;

  // Flow control.
  private pausedForUpstream = false;
  private pausedForBuffer = false;
  private clientPaused = false;
  /** The time the request body in flight may take (made at the first body). */
  private budget: BodyBudget | null = null;
  private upPausedForClient = false;

  /**
   * @param proxied the client as a PROXY header already read named it (TLS listeners read
   *   it before the handshake), or undefined when this connection reads its own
   */
  constructor(
    private readonly sock: ClientSocket,
    private readonly fe: HttpFrontend,
    sharedBuffer: boolean,
    proxied?: ProxyAddress | null,
  ) {
    this.phase = fe.config.proxyProtocol === null || proxied !== undefined ? Phase.HEAD : Phase.PROXY;
    if (proxied !== undefined) this.proxiedClient = proxied;
    this.deadline = now() + fe.timeouts.headerMs;
    // shared listeners (no closures per connection): 10,000 idle connections must stay small
    (sock as OwnedSocket)[OWNER] = this;
    if (sock instanceof NativeSocket) {
      sock.onBytes = onBytes;
    } else if (!sharedBuffer) {
      sock.on('data', onData);
      sock.resume(); // accepted paused (pauseOnConnect)
    }
    sock.on('end', onEnd);
    sock.on('drain', onDrain);
    sock.on('error', ignore);
    sock.on('close', onClose);
  }

  /**
   * Asks the connection to end after the current exchange (graceful stop); when it is
   * idle now, it ends at once if `now` (else at its next response or keep-alive timeout).
   */
  closeWhenIdle(now = true): void {
    this.closeAfter = true;
    if (now && this.phase === Phase.HEAD && this.pending === null) this.sock.end();
  }

  /**
   * A bug of ours surfaced while handling this connection: it must cost this one
   * connection, never the process. Both sides are cut and the error is logged.
   */
  onInternalError(err: unknown): void {
    log().error({ err }, `internal error on a connection of listener ${this.fe.name} (connection closed)`);
    this.phase = Phase.CLOSED;
    this.abortUpstream();
    this.sock.destroy();
  }

  /** Ends the connection now. */
  destroy(): void {
    this.sock.destroy();
  }

  // ---- client side -------------------------------------------------------------

  /** @internal socket listener target */
  onClientData(chunk: Buffer): void {
    switch (this.phase) {
      case Phase.TUNNEL:
        this.writeUpstream(chunk);
        return;
      case Phase.CLOSED:
        return;
      case Phase.EXCHANGE:
        if (!this.reqComplete && !this.connecting) {
          this.deadline = this.budget!.add(chunk.length, now());
          const data = this.pending === null ? chunk : Buffer.concat([this.pending, chunk]);
          this.pending = null;
          this.forwardBody(data);
          return;
        }
        this.pending = this.pending === null ? chunk : Buffer.concat([this.pending, chunk]);
        if (this.pending.length > PIPELINE_BUFFER) {
          this.pausedForBuffer = true;
          this.updateClientFlow();
        }
        return;
      case Phase.HEAD:
        if (this.pending === null) {
          this.pending = chunk;
          if (this.count > 0) this.deadline = now() + this.fe.timeouts.headerMs;
        } else {
          this.pending = Buffer.concat([this.pending, chunk]);
        }
        this.readHead();
        return;
      case Phase.PROXY:
        this.pending = this.pending === null ? chunk : Buffer.concat([this.pending, chunk]);
        this.readProxyHeader();
    }
  }

  /**
   * Bytes from a native socket, in the addon's arena until the next batch of reads. A
   * read that is exactly one whole request head (the usual GET) is parsed from there:
   * no Buffer, no copy, no search. Anything else is copied out for onClientData, which
   * also answers a head this way refuses (with the bytes at hand: HTTP/2's preface, 4xx).
   */
  onClientBytes(arena: Buffer, start: number, end: number, headLength: number): void {
    if (this.phase === Phase.HEAD && this.pending === null && headLength === end - start && headLength <= this.fe.limits.headerBytes && arena[start] !== 0x0d) {
      let req: RequestHead | undefined;
      try {
        req = parseRequestHead((arena as FastBuffer).latin1Slice(start, end), this.fe.limits);
      } catch (err) {
        if (!(err instanceof HttpParseError)) throw err;
      }
      if (req !== undefined) {
        this.startExchange(req); // which sets the deadline
        return;
      }
    }
    this.onClientData(copyBytes(arena, start, end));
  }

  /** The PROXY header a trusted downstream balancer sends first; anything else closes the connection. */
  private readProxyHeader(): void {
    const buf = this.pending!;
    const r = parseProxyHeader(buf);
    if (r.error !== null) {
      this.fe.logProxyRefused(this.sock, r.error);
      this.phase = Phase.CLOSED;
      this.sock.destroy();
      return;
    }
    if (!r.done) return;
    this.proxiedClient = r.command === 'proxy' ? r.source : null;
    this.phase = Phase.HEAD;
    this.pending = r.consumed === buf.length ? null : buf.subarray(r.consumed);
    if (this.pending !== null) this.readHead();
  }

  /** Parses the next request head from `pending` when it is complete, and starts its exchange. */
  private readHead(): void {
    const buf = this.pending;
    if (buf === null) return;
    let start = 0;
    // RFC 9112 §2.2: ignore empty lines before a request line
    while (start < 8 && buf[start] === 0x0d && buf[start + 1] === 0x0a) start += 2;
    const end = buf.indexOf(CRLFCRLF, start);
    const limits = this.fe.limits;
    if (end < 0) {
      const bad = hasBareLF(buf, start) ? 'line ending without CR (bare LF)' : requestLinePrefixError(buf, start, Math.min(buf.length, start + limits.urlBytes + 16));
      if (bad !== null) this.fail(400, bad);
      else if (buf.length - start > limits.headerBytes) this.headTooLarge(buf, start);
      return;
    }
    if (end + 4 - start > limits.headerBytes) {
      this.headTooLarge(buf, start);
      return;
    }
    const raw = (buf as FastBuffer).latin1Slice(start, end + 4);
    this.pending = end + 4 === buf.length ? null : buf.subarray(end + 4);
    let req: RequestHead;
    try {
      req = parseRequestHead(raw, limits);
    } catch (err) {
      if (err instanceof HttpParseError) {
        // "PRI * HTTP/2.0" starts the HTTP/2 preface (h2c with prior knowledge)
        if (err.status === 505 && this.count === 0 && this.fe.edge?.h2c === true && isH2Preface(buf, start)) this.handOffToHttp2(buf.subarray(start));
        else this.fail(err.status, err.reason);
        return;
      }
      throw err;
    }
    this.startExchange(req);
  }

  /** 414 when the request line alone is over the target limit, 431 otherwise. */
  private headTooLarge(buf: Buffer, start: number): void {
    const limits = this.fe.limits;
    const firstLine = buf.indexOf(0x0a, start);
    if (firstLine < 0 || firstLine - start > limits.urlBytes + 16) {
      this.fail(414, `request target longer than ${limits.urlBytes} bytes`);
    } else {
      this.fail(431, `request head larger than ${limits.headerBytes} bytes`);
    }
  }

  private startExchange(req: RequestHead): void {
    this.count++;
    this.req = req;
    if (this.fe.accessLog !== null) {
      this.reqAt = Date.now();
      this.sent = 0;
    }
    this.phase = Phase.EXCHANGE;
    this.reqChunks = req.chunked ? new ChunkedScanner(400, this.fe.limits.headerBytes) : null;
    this.reqBodyLeft = req.chunked ? 0 : Math.max(req.contentLength, 0);
    this.reqComplete = !req.chunked && this.reqBodyLeft === 0;
    this.reqBodySent = false;
    this.closeAfter ||= req.connClose || req.minor === 0;
    const pool = this.fe.route(req);
    if (pool === undefined) {
      if (!this.reqComplete) this.closeAfter = true;
      const https = this.fe.config.httpsRedirect;
      if (https !== null) {
        const r = httpsRedirect(req, https);
        this.respondLocal(r.status, r.body, r.location === null ? '' : `Location: ${r.location}\r\n`);
        return;
      }
      const nr = this.fe.noRoute;
      this.respondLocal(nr.status, nr.body);
      return;
    }
    this.tunnelWanted = req.connUpgrade && req.upgrade !== undefined;
    const facts = (this.facts ??= this.fe.clientFacts(this.proxiedClient?.address ?? this.sock.remoteAddress ?? ''));
    this.reqHead = rewriteRequestHead(req, facts, this.fe.forwarded, this.tunnelWanted);
    this.deadline = this.reqComplete ? 0 : (this.budget ??= BodyBudget.of(this.fe.timeouts, this.fe.limits)).begin(now());
    this.pool = pool;
    this.tried = null;
    this.lastFailure = null;
    this.attempts = 0;
    const cfg = pool.config;
    this.maxAttempts = 1 + cfg.retries;
    const ctx = this.ctx;
    ctx.avoid = null;
    ctx.hash = cfg.balance === 'maglev' ? keyHash(requestKey(cfg.hash, req, facts.ip)) : 0;
    ctx.sticky = cfg.balance === 'sticky' ? cookieValue(req, cfg.sticky.cookie) : null;
    if (this.fe.config.mode === 'redirect') this.redirect(pool, req);
    else this.dispatch(pool.pick(ctx), false);
  }

  /**
   * Redirect mode: the answer sends the client to the chosen server's own URL, with the
   * same path and query; the balancer carries nothing after this response.
   */
  private redirect(pool: Pool, req: RequestHead): void {
    const server = pool.pick(this.ctx);
    if (server === undefined) {
      const why = pool.whyNone();
      this.fe.logNoServer(pool, why);
      this.fail(503, `no server available in pool ${pool.name} (${why})`, 'Retry-After: 1\r\n');
      return;
    }
    const location = server.url + pathAndQuery(req.target);
    const status = this.fe.config.redirect.status;
    if (!this.reqComplete) this.closeAfter = true; // the body was meant for the server: not read here
    this.respondLocal(status, `${status} ${reasonPhrase(status)}: server ${server.name} at ${location}\n`, `Location: ${location}\r\n`);
  }

  /** Sends the current request to `server` on a pooled or new connection. */
  private dispatch(server: Server | undefined, fresh: boolean): void {
    if (server === undefined) {
      this.noServer();
      return;
    }
    this.attempts++;
    this.server = server;
    server.active++;
    server.total++;
    this.respBuf = null;
    this.resp = null;
    this.respStarted = false;
    const sendProxy = this.pool!.config.sendProxy;
    // a PROXY header names one client: such connections are never shared (nor pooled)
    const up = this.fe.upstreamFor(server).acquire(this, fresh || sendProxy !== null);
    this.up = up;
    if (sendProxy !== null) up.sock.write(this.proxyHeader(sendProxy));
    up.deadline = now() + (up.connected ? this.fe.timeouts.serverMs : this.fe.timeouts.connectMs);
    if (up.connected) {
      this.connecting = false;
      this.sendHeadAndBody();
    } else {
      this.connecting = true;
    }
  }

  /** Nothing to pick: wait in the pool's queue when servers are only full, else 503. */
  private noServer(): void {
    const pool = this.pool!;
    const failure = this.lastFailure;
    if (this.tried !== null && failure !== null) {
      // retries ran out of servers: answer with what the last try met
      const detail = `${failure.detail}; tried ${[...this.tried].join(', ')}`;
      this.fe.logNoServer(pool, detail);
      this.fail(failure.status, detail, failure.status === 503 ? 'Retry-After: 1\r\n' : '');
      return;
    }
    if (this.tried === null && !this.queued && pool.usable.length > 0 && pool.enqueue(this)) {
      this.queued = true;
      return;
    }
    const why = pool.usable.length > 0 ? `${pool.whyNone()}; the queue (size ${pool.config.queue.size}) is full` : pool.whyNone();
    this.fe.logNoServer(pool, why);
    this.fail(503, `no server available in pool ${pool.name} (${why})`, 'Retry-After: 1\r\n');
  }

  /** QueueWaiter: a server has room again. */
  wake(): void {
    this.queued = false;
    if (this.phase !== Phase.EXCHANGE || this.up !== null) return;
    this.dispatch(this.pool!.pick(this.ctx), false);
  }

  /** QueueWaiter: waited `queue.timeout` without a server getting room. */
  queueTimeout(): void {
    this.queued = false;
    if (this.phase !== Phase.EXCHANGE || this.up !== null) return;
    const pool = this.pool!;
    this.fe.logNoServer(pool, `queue timeout after ${pool.config.queue.timeoutMs} ms: ${pool.whyNone()}`);
    this.fail(503, `waited ${pool.config.queue.timeoutMs} ms in the queue of pool ${pool.name} and no server had room (${pool.whyNone()})`, 'Retry-After: 1\r\n');
  }

  onUpstreamConnect(up: UpstreamConn): void {
    if (up !== this.up) return;
    this.connecting = false;
    up.deadline = now() + this.fe.timeouts.serverMs;
    this.sendHeadAndBody();
  }

  /** Writes the request head, plus whatever body bytes are already buffered. */
  private sendHeadAndBody(): void {
    const up = this.up!;
    if (this.pausedForBuffer && !this.reqComplete) {
      // body bytes that piled up while connecting are about to flow: read on
      this.pausedForBuffer = false;
      this.updateClientFlow();
    }
    const body = this.pending;
    if (body !== null && !this.reqComplete && body.length <= COALESCE) {
      // one write for head and body; forwardBody sends the body part only
      let take: number;
      try {
        take = this.bodyBytesIn(body);
      } catch (err) {
        if (!(err instanceof HttpParseError)) throw err;
        this.abortUpstream();
        this.fail(err.status, err.reason);
        return;
      }
      this.pending = take === body.length ? null : body.subarray(take);
      this.reqBodySent = take > 0;
      if (!writeHeadAndBody(up.sock, this.reqHead, body, 0, take) && !this.pausedForUpstream) {
        this.pausedForUpstream = true;
        this.updateClientFlow();
      }
      if (this.reqComplete) this.requestSent();
      return;
    }
    if (!writeSocket(up.sock, this.reqHead) && !this.pausedForUpstream) {
      this.pausedForUpstream = true;
      this.updateClientFlow();
    }
    if (this.reqComplete) {
      this.requestSent();
      return;
    }
    const rest = this.pending;
    this.pending = null;
    if (rest !== null) this.forwardBody(rest);
  }

  /**
   * Advances the request body framing over buf (from 0) and returns how many of its
   * bytes belong to the body. Sets reqComplete when the body ends inside buf.
   */
  private bodyBytesIn(buf: Buffer): number {
    if (this.reqChunks !== null) {
      const end = this.reqChunks.scan(buf, 0, buf.length);
      if (end < 0) return buf.length;
      this.reqComplete = true;
      return end;
    }
    const take = Math.min(this.reqBodyLeft, buf.length);
    this.reqBodyLeft -= take;
    if (this.reqBodyLeft === 0) this.reqComplete = true;
    return take;
  }

  /** Relays request body bytes from `chunk`; bytes past the body wait in `pending`. */
  private forwardBody(chunk: Buffer): void {
    let take: number;
    try {
      take = this.bodyBytesIn(chunk);
    } catch (err) {
      if (err instanceof HttpParseError) {
        this.abortUpstream();
        this.fail(err.status, err.reason);
        return;
      }
      throw err;
    }
    if (take > 0) {
      this.reqBodySent = true;
      this.writeUpstream(take === chunk.length ? chunk : chunk.subarray(0, take));
    }
    if (take < chunk.length) this.pending = chunk.subarray(take);
    if (this.reqComplete) this.requestSent();
  }

  /** The whole request is upstream: now only the server's answer matters. */
  private requestSent(): void {
    this.deadline = 0;
    if (this.up !== null) this.up.deadline = now() + this.fe.timeouts.serverMs;
    if (this.pending !== null && this.pending.length > PIPELINE_BUFFER) {
      this.pausedForBuffer = true;
      this.updateClientFlow();
    }
  }

  private writeUpstream(data: Buffer): void {
    const up = this.up;
    if (up === null) return;
    if (!writeSocket(up.sock, data) && !this.pausedForUpstream) {
      this.pausedForUpstream = true;
      this.updateClientFlow();
    }
  }

  onUpstreamDrain(): void {
    if (this.pausedForUpstream) {
      this.pausedForUpstream = false;
      this.updateClientFlow();
    }
  }

  private updateClientFlow(): void {
    const want = this.pausedForUpstream || this.pausedForBuffer;
    if (want === this.clientPaused) return;
    this.clientPaused = want;
    const budget = this.budget;
    if (want) {
      this.sock.pause();
      budget?.pause(now());
    } else {
      this.sock.resume();
      budget?.resume(now());
    }
  }

  /** @internal socket listener target */
  onClientDrain(): void {
    if (this.upPausedForClient) {
      this.upPausedForClient = false;
      this.up?.sock.resume();
      if (this.phase !== Phase.TUNNEL) this.deadline = this.reqComplete ? 0 : now() + this.fe.timeouts.clientMs;
    }
  }

  private writeClient(data: Buffer | string): void {
    this.sent += data.length;
    this.clientWritten(writeSocket(this.sock, data));
  }

  /** After a write to the client: `ok` false holds the server back until the client drains. */
  private clientWritten(ok: boolean): void {
    if (!ok && this.up !== null && !this.upPausedForClient) {
      this.upPausedForClient = true;
      this.up.sock.pause();
      if (this.phase !== Phase.TUNNEL) this.deadline = now() + this.fe.timeouts.clientMs;
    }
  }

  /** @internal socket listener target */
  onClientEnd(): void {
    this.clientEnded = true;
    switch (this.phase) {
      case Phase.PROXY:
        this.sock.destroy();
        return;
      case Phase.HEAD:
        if (this.pending !== null) this.sock.destroy(); // half a request: nothing to answer
        else this.sock.end();
        return;
      case Phase.EXCHANGE:
        if (!this.reqComplete || this.queued) {
          // a truncated request, or a client that gave up while its request waited for a
          // server (nothing was sent yet: HAProxy's abortonclose, nginx's 499)
          this.abortUpstream();
          this.sock.destroy();
        } else if (this.pending === null) {
          this.closeAfter = true;
        }
        // else pipelined requests are waiting: they are answered first (finishExchange)
        return;
      case Phase.TUNNEL:
        this.up?.sock.end();
        return;
    }
  }

  /** @internal socket listener target */
  onClientClose(): void {
    const up = this.up;
    if (this.phase === Phase.TUNNEL && up !== null) {
      // let the server receive what the client sent before it left
      this.up = null;
      this.releaseServer();
      up.owner = null;
      up.sock.end();
      up.deadline = now() + this.fe.timeouts.serverMs;
    }
    this.phase = Phase.CLOSED;
    this.abortUpstream();
    if (this.queued) {
      this.queued = false;
      this.pool!.dequeue(this);
    }
    this.fe.forget(this);
  }

  /** Client-side deadline passed (called by the sweeper). */
  expire(): void {
    try {
      this.expireNow();
    } catch (err) {
      this.onInternalError(err);
    }
  }

  private expireNow(): void {
    if (this.phase === Phase.PROXY) {
      this.fe.logProxyRefused(this.sock, 'no complete PROXY header in time');
      this.phase = Phase.CLOSED;
      this.sock.destroy();
      return;
    }
    if (this.phase === Phase.HEAD) {
      if (this.pending !== null || this.count === 0) this.fail(408, 'the request head did not arrive in time');
      else this.sock.end(); // idle keep-alive connection
      return;
    }
    if (this.phase === Phase.EXCHANGE && !this.reqComplete && !this.respStarted) {
      this.abortUpstream();
      this.fail(408, BodyBudget.reason(this.budget, now()));
      return;
    }
    this.abortUpstream();
    this.sock.destroy();
  }

  // ---- server side -------------------------------------------------------------

  onUpstreamData(up: UpstreamConn, chunk: Buffer): void {
    if (up !== this.up) return;
    if (this.phase === Phase.TUNNEL) {
      this.writeClient(chunk);
      return;
    }
    up.deadline = now() + this.fe.timeouts.serverMs;
    if (this.resp === null) {
      this.readResponseHead(chunk);
      return;
    }
    this.forwardResponseBody(chunk, 0);
  }

  /**
   * Bytes from a native upstream socket, in the addon's arena (see onClientBytes): a
   * final response head that starts a read of up to 4 KiB is parsed from there, and the
   * body after it is written from there. Anything else is copied out for onUpstreamData.
   */
  onUpstreamBytes(up: UpstreamConn, arena: Buffer, start: number, end: number, headLength: number): void {
    if (headLength > 0 && up === this.up && this.phase === Phase.EXCHANGE && this.resp === null && this.respBuf === null && headLength <= this.fe.limits.headerBytes) {
      let resp: ResponseHead | undefined;
      try {
        resp = parseResponseHead((arena as FastBuffer).latin1Slice(start, start + headLength), this.fe.limits.headerCount);
      } catch (err) {
        if (!(err instanceof HttpParseError)) throw err;
      }
      if (resp !== undefined && resp.status >= 200 && resp.status !== 101) {
        up.deadline = now() + this.fe.timeouts.serverMs;
        this.startResponse(resp, arena, start + headLength, end, false);
        return;
      }
    }
    this.onUpstreamData(up, copyBytes(arena, start, end));
  }

  private readResponseHead(chunk: Buffer): void {
    let buf = this.respBuf === null ? chunk : Buffer.concat([this.respBuf, chunk]);
    for (;;) {
      const end = buf.indexOf(CRLFCRLF);
      if (end < 0) {
        if (hasBareLF(buf, 0)) this.badResponse('line ending without CR (bare LF)');
        else if (buf.length > this.fe.limits.headerBytes) this.badResponse('response head too large');
        else this.respBuf = buf;
        return;
      }
      if (end + 4 > this.fe.limits.headerBytes) {
        this.badResponse('response head too large');
        return;
      }
      this.respBuf = null;
      let resp: ResponseHead;
      try {
        resp = parseResponseHead((buf as FastBuffer).latin1Slice(0, end + 4), this.fe.limits.headerCount);
      } catch (err) {
        if (err instanceof HttpParseError) {
          this.badResponse(err.reason);
          return;
        }
        throw err;
      }
      const rest = end + 4;
      if (resp.status >= 200 || (resp.status === 101 && this.tunnelWanted)) {
        this.startResponse(resp, buf, rest, buf.length, true);
        return;
      }
      if (resp.status === 101) {
        this.badResponse('101 Switching Protocols without an Upgrade request');
        return;
      }
      // interim 1xx (100 Continue, 103 Early Hints): relay to HTTP/1.1 clients, then read on
      if (this.req!.minor === 1) {
        this.respStarted = true;
        this.writeClient(rewriteResponseHead(resp, false, false, false, false));
      }
      if (rest === buf.length) return;
      buf = buf.subarray(rest);
    }
  }

  /**
   * Relays a final response head (and the body bytes buf[offset, end) read with it).
   * @param owned buf is ours (then end is buf.length); else it is the addon's arena, and
   *   what outlives this call is copied
   */
  private startResponse(resp: ResponseHead, buf: Buffer, offset: number, end: number, owned: boolean): void {
    const req = this.req!;
    this.resp = resp;
    this.respStarted = true;
    const status = resp.status;
    this.status = status;
    const server = this.server!;
    this.report(server, status >= 500 ? 'server-error' : 'ok');
    const pool = this.pool!;
    // fe.responseHead: header lines of the listener's own (Strict-Transport-Security), or ''
    const setCookie =
      pool.config.balance === 'sticky' && this.ctx.sticky !== server.name
        ? `Set-Cookie: ${pool.config.sticky.cookie}=${server.name}; Path=/; HttpOnly\r\n${this.fe.responseHead}`
        : this.fe.responseHead;
    if (status === 101) {
      this.phase = Phase.TUNNEL;
      this.deadline = 0;
      this.up!.deadline = 0;
      this.writeClient(rewriteResponseHead(resp, this.fe.forwarded.via, false, false, true));
      if (this.fe.accessLog !== null) this.logAccess(0);
      if (offset < end) this.writeClient(owned ? buf.subarray(offset) : copyBytes(buf, offset, end));
      const early = this.pending;
      this.pending = null;
      if (early !== null) this.writeUpstream(early);
      return;
    }
    let dropLength = false;
    this.respChunks = null;
    this.respUntilClose = false;
    this.upReusable = !resp.connClose && (resp.minor === 1 || resp.connKeepAlive);
    this.respBodyLeft = -1;
    if (req.method === 'HEAD' || status === 204 || status === 304) {
      this.respBodyLeft = 0;
    } else if (resp.hasTransferEncoding) {
      if (resp.chunked) {
        this.respChunks = new ChunkedScanner(502, this.fe.limits.headerBytes);
        if (resp.contentLength >= 0) {
          // RFC 9112 §6.3: Transfer-Encoding wins; the odd message ends the connection
          dropLength = true;
          this.upReusable = false;
        }
      } else {
        this.respUntilClose = true;
      }
    } else if (resp.contentLength >= 0) {
      this.respBodyLeft = resp.contentLength;
    } else {
      this.respUntilClose = true;
    }
    if (this.respUntilClose) {
      this.upReusable = false;
      this.closeAfter = true;
    }
    if (!this.reqComplete) {
      // the server answered before the request body ended: finish the response, then close
      this.closeAfter = true;
      this.upReusable = false;
    }
    const head = rewriteResponseHead(resp, this.fe.forwarded.via, this.closeAfter, dropLength, false, setCookie);
    const bodyLen = end - offset;
    if (bodyLen > 0 && bodyLen <= COALESCE && this.respChunks === null && !this.respUntilClose && bodyLen <= this.respBodyLeft) {
      // writeHeadAndBody copies what the kernel does not take at once
      this.respBodyLeft -= bodyLen;
      this.sent += head.length + bodyLen;
      this.clientWritten(writeHeadAndBody(this.sock, head, buf, offset, end));
      if (this.respBodyLeft === 0) this.finishExchange();
      return;
    }
    this.writeClient(head);
    if (bodyLen > 0 || this.respBodyLeft === 0) {
      if (owned) this.forwardResponseBody(buf, offset);
      else this.forwardResponseBody(copyBytes(buf, offset, end), 0);
    }
  }

  private forwardResponseBody(buf: Buffer, offset: number): void {
    const len = buf.length;
    if (this.respUntilClose) {
      this.writeClient(offset === 0 ? buf : buf.subarray(offset));
      return;
    }
    let end: number;
    if (this.respChunks !== null) {
      try {
        end = this.respChunks.scan(buf, offset, len);
      } catch (err) {
        if (!(err instanceof HttpParseError)) throw err;
        // the head is already out: all we can do is cut both connections
        this.abortUpstream();
        this.sock.destroy();
        return;
      }
      if (end < 0) end = len;
    } else {
      end = offset + Math.min(this.respBodyLeft, len - offset);
      this.respBodyLeft -= end - offset;
    }
    if (end > offset) this.writeClient(offset === 0 && end === len ? buf : buf.subarray(offset, end));
    const finished = this.respChunks !== null ? this.respChunks.done : this.respBodyLeft === 0;
    if (!finished) return;
    if (end < len) this.upReusable = false; // bytes after the response: the server is confused
    this.finishExchange();
  }

  /** The response is complete: recycle the upstream and go on with the next request. */
  private finishExchange(): void {
    if (this.fe.accessLog !== null && this.req !== null) this.logAccess(0);
    const up = this.up;
    this.up = null;
    this.releaseServer();
    if (up !== null) {
      if (this.upPausedForClient) up.sock.resume();
      if (this.upReusable && this.reqComplete && this.pool!.config.sendProxy === null) up.pool.release(up);
      else up.destroy();
    }
    this.upPausedForClient = false;
    this.req = null;
    this.reqHead = '';
    this.resp = null;
    this.reqChunks = null;
    this.respChunks = null;
    if (this.closeAfter || (this.clientEnded && this.pending === null)) {
      this.closeNow();
      return;
    }
    this.phase = Phase.HEAD;
    this.pausedForUpstream = false;
    this.pausedForBuffer = false;
    this.updateClientFlow();
    this.deadline = now() + (this.pending === null ? this.fe.timeouts.keepAliveMs : this.fe.timeouts.headerMs);
    if (this.pending !== null) this.readHead();
    // a client that ended after pipelining: nothing more comes, as if its FIN came now
    if (this.clientEnded && (this.phase as Phase) !== Phase.CLOSED) this.onClientEnd();
  }

  onUpstreamEnd(up: UpstreamConn): void {
    if (up !== this.up) return;
    if (this.phase === Phase.TUNNEL) {
      this.sock.end();
      return;
    }
    up.sock.destroy(); // handled in onUpstreamClose
  }

  onUpstreamClose(up: UpstreamConn, err: Error | undefined): void {
    if (up !== this.up) return;
    this.up = null;
    if (this.phase === Phase.TUNNEL) {
      this.releaseServer();
      this.closeNow();
      return;
    }
    if (this.phase !== Phase.EXCHANGE) return;
    if (this.resp !== null && this.respUntilClose) {
      this.finishExchange(); // close-delimited body: the close is the end
      return;
    }
    const server = this.server!;
    this.releaseServer();
    if (this.respStarted) {
      this.sock.destroy(); // truncated response: the client must see it was cut
      return;
    }
    const req = this.req!;
    const neverConnected = !up.connected;
    if (neverConnected) this.report(server, 'connect-error');
    else if (!up.reused) this.report(server, 'reset');
    // nothing of the answer came back: a request that never reached a server, or an
    // idempotent one without a body, can be sent again; anything else never twice
    const replayable = this.respBuf === null && this.reqComplete && !this.reqBodySent && IDEMPOTENT.has(req.method);
    const code = err === undefined ? 'timeout' : ((err as NodeJS.ErrnoException).code ?? err.message);
    this.lastFailure = neverConnected
      ? { status: 503, detail: `could not connect to server ${server} (${code})` }
      : { status: 502, detail: `server ${server} closed the connection without a complete response` };
    if ((neverConnected || replayable) && this.attempts < this.maxAttempts) {
      if (!neverConnected && up.reused) {
        // most likely the keep-alive race (the server closed an idle connection as we
        // reused it): the same server on a fresh connection
        this.dispatch(server, true);
        return;
      }
      this.ctx.avoid = this.tried ??= new Set();
      this.tried.add(server);
      this.dispatch(this.pool!.pick(this.ctx), false);
      return;
    }
    const f = this.lastFailure;
    if (neverConnected) this.fe.logNoServer(this.pool!, `${f.detail} after ${this.attempts} attempt(s)`);
    this.fail(f.status, f.detail, f.status === 503 ? 'Retry-After: 1\r\n' : '');
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
    if (this.respStarted || this.phase !== Phase.EXCHANGE) {
      this.sock.destroy();
      return;
    }
    this.fail(504, `server ${server} did not answer in time`);
  }

  private badResponse(reason: string): void {
    const server = this.server;
    this.abortUpstream();
    if (this.respStarted) {
      this.sock.destroy();
      return;
    }
    this.fail(502, `invalid response from server ${server}: ${reason}`);
  }

  // ---- helpers -----------------------------------------------------------------

  private releaseServer(): void {
    const server = this.server;
    if (server !== null) {
      server.active--;
      this.server = null;
      this.pool!.released(server);
    }
  }

  /** The PROXY header for a new upstream connection: the client (as we know it) and the address it reached. */
  private proxyHeader(version: 'v1' | 'v2'): Buffer {
    const src = this.proxiedClient ?? { address: this.facts!.ip, port: this.sock.remotePort ?? 0 };
    const dst = { address: this.sock.localAddress ?? '', port: this.sock.localPort ?? 0 };
    return version === 'v1' ? encodeV1(src, dst) : encodeV2(src, dst);
  }

  /** Passive health: how the server did (no-op without outlier detection). */
  private report(server: Server, outcome: Outcome): void {
    const outlier = this.pool!.outlier;
    if (outlier !== null) outlier.record(server, outcome);
  }

  /** Drops the upstream connection of the current exchange, if any. */
  private abortUpstream(): void {
    const up = this.up;
    this.up = null;
    this.releaseServer();
    if (up !== null) {
      up.owner = null;
      up.destroy();
    }
  }

  /** Answers with an error and closes the connection. */
  private fail(status: number, detail: string, extraHead = ''): void {
    if (this.phase === Phase.CLOSED) return;
    this.abortUpstream();
    const headOnly = this.req?.method === 'HEAD';
    const answer = localResponse(status, errorBody(status, detail), false, headOnly, extraHead);
    if (this.fe.accessLog !== null) {
      this.status = status;
      if (this.req === null) this.reqAt = Date.now();
      this.logAccess(answer.length);
    }
    this.closeNow(answer);
  }

  /** One access log line for the current exchange (`extra`: bytes about to be written). */
  private logAccess(extra: number): void {
    let client = this.proxiedClient?.address ?? this.sock.remoteAddress ?? '-';
    if (client.startsWith('::ffff:') && client.includes('.')) client = client.slice(7);
    const server = this.server;
    this.fe.accessLog!.request({ client, at: this.reqAt, req: this.req, status: this.status, bytes: this.sent + extra, server: server === null ? null : server.toString() });
  }

  /**
   * Sends FIN (after `last`, if given) but keeps reading and discarding what the client
   * still sends, so unread input does not turn our close into a reset that could destroy
   * the response in flight; a deadline ends the lingering.
   */
  private closeNow(last?: string): void {
    this.phase = Phase.CLOSED;
    if (last === undefined) this.sock.end();
    else this.sock.end(last);
    this.deadline = now() + Math.min(this.fe.timeouts.clientMs, 5000);
  }

  /**
   * The client opened with the HTTP/2 preface on an h2c listener: the socket goes to the
   * HTTP/2 server with the bytes read so far, and this connection steps aside.
   */
  private handOffToHttp2(head: Buffer): void {
    this.phase = Phase.CLOSED;
    const sock = this.sock as net.Socket; // h2c listeners use Node's sockets
    sock.off('end', onEnd);
    sock.off('drain', onDrain);
    sock.off('error', ignore);
    sock.off('close', onClose);
    sock.off('data', onData);
    this.fe.forget(this);
    this.fe.edge!.adoptH2c(sock, head, this.proxiedClient);
  }

  /** A response of our own for the current request (no-route, redirect), keeping the connection when possible. */
  private respondLocal(status: number, body: string, extraHead = ''): void {
    const keep = !this.closeAfter;
    const answer = localResponse(status, body, keep, this.req!.method === 'HEAD', extraHead);
    this.status = status;
    this.sent += answer.length;
    this.sock.write(answer);
    this.upReusable = false;
    this.finishExchange();
  }
}

const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** Whether buf (from start) begins with as much of the HTTP/2 connection preface as it holds (at least its first line). */
function isH2Preface(buf: Buffer, start: number): boolean {
  const n = Math.min(H2_PREFACE.length, buf.length - start);
  return n >= 16 && buf.compare(H2_PREFACE, 0, n, start, start + n) === 0;
}

/** True when buf (from start) has an LF not preceded by CR: such a head will never end in CRLF CRLF. */
function hasBareLF(buf: Buffer, start: number): boolean {
  let i = buf.indexOf(0x0a, start);
  while (i >= 0) {
    if (i === start || buf[i - 1] !== 0x0d) return true;
    i = buf.indexOf(0x0a, i + 1);
  }
  return false;
}
