import { now } from '../../core/clock.js';
import type net from 'node:net';
import { ChunkedScanner } from './chunked.js';
import { HttpParseError, parseRequestHead, requestLinePrefixError, type RequestHead, type ResponseHead } from './head.js';
import type { FastBuffer } from '../../io/fast-buffer.js';
import { localResponse } from './local-response.js';
import { copyBytes, takeRead } from '../../io/read-buffer.js';
import { writeHeadAndBody, writeSocket } from '../../io/socket-write.js';
import { NativeSocket } from '../../io/native-socket.js';
import { parseProxyHeader, type ProxyAddress } from '../proxy-protocol.js';
import { rewriteResponseHead } from './rewrite.js';
import type { Upstream } from './upstream.js';
import { log } from '../../core/log.js';
import { Exchange, hasBareLF } from '../exchange/exchange.js';
import { fieldLines, type Fields } from '../exchange/added-fields.js';
import { listenClient, ownerOf, unlistenClient, type ClientEvents } from '../exchange/client-events.js';
import type { ExchangeListener } from '../exchange/listener.js';

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
/** A client socket: Node's, or one on the native addon's streams (plain listeners). */
export type ClientSocket = net.Socket | NativeSocket;

/** net `onread` callback of adopted client sockets (see read-buffer.ts). */
export function onClientRead(this: net.Socket, n: number): boolean {
  const c = ownerOf(this);
  try {
    c.onClientData(takeRead(n));
  } catch (err) {
    c.onInternalError(err);
  }
  return true;
}

/** Native client sockets' onBytes: reads straight from the addon's arena. */
function onBytes(this: NativeSocket, arena: Buffer, start: number, end: number, headLength: number): void {
  const c = ownerOf(this) as ClientConnection;
  try {
    c.onClientBytes(arena, start, end, headLength);
  } catch (err) {
    c.onInternalError(err);
  }
}

/** What an HTTP/1.1 connection needs from its listener (HttpFrontend) besides what every exchange does. */
export interface ConnectionListener extends ExchangeListener {
  /** Where a connection that opens with the HTTP/2 preface goes (h2c with prior knowledge), or null. */
  readonly edge: { readonly h2c: boolean; adoptH2c(sock: net.Socket, head: Buffer, proxied: ProxyAddress | null): void } | null;
  /** The connection closed. */
  forget(conn: ClientConnection): void;
  /** Logs a refused PROXY header (rate limited). */
  logProxyRefused(sock: { remoteAddress?: string | undefined } | string, why: string): void;
}

/** Pipelined bytes buffered while a response is pending before we stop reading. */
const PIPELINE_BUFFER = 64 * 1024;
/** Bodies up to this size are copied next to their head into one write. */
const COALESCE = 16 * 1024;
/**
 * One client connection and the request/response exchanges on it, one at a time (so
 * pipelined requests are answered in order). Works on raw socket bytes: heads are
 * parsed and rewritten, bodies are relayed as received (chunked framing is checked,
 * not re-encoded) with backpressure both ways.
 */
export class ClientConnection extends Exchange implements ClientEvents {
  declare protected readonly fe: ConnectionListener;
  /** Its slot in the frontend's list of connections. */
  listSlot = -1;
  private phase: Phase;
  /** Bytes read and not used yet: a partial head, body bytes not sent yet, pipelined requests. */
  private pending: Buffer | null = null;
  /** Requests seen on this connection. */
  private count = 0;
  private reqBodyLeft = 0;
  private reqChunks: ChunkedScanner | null = null;
  /** End the connection after the current exchange. */
  private closeAfter = false;
  private clientEnded = false;

  /**
   * @param proxied the client as a PROXY header already read named it (TLS listeners read
   *   it before the handshake), or undefined when this connection reads its own
   */
  constructor(
    private readonly sock: ClientSocket,
    fe: ConnectionListener,
    sharedBuffer: boolean,
    proxied?: ProxyAddress | null,
  ) {
    super(fe, sock, false, false);
    this.phase = fe.config.proxyProtocol === null || proxied !== undefined ? Phase.HEAD : Phase.PROXY;
    if (proxied !== undefined) this.proxied = proxied;
    this.deadline = now() + fe.timeouts.headerMs;
    const native = sock instanceof NativeSocket;
    listenClient(sock, this, !native && !sharedBuffer);
    if (native) sock.onBytes = onBytes;
    else if (!sharedBuffer) sock.resume(); // accepted paused (pauseOnConnect)
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
        if (!this.reqComplete && this.requestStarted) {
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
    this.proxied = r.command === 'proxy' ? r.source : null;
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
    this.phase = Phase.EXCHANGE;
    this.reqChunks = req.chunked ? new ChunkedScanner(400, this.fe.limits.headerBytes) : null;
    this.reqBodyLeft = req.chunked ? 0 : Math.max(req.contentLength, 0);
    this.reqComplete = !req.chunked && this.reqBodyLeft === 0;
    this.closeAfter ||= req.connClose || req.minor === 0;
    this.tunnelWanted = req.connUpgrade && req.upgrade !== undefined;
    this.begin(req);
  }

  protected live(): boolean {
    return this.phase === Phase.EXCHANGE;
  }

  protected version(): string {
    return this.req === null || this.req.minor === 1 ? '1.1' : '1.0';
  }

  protected routed(): void {
    this.dispatchFirst();
  }

  /** Writes the request head, plus whatever body bytes are already buffered. */
  protected sendRequest(up: Upstream): void {
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
        this.fail(err.status, err.reason);
        return;
      }
      this.pending = take === body.length ? null : body.subarray(take);
      this.reqBodySent = take > 0;
      if (!writeHeadAndBody(up.sock, this.reqHead, body, 0, take)) this.upstreamFull();
      if (this.reqComplete) this.requestSent();
      return;
    }
    this.writeUpstream(this.reqHead);
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

  protected override requestSent(): void {
    super.requestSent();
    if (this.pending !== null && this.pending.length > PIPELINE_BUFFER) {
      this.pausedForBuffer = true;
      this.updateClientFlow();
    }
  }

  protected pauseClient(paused: boolean): void {
    if (paused) this.sock.pause();
    else this.sock.resume();
  }

  /** @internal socket listener target */
  override onClientDrain(): void {
    if (this.phase !== Phase.TUNNEL) {
      super.onClientDrain();
    } else if (this.upPausedForClient) {
      this.upPausedForClient = false;
      this.up?.sock.resume();
    }
  }

  private writeClient(data: Buffer | string): void {
    this.sent += data.length;
    this.clientWritten(writeSocket(this.sock, data));
  }

  /** After a write to the client: `ok` false holds the server back until the client drains. */
  private clientWritten(ok: boolean): void {
    if (ok) return;
    if (this.phase !== Phase.TUNNEL) {
      this.holdUpstream();
    } else if (this.up !== null && !this.upPausedForClient) {
      this.upPausedForClient = true;
      this.up.sock.pause();
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
        // else pipelined requests are waiting: they are answered first (endResponse)
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
    this.clientGone();
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
    if (this.failSlowBody()) return;
    this.abortUpstream();
    this.sock.destroy();
  }

  // ---- server side -------------------------------------------------------------

  override onUpstreamData(up: Upstream, chunk: Buffer): void {
    if (this.phase === Phase.TUNNEL && up === this.up) this.writeClient(chunk);
    else super.onUpstreamData(up, chunk);
  }

  override onUpstreamEnd(up: Upstream): void {
    if (this.phase === Phase.TUNNEL && up === this.up) this.sock.end();
    else super.onUpstreamEnd(up);
  }

  override onUpstreamClose(up: Upstream, err: Error | undefined): void {
    if (this.phase === Phase.TUNNEL && up === this.up) {
      this.up = null;
      this.releaseServer();
      this.closeNow();
      return;
    }
    super.onUpstreamClose(up, err);
  }

  /** Interim 1xx responses reach HTTP/1.1 clients (an HTTP/1.0 client would not understand them). */
  protected sendInterim(resp: ResponseHead): boolean {
    if (this.req!.minor !== 1) return false;
    this.writeClient(rewriteResponseHead(resp, false, false, false));
    return true;
  }

  /** 101: the connection becomes a tunnel; bytes flow both ways untouched. */
  protected override startTunnel(resp: ResponseHead, buf: Buffer, offset: number, end: number, owned: boolean): void {
    this.phase = Phase.TUNNEL;
    this.deadline = 0;
    this.up!.deadline = 0;
    this.writeClient(rewriteResponseHead(resp, false, false, true, this.fe.added.tunnelLines(resp.minor)));
    if (this.fe.accessLog !== null) this.logAccess();
    if (offset < end) this.writeClient(owned ? buf.subarray(offset) : copyBytes(buf, offset, end));
    const early = this.pending;
    this.pending = null;
    if (early !== null) this.writeUpstream(early);
  }

  protected sendResponseHead(resp: ResponseHead, dropLength: boolean, cookie: string | null, _bodyless: boolean, buf: Buffer, offset: number, end: number, coalesce: boolean): number {
    // a body up to the close, or a server that answered before the request body ended:
    // finish the response, then close
    if (this.respUntilClose || !this.reqComplete) this.closeAfter = true;
    const head = rewriteResponseHead(resp, this.closeAfter, dropLength, false, this.fe.added.responseLines(this.responseVersion(resp), cookie, this.requestId), this.responseEdit());
    const bodyLen = end - offset;
    if (coalesce && bodyLen > 0 && bodyLen <= COALESCE) {
      // writeHeadAndBody copies what the kernel does not take at once
      this.sent += head.length;
      this.clientWritten(writeHeadAndBody(this.sock, head, buf, offset, end));
      return bodyLen;
    }
    this.writeClient(head);
    return 0;
  }

  protected sendBody(data: Buffer): boolean {
    return writeSocket(this.sock, data);
  }

  protected cutClient(): void {
    this.sock.destroy();
  }

  /** The response is complete: go on with the next request, or close. */
  protected endResponse(last: Buffer | null): void {
    if (last !== null) this.clientWritten(writeSocket(this.sock, last));
    this.req = null;
    this.reqHead = '';
    this.resp = null;
    this.reqChunks = null;
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

  /** Our own answer; errors close the connection (after the answer), others keep it when they can. */
  protected answer(status: number, body: string, type: string, fields: Fields, error: boolean): number {
    const headOnly = this.req?.method === 'HEAD';
    if (error) {
      const text = localResponse(status, body, false, headOnly, fieldLines(fields), type);
      this.closeNow(text);
      return text.length;
    }
    if (!this.reqComplete) this.closeAfter = true; // the body was meant for a server: not read here
    const text = localResponse(status, body, !this.closeAfter, headOnly, fieldLines(fields), type);
    this.sock.write(text);
    return text.length;
  }

  protected override answerError(status: number, body: string, type: string, retryAfter: boolean): void {
    if (this.phase !== Phase.CLOSED) super.answerError(status, body, type, retryAfter);
  }

  // ---- helpers -----------------------------------------------------------------

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
    unlistenClient(sock);
    this.fe.forget(this);
    this.fe.edge!.adoptH2c(sock, head, this.proxied);
  }
}

const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** Whether buf (from start) begins with as much of the HTTP/2 connection preface as it holds (at least its first line). */
function isH2Preface(buf: Buffer, start: number): boolean {
  const n = Math.min(H2_PREFACE.length, buf.length - start);
  return n >= 16 && buf.compare(H2_PREFACE, 0, n, start, start + n) === 0;
}

