import type { Outcome, Pool, QueueWaiter } from '../../backend/pool.js';
import type { Server } from '../../backend/server.js';
import type { PickContext } from '../../balance/balancer.js';
import { now } from '../../core/clock.js';
import { upstreamErrorChannel, type UpstreamErrorEvent } from '../../core/events.js';
import type { Expirable } from '../../core/sweeper.js';
import { BodyBudget } from '../body-budget.js';
import { ChunkedScanner } from '../http/chunked.js';
import { compressedEdit, type CompressionPolicy } from '../http/compress.js';
import { ResponseEncoder, type EncoderOwner } from '../http/response-encoder.js';
import type { FastBuffer } from '../../io/fast-buffer.js';
import { HttpParseError, parseResponseHead, responseHeadOf, type RequestHead, type ResponseHead } from '../http/head.js';
import { httpsRedirect } from '../http/https-redirect.js';
import { errorBody, reasonPhrase, TEXT_PLAIN, upstreamErrorBody } from '../http/local-response.js';
import { copyBytes } from '../../io/read-buffer.js';
import { newRequestId } from '../http/request-id.js';
import { rewriteRequestFields, rewriteRequestHead, type ClientFacts, type RequestEdit, type RequestFields, type ResponseEdit } from '../http/rewrite.js';
import type { HttpRoute, RuleContext } from '../http/http-route.js';
import { hostName } from '../http/router.js';
import { headerValue } from '../http/request-keys.js';
import { writeSocket } from '../../io/socket-write.js';
import type { Upstream, UpstreamOwner } from '../http/upstream.js';
import { encodeV1, encodeV2, type ProxyAddress } from '../proxy-protocol.js';
import { ERR_5XX, ERR_CONNECT, ERR_RESET, ERR_TIMEOUT, observeResponse, statsOf } from '../../metrics/server-stats.js';
import { NO_FIELDS, RETRY_AFTER, type Fields } from './added-fields.js';
import type { ExchangeListener } from './listener.js';
import { fillPickContext, stickyCookie } from './pick.js';

/** Methods a request may be sent again with, when nothing of it reached a server's application. */
export const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);
const CRLFCRLF = Buffer.from('\r\n\r\n');
const NO_BYTES = Buffer.alloc(0);

/** The client's socket addresses (for the PROXY header we send and the access log). */
export interface Peer {
  readonly remoteAddress?: string | undefined;
  readonly remotePort?: number | undefined;
  readonly localAddress?: string | undefined;
  readonly localPort?: number | undefined;
}

/**
 * One request's trip to a server and back, whatever protocol the client speaks: routing,
 * the pick, the pool's queue, dispatch on a pooled or new server connection, retries and
 * replay, reading and framing the response, release and passive health, counters and the
 * access log. An HTTP/1.1 connection (one exchange after another) and each HTTP/2 stream
 * are adapters: they parse or translate the request into a RequestHead, call begin(), feed
 * the request body, and implement the hooks below that put the answer on their wire.
 */
export abstract class Exchange implements UpstreamOwner, QueueWaiter, Expirable, EncoderOwner {
  deadline = 0;
  sweepSlot = -1;
  protected req: RequestHead | null = null;
  /** The head sent to HTTP/1.1 servers (built at the first dispatch to one). */
  protected reqHead = '';
  /** The request as HTTP/2 servers get it (built at the first dispatch to one), else null. */
  private reqFields: RequestFields | null = null;
  /** Every request body byte has been read from the client. */
  protected reqComplete = false;
  /** Some body bytes went to a server: the request can no longer be sent elsewhere. */
  protected reqBodySent = false;
  /** The request asks for a protocol switch (Upgrade): a 101 turns the exchange into a tunnel. */
  protected tunnelWanted = false;
  protected pool: Pool | null = null;
  /** The matched route of the current request. */
  protected route: HttpRoute | null = null;
  /** The route's changes to the request head (target, header rules), or null. */
  private reqEdit: RequestEdit | null = null;
  /** The request's credentials are being checked: its dispatch waits (dispatchWanted: it was asked for). */
  private authPending = false;
  private dispatchWanted = false;
  /** The route's changes to the response head; undefined until first asked. */
  private respEdit: ResponseEdit | null | undefined = undefined;
  protected server: Server | null = null;
  protected up: Upstream | null = null;
  /** The request head went to the current server connection (it is connected). */
  protected requestStarted = false;
  private tried: Set<Server> | null = null;
  private attempts = 0;
  private maxAttempts = 1;
  /** Waiting in the pool's queue for a server below max_conn. */
  protected queued = false;
  /** Why the last try failed (the answer when no server is left to try). */
  private lastFailure: { status: number; detail: string } | null = null;
  private readonly ctx: PickContext = { avoid: null, hash: 0, sticky: null };

  /** Bytes of a response head not complete yet. */
  protected respBuf: Buffer | null = null;
  protected resp: ResponseHead | null = null;
  /** A response head (final or interim) went to the client. */
  protected respStarted = false;
  private respBodyLeft = 0;
  private respChunks: ChunkedScanner | null = null;
  /** The response body ends when the server closes. */
  protected respUntilClose = false;
  protected upReusable = false;

  // flow control
  protected upPausedForClient = false;
  protected pausedForUpstream = false;
  protected pausedForBuffer = false;
  private clientPaused = false;
  /** The time the request body in flight may take (made at the first body). */
  protected budget: BodyBudget | null = null;

  /** Client facts for header rewriting, computed at the first request. */
  protected facts: ClientFacts | null = null;
  /** The client as a downstream balancer's PROXY header names it (else the socket's peer). */
  protected proxied: ProxyAddress | null = null;

  /** The request's ID (listener `request_id`), or null. */
  protected requestId: string | null = null;

  // for the access log: when the request arrived, the status answered, bytes written;
  // when the last attempt began, its server connection was ready and its response head
  // came (now(), 0 until then)
  protected reqAt = 0;
  protected status = 0;
  protected sent = 0;
  private tryAt = 0;
  private readyAt = 0;
  private headAt = 0;

  /** Body parts the chunked decoder found in the current read (adapters that de-chunk, and compression). */
  private parts: Buffer[] = [];
  /** Takes the parts into `parts`: set for a chunked response when de-chunking, and while compressing. */
  private collect: ((part: Buffer) => void) | undefined;
  private readonly dechunk: boolean;
  /** The response body's compression (compress.ts decides at its head), or null. */
  private encoder: ResponseEncoder | null = null;

  /**
   * @param peer the client's socket
   * @param dechunk the adapter's wire has its own framing: chunked response bodies reach
   *   sendBody decoded (HTTP/2), rather than as the server framed them (HTTP/1.1)
   * @param finalAfterInterim a final answer of ours can still follow an interim response
   *   (HTTP/2); else an interim response already sent means errors cut the connection
   */
  constructor(
    protected readonly fe: ExchangeListener,
    protected readonly peer: Peer,
    dechunk: boolean,
    private readonly finalAfterInterim: boolean,
  ) {
    this.dechunk = dechunk;
  }

  // ---- hooks of the protocol adapters --------------------------------------------------

  /** The exchange is still wanted (not answered, reset or tunnelled). */
  protected abstract live(): boolean;
  /** The HTTP version the client speaks: "1.0", "1.1" or "2". */
  protected abstract version(): string;
  /** The request is routed and its pick context set: dispatch it now or when ready (dispatchFirst). */
  protected abstract routed(): void;
  /** Header lines describing how the body is framed upstream, beyond the client's own (HTTP/2: chunked). */
  protected requestFraming(): string {
    return '';
  }
  /** Writes reqHead and the body bytes read so far to `up`; calls requestSent() once all of the request is out. */
  protected abstract sendRequest(up: Upstream): void;
  /** Stops (true) or resumes reading the request body from the client. */
  protected abstract pauseClient(paused: boolean): void;
  /** Relays an interim (1xx) response; false when this client does not get it. */
  protected abstract sendInterim(resp: ResponseHead): boolean;
  /**
   * Sends the final response head, with `added` (our fields) and without Content-Length
   * when `dropLength`. `bodyless`: nothing follows. When `coalesce`, the body bytes
   * buf[offset, end) are the whole rest of the body or a part of it and may go in the
   * same write: returns how many were taken (0 for none), or -1 when the head could not
   * be sent (badResponse was called).
   */
  /** The version the response came over, as AddedFields takes it: the head's HTTP/1 minor, or 2 from an HTTP/2 server. */
  protected responseVersion(resp: ResponseHead): number {
    return this.up?.http2 === true ? 2 : resp.minor;
  }

  protected abstract sendResponseHead(resp: ResponseHead, dropLength: boolean, cookie: string | null, bodyless: boolean, buf: Buffer, offset: number, end: number, coalesce: boolean): number;
  /** Relays response body bytes; false when the client is full (the server is paused until onClientDrain). */
  protected abstract sendBody(data: Buffer): boolean;
  /** The response is complete (with `last`, its final bytes): end it on the client's wire and go on. */
  protected abstract endResponse(last: Buffer | null): void;
  /**
   * Writes an answer of our own (`type`: its Content-Type; `fields` already hold the listener's); `error`: the
   * exchange ends with it (and an HTTP/1.1 connection closes). Returns the bytes written.
   */
  protected abstract answer(status: number, body: string, type: string, fields: Fields, error: boolean): number;
  /** The response was cut after its head went out: the client must see it incomplete. */
  protected abstract cutClient(): void;
  /** A bug of ours surfaced: it costs this exchange (or connection) only. */
  abstract onInternalError(err: unknown): void;
  /** The client-side deadline passed (the sweeper calls it). */
  abstract expire(): void;
  /** A 101 answered a request that asked for a protocol switch (HTTP/1.1 only). */
  protected startTunnel(_resp: ResponseHead, _buf: Buffer, _offset: number, _end: number, _owned: boolean): void {
    this.badResponse('101 Switching Protocols without an Upgrade request');
  }

  // ---- route rules ---------------------------------------------------------------------------

  /** What header rules may say about this request. */
  private ruleContext(): RuleContext {
    const req = this.req!;
    return { clientIp: this.facts!.ip, requestId: this.requestId, host: req.host === undefined ? '' : hostName(req.host), scheme: this.facts!.proto, tlsVersion: this.tlsVersion() };
  }

  /** The TLS server name (SNI) the client sent, lower case, or '' (routes may test it). */
  serverName(): string {
    return serverNameOf(this.peer);
  }

  /** The client connection's TLS version ("TLSv1.3"), or '' without TLS. */
  protected tlsVersion(): string {
    return tlsVersionOf(this.peer);
  }

  /** The route's changes to the response head (both protocols apply them), or null. */
  protected responseEdit(): ResponseEdit | null {
    if (this.respEdit !== undefined) return this.respEdit;
    const rules = this.route?.responseRules ?? null;
    this.respEdit = rules === null ? null : { remove: rules.remove, fields: rules.expand(this.ruleContext()) };
    return this.respEdit;
  }

  // ---- request ---------------------------------------------------------------------------

  /**
   * Routes a parsed request (reqComplete and tunnelWanted already set by the adapter):
   * answers it ourselves (no route, HTTPS redirect, redirect mode) or sets up the pick
   * and calls routed().
   */
  protected begin(req: RequestHead): void {
    this.req = req;
    this.reqBodySent = false;
    this.requestStarted = false;
    this.reqHead = '';
    this.reqFields = null;
    this.attempts = 0;
    if (this.fe.accessLog !== null) this.startRecord();
    const facts = (this.facts ??= this.fe.clientFacts(this.proxied?.address ?? this.peer.remoteAddress ?? ''));
    const ids = this.fe.requestIds;
    this.requestId = ids === null ? null : ids.idFor(req, facts.trusted);
    this.route = null;
    this.authPending = false;
    this.reqEdit = null;
    this.respEdit = undefined;
    if (!this.fe.admits(facts.ip)) {
      this.forbidden();
      return;
    }
    const route = this.fe.route(req, facts.ip, this);
    if (route === undefined) {
      const https = this.fe.config.httpsRedirect;
      if (https !== null) {
        const r = httpsRedirect(req, https);
        this.respondLocal(r.status, r.body, r.location === null ? NO_FIELDS : [['location', r.location]]);
      } else {
        this.respondLocal(this.fe.noRoute.status, this.fe.noRoute.body, NO_FIELDS);
      }
      return;
    }
    this.route = route;
    if (!route.admits(facts.ip)) {
      this.forbidden();
      return;
    }
    if (route.rateLimit !== null) {
      const wait = route.rateLimit.retryAfter(req, facts.ip);
      if (wait > 0) {
        this.respondLocal(429, '429 Too Many Requests\n', [['retry-after', String(wait)]]);
        return;
      }
    }
    if (route.auth !== null) {
      const verdict = route.auth.check(headerValue(req, 'authorization') ?? undefined);
      if (verdict === false) {
        this.unauthorized(route);
        return;
      }
      if (verdict !== true) {
        // bcrypt takes a while: the request waits, as in a pool's queue (dispatchFirst holds it)
        this.authPending = true;
        this.dispatchWanted = false;
        void verdict.then((ok) => this.authorized(req, ok));
        if (route.respond !== null || route.redirect !== null) return;
      }
    }
    if (this.answerRoute(route, req)) return;
    const pool = route.poolFor(req, facts.ip);
    const target = route.newTarget(req.target);
    if (target !== null || route.requestRules !== null) {
      this.reqEdit = { target, remove: route.requestRules?.remove ?? null, fields: route.requestRules?.expand(this.ruleContext()) ?? NO_FIELDS };
    }
    this.deadline = this.reqComplete ? 0 : (this.budget ??= BodyBudget.of(this.fe.timeouts, this.fe.limits)).begin(now());
    this.pool = pool;
    this.tried = null;
    this.lastFailure = null;
    const cfg = pool.config;
    this.maxAttempts = 1 + cfg.retries;
    fillPickContext(this.ctx, cfg, req, facts.ip);
    if (this.fe.config.mode === 'redirect') this.redirect(pool, req);
    else this.routed();
  }

  /**
   * Redirect mode: the answer sends the client to the chosen server's own URL, with the
   * same path and query; the balancer carries nothing after this response.
   */
  private redirect(pool: Pool, req: RequestHead): void {
    const server = pool.pick(this.ctx);
    if (server === undefined) {
      this.failUpstream(503, `no server available in pool ${pool.name} (${pool.whyNone()})`, true);
      return;
    }
    const location = server.url + pathAndQuery(req.target);
    const status = this.fe.config.redirect.status;
    this.respondLocal(status, `${status} ${reasonPhrase(status)}: server ${server.name} at ${location}\n`, [['location', location]]);
  }

  /** The first dispatch of a routed request (held while its credentials are checked). */
  protected dispatchFirst(): void {
    if (this.authPending) {
      this.dispatchWanted = true;
      return;
    }
    this.dispatch(this.pool!.pick(this.ctx), false);
  }

  /** The credentials of request `req` were checked: go on, or answer 401. */
  private authorized(req: RequestHead, ok: boolean): void {
    if (this.req !== req || !this.live() || !this.authPending) return;
    this.authPending = false;
    try {
      const route = this.route!;
      if (!ok) this.unauthorized(route);
      else if (!this.answerRoute(route, req) && this.dispatchWanted) this.dispatchFirst();
    } catch (err) {
      this.onInternalError(err);
    }
  }

  /** 401 with the route's challenge. */
  private unauthorized(route: HttpRoute): void {
    this.respondLocal(401, '401 Unauthorized\n', [['www-authenticate', route.auth!.challenge]]);
  }

  private forbidden(): void {
    this.respondLocal(403, '403 Forbidden\n', NO_FIELDS);
  }

  /** A route that answers itself (`respond`, `redirect`) answers; false for a route to a pool. */
  private answerRoute(route: HttpRoute, req: RequestHead): boolean {
    if (route.respond !== null) {
      this.respondLocal(route.respond.status, route.respond.body, NO_FIELDS, route.respond.contentType);
      return true;
    }
    if (route.redirect === null) return false;
    const location = route.location(req, this.facts!.proto);
    const status = route.redirect.status;
    this.respondLocal(status, `${status} ${reasonPhrase(status)}: ${location}\n`, [['location', location]]);
    return true;
  }

  /** Sends the current request to `server` on a pooled or new connection (`fresh`: never a pooled one). */
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
    this.requestStarted = false;
    const protocol = this.pool!.config.protocol;
    if (protocol === 'http1') {
      if (this.reqHead === '') this.reqHead = rewriteRequestHead(this.req!, this.facts!, this.fe.forwarded, this.tunnelWanted, this.version(), this.requestFraming(), this.fe.requestIds, this.requestId, this.reqEdit);
    } else if (this.reqFields === null) {
      // an HTTP/2 server takes the fields themselves (no head text); the adapter's body framing still says chunked or not
      const chunked = this.req!.chunked || this.requestFraming() !== '';
      this.reqFields = rewriteRequestFields(this.req!, this.facts!, this.fe.forwarded, this.version(), chunked, protocol === 'h2' ? 'https' : 'http', this.fe.requestIds, this.requestId, this.reqEdit);
    }
    const sendProxy = this.pool!.config.sendProxy;
    // a PROXY header names one client: such connections are never shared (nor pooled)
    const up = this.fe.upstreamFor(server).acquire(this, fresh || sendProxy !== null);
    this.up = up;
    this.tryAt = now(); // the response-time histogram's start, and the access log's
    if (this.fe.accessLog !== null) {
      this.readyAt = up.connected ? this.tryAt : 0;
      this.headAt = 0;
    }
    if (sendProxy !== null) up.sock.write(this.proxyHeader(sendProxy));
    up.deadline = now() + (up.connected ? this.fe.timeouts.serverMs : this.fe.timeouts.connectMs);
    if (up.connected) this.startRequest(up);
  }

  private startRequest(up: Upstream): void {
    this.requestStarted = true;
    // an HTTP/2 server's stream opens with the fields; the adapter then writes only the body (reqHead is '')
    if (up.openRequest !== undefined && !up.openRequest(this.reqFields!)) return;
    this.sendRequest(up);
  }

  /** Nothing to pick: wait in the pool's queue when servers are only full, else 503. */
  private noServer(): void {
    const pool = this.pool!;
    const failure = this.lastFailure;
    if (this.tried !== null && failure !== null) {
      // retries ran out of servers: answer with what the last try met
      this.failUpstream(failure.status, `${failure.detail}; tried ${[...this.tried].join(', ')}`, failure.status === 503);
      return;
    }
    if (this.tried === null && !this.queued && pool.usable.length > 0 && pool.enqueue(this)) {
      this.queued = true;
      return;
    }
    const why = pool.usable.length > 0 ? `${pool.whyNone()}; the queue (size ${pool.config.queue.size}) is full` : pool.whyNone();
    this.failUpstream(503, `no server available in pool ${pool.name} (${why})`, true);
  }

  /** QueueWaiter: a server has room again. */
  wake(): void {
    this.queued = false;
    if (!this.live() || this.up !== null) return;
    try {
      this.dispatchFirst();
    } catch (err) {
      this.onInternalError(err);
    }
  }

  /** QueueWaiter: waited `queue.timeout` without a server getting room. */
  queueTimeout(): void {
    this.queued = false;
    if (!this.live() || this.up !== null) return;
    const pool = this.pool!;
    this.failUpstream(503, `waited ${pool.config.queue.timeoutMs} ms in the queue of pool ${pool.name} and no server had room (${pool.whyNone()})`, true);
  }

  onUpstreamConnect(up: Upstream): void {
    if (up !== this.up) return;
    up.deadline = now() + this.fe.timeouts.serverMs;
    if (this.fe.accessLog !== null) this.readyAt = now();
    this.startRequest(up);
  }

  /** The whole request is upstream: now only the server's answer matters. */
  protected requestSent(): void {
    this.deadline = 0;
    if (this.up !== null) this.up.deadline = now() + this.fe.timeouts.serverMs;
  }

  /** Writes request bytes to the server; a full server connection stops the client's reading. */
  protected writeUpstream(data: Buffer | string): void {
    const up = this.up;
    if (up === null) return;
    if (!writeSocket(up.sock, data)) this.upstreamFull();
  }

  /** The server connection took a write only into its queue: stop reading the client until it drains. */
  protected upstreamFull(): void {
    if (this.pausedForUpstream) return;
    this.pausedForUpstream = true;
    this.updateClientFlow();
  }

  onUpstreamDrain(): void {
    if (this.pausedForUpstream) {
      this.pausedForUpstream = false;
      this.updateClientFlow();
    }
  }

  /** Reads the client while neither the server connection nor our buffer is full; the body's clock stops meanwhile. */
  protected updateClientFlow(): void {
    const want = this.pausedForUpstream || this.pausedForBuffer;
    if (want === this.clientPaused) return;
    this.clientPaused = want;
    this.pauseClient(want);
    const budget = this.budget;
    if (want) budget?.pause(now());
    else budget?.resume(now());
  }

  // ---- response --------------------------------------------------------------------------

  onUpstreamData(up: Upstream, chunk: Buffer): void {
    if (up !== this.up || !this.live()) return;
    up.deadline = now() + this.fe.timeouts.serverMs;
    if (this.resp === null) this.readResponseHead(chunk);
    else this.forwardResponseBody(chunk, 0);
  }

  /**
   * Bytes from a native upstream socket, in the addon's arena: a final response head
   * that starts a read of up to 4 KiB is parsed from there, and the body after it is
   * written from there. Anything else is copied out for onUpstreamData.
   */
  onUpstreamBytes(up: Upstream, arena: Buffer, start: number, end: number, headLength: number): void {
    if (headLength > 0 && up === this.up && this.live() && this.resp === null && this.respBuf === null && headLength <= this.fe.limits.headerBytes) {
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
    const limits = this.fe.limits;
    for (;;) {
      const end = buf.indexOf(CRLFCRLF);
      if (end < 0) {
        if (hasBareLF(buf, 0)) this.badResponse('line ending without CR (bare LF)');
        else if (buf.length > limits.headerBytes) this.badResponse('response head too large');
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
      if (!this.takeHead(resp, buf, rest) || rest === buf.length) return;
      buf = buf.subarray(rest);
    }
  }

  /**
   * A response head read (and buf[rest..], what came after it): a final one starts the
   * response; an interim one (100 Continue, 103 Early Hints) is relayed when the client
   * can take it. True when the next head is still to come.
   */
  private takeHead(resp: ResponseHead, buf: Buffer, rest: number): boolean {
    if (resp.status >= 200 || (resp.status === 101 && this.tunnelWanted)) {
      this.startResponse(resp, buf, rest, buf.length, true);
      return false;
    }
    if (resp.status === 101) {
      this.badResponse('101 Switching Protocols without an Upgrade request');
      return false;
    }
    if (this.sendInterim(resp)) this.respStarted = true;
    return true;
  }

  /**
   * A response head from an HTTP/2 server, as its status and fields (the lists are
   * taken): the same rules and limits as a head read as text, without the text.
   */
  onUpstreamHead(up: Upstream, status: number, names: string[], values: string[]): void {
    if (up !== this.up || !this.live()) return;
    up.deadline = now() + this.fe.timeouts.serverMs;
    const limits = this.fe.limits;
    // the size its HTTP/1.1 text would have ("HTTP/1.1 200 \r\n", a line per field, the empty line)
    let size = 17;
    for (let k = 0; k < names.length; k++) size += names[k]!.length + values[k]!.length + 4;
    if (size > limits.headerBytes) {
      this.badResponse('response head too large');
      return;
    }
    let resp: ResponseHead;
    try {
      resp = responseHeadOf(status, names, values, limits.headerCount);
    } catch (err) {
      if (!(err instanceof HttpParseError)) throw err;
      this.badResponse(err.reason);
      return;
    }
    this.takeHead(resp, NO_BYTES, 0);
  }

  /**
   * Relays a final response head (and the body bytes buf[offset, end) read with it).
   * @param owned buf is ours (then end is buf.length); else it is the addon's arena, and
   *   what outlives this call is copied
   */
  private startResponse(resp: ResponseHead, buf: Buffer, offset: number, end: number, owned: boolean): void {
    const status = resp.status;
    this.resp = resp;
    this.respStarted = true;
    this.status = status;
    if (this.fe.accessLog !== null) this.headAt = now();
    const server = this.server!;
    this.countStatus(status);
    if (status >= 500) statsOf(server).errors[ERR_5XX]!++;
    this.report(server, status >= 500 ? 'server-error' : 'ok');
    if (status === 101) {
      this.startTunnel(resp, buf, offset, end, owned);
      return;
    }
    let dropLength = false;
    this.respChunks = null;
    this.respUntilClose = false;
    this.upReusable = !resp.connClose && (resp.minor === 1 || resp.connKeepAlive);
    this.respBodyLeft = -1;
    if (this.req!.method === 'HEAD' || status === 204 || status === 304) {
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
    // a body up to the close, or a server that answered before the request body ended:
    // its connection is not used again
    if (this.respUntilClose || !this.reqComplete) this.upReusable = false;
    const cookie = stickyCookie(this.pool!.config, this.ctx, server.name);
    const policy = this.route?.compression ?? null;
    if (policy !== null && this.respBodyLeft !== 0 && this.startEncoding(policy, resp)) dropLength = true;
    const coalesce = this.encoder === null && this.respChunks === null && !this.respUntilClose && end - offset <= this.respBodyLeft;
    const took = this.sendResponseHead(resp, dropLength, cookie, this.respBodyLeft === 0, buf, offset, end, coalesce);
    if (took < 0) return;
    if (took > 0) {
      this.sent += took;
      this.respBodyLeft -= took;
      offset += took;
    }
    if (this.respBodyLeft === 0) {
      if (offset < end) this.upReusable = false; // bytes after the response: the server is confused
      this.finishExchange(null);
      return;
    }
    if (offset < end) {
      if (owned) this.forwardResponseBody(buf, offset);
      else this.forwardResponseBody(copyBytes(buf, offset, end), 0);
    }
  }

  /** The trailer section of the chunked response being relayed, as field lines ('' without; kept only when the adapter de-chunks). */
  protected responseTrailers(): string {
    return this.respChunks?.trailerText ?? '';
  }

  /** Relays response body bytes from buf[offset..]; the last part goes to endResponse. */
  private forwardResponseBody(buf: Buffer, offset: number): void {
    const len = buf.length;
    if (this.respUntilClose) {
      this.writeBody(offset === 0 ? buf : buf.subarray(offset));
      return;
    }
    let end: number;
    let last: Buffer | null = null;
    const chunks = this.respChunks;
    if (chunks !== null) {
      // an adapter that de-chunks collects the parts (from here: most responses are not chunked)
      if (this.dechunk) this.collectParts();
      try {
        end = chunks.scan(buf, offset, len, this.collect);
      } catch (err) {
        this.parts = [];
        if (!(err instanceof HttpParseError)) throw err;
        this.cutResponse(); // the head is already out: all we can do is cut both connections
        return;
      }
      if (end < 0) end = len;
      const done = chunks.done;
      if (this.collect === undefined) {
        if (end > offset) this.writeBody(offset === 0 && end === len ? buf : buf.subarray(offset, end));
      } else {
        const parts = this.parts;
        this.parts = [];
        const n = done ? parts.length - 1 : parts.length;
        for (let i = 0; i < n; i++) this.writeBody(parts[i]!);
        if (done && parts.length > 0) last = parts[parts.length - 1]!;
      }
      if (!done) return;
    } else {
      end = offset + Math.min(this.respBodyLeft, len - offset);
      this.respBodyLeft -= end - offset;
      const slice = end > offset ? (offset === 0 && end === len ? buf : buf.subarray(offset, end)) : null;
      if (this.respBodyLeft > 0) {
        if (slice !== null) this.writeBody(slice);
        return;
      }
      last = slice;
    }
    if (!this.live()) return; // a write above failed and ended the exchange
    if (end < len) this.upReusable = false; // bytes after the response: the server is confused
    this.finishExchange(last);
  }

  /** Relays body bytes (through the encoder when compressing); a full client holds the server back until it drains. */
  protected writeBody(data: Buffer): void {
    if (this.encoder !== null) {
      this.encoder.write(data);
      return;
    }
    this.sent += data.length;
    if (!this.sendBody(data)) this.holdUpstream();
  }

  // ---- compression (compress.ts decides, response-encoder.ts streams) ---------------------

  /** Compresses this response when the route's policy says so: true when it does (its Content-Length goes). */
  private startEncoding(policy: CompressionPolicy, resp: ResponseHead): boolean {
    const coding = policy.coding(this.req!, resp);
    if (coding === null) return false;
    // HTTP/2 frames the body itself; HTTP/1.1 gets chunks, unless the body ends with the connection
    const chunked = !this.dechunk && !this.respUntilClose;
    this.respEdit = compressedEdit(this.responseEdit(), resp, coding, chunked && this.respChunks === null);
    this.encoder = new ResponseEncoder(coding, policy.level(coding), chunked, this);
    this.collectParts();
    return true;
  }

  /** From now on the chunked decoder's parts go into `parts`, to be relayed or compressed. */
  private collectParts(): void {
    this.collect ??= (part) => this.parts.push(part);
  }

  /** EncoderOwner: compressed bytes for the client. */
  encoded(data: Buffer): void {
    if (!this.live()) return;
    this.sent += data.length;
    try {
      if (!this.sendBody(data)) this.holdUpstream();
    } catch (err) {
      this.onInternalError(err);
    }
  }

  /** EncoderOwner: the compressed body is complete. */
  encodedEnd(last: Buffer | null): void {
    this.encoder = null;
    if (!this.dechunk) this.collect = undefined;
    if (!this.live()) return;
    try {
      this.finishExchange(last);
    } catch (err) {
      this.onInternalError(err);
    }
  }

  /** EncoderOwner: zlib is behind; the server waits (with the client's deadline, as for a full client). */
  encoderFull(): void {
    this.holdUpstream();
  }

  /** EncoderOwner: zlib caught up. */
  encoderDrained(): void {
    this.onClientDrain();
  }

  /** EncoderOwner: zlib failed; the head is out, so the response is cut. */
  encoderFailed(): void {
    this.encoder = null;
    this.cutResponse();
  }

  /** Stops compressing an abandoned response. */
  private dropEncoder(): void {
    this.encoder!.destroy();
    this.encoder = null;
    if (!this.dechunk) this.collect = undefined;
    this.parts = [];
  }

  /** The client is full: stop reading the server, and give the client clientMs to drain. */
  protected holdUpstream(): void {
    const up = this.up;
    if (up === null || this.upPausedForClient) return;
    this.upPausedForClient = true;
    up.sock.pause();
    this.deadline = now() + this.fe.timeouts.clientMs;
  }

  /** The client drained: read the server again. */
  onClientDrain(): void {
    if (this.upPausedForClient) {
      this.upPausedForClient = false;
      this.up?.sock.resume();
      this.deadline = this.reqComplete ? 0 : now() + this.fe.timeouts.clientMs;
    }
  }

  /**
   * The response is complete: log it, recycle the server connection, end the response.
   * When compressing, the server's part ends here and the rest when the encoder's tail
   * is out (encodedEnd calls this again).
   */
  protected finishExchange(last: Buffer | null): void {
    const enc = this.encoder;
    if (enc !== null) {
      const up = this.up;
      this.up = null;
      if (up !== null) this.recycle(up);
      enc.end(last, this.responseTrailers());
      return;
    }
    if (last !== null) this.sent += last.length;
    if (this.fe.accessLog !== null && this.req !== null) this.logAccess();
    const up = this.up;
    this.up = null;
    if (this.server !== null && this.resp !== null) observeResponse(this.server, now() - this.tryAt);
    this.releaseServer();
    if (up !== null) this.recycle(up);
    this.upPausedForClient = false;
    this.endResponse(last);
  }

  /** A server connection whose response is complete goes back to its pool (or closes). */
  private recycle(up: Upstream): void {
    if (this.upPausedForClient) up.sock.resume();
    this.upPausedForClient = false;
    if (this.upReusable && this.reqComplete && this.pool!.config.sendProxy === null) up.pool.release(up);
    else up.destroy();
  }

  onUpstreamEnd(up: Upstream): void {
    if (up !== this.up) return;
    up.sock.destroy(); // handled in onUpstreamClose
  }

  onUpstreamClose(up: Upstream, err: Error | undefined): void {
    if (up !== this.up) return;
    this.up = null;
    if (!this.live()) return;
    if (this.resp !== null && this.respUntilClose) {
      this.finishExchange(null); // close-delimited body: the close is the end
      return;
    }
    const server = this.server!;
    this.releaseServer();
    if (this.answered()) {
      this.cutClient(); // truncated response: the client must see it was cut
      return;
    }
    const req = this.req!;
    const neverConnected = !up.connected;
    if (neverConnected) {
      statsOf(server).errors[err === undefined ? ERR_TIMEOUT : ERR_CONNECT]!++;
      this.report(server, 'connect-error');
    } else if (!up.reused) {
      statsOf(server).errors[ERR_RESET]!++;
      this.report(server, 'reset');
    }
    // nothing of the answer came back: a request that never reached a server, or an
    // idempotent one without a body, can be sent again; anything else never twice
    const replayable = !this.respStarted && this.respBuf === null && this.reqComplete && !this.reqBodySent && IDEMPOTENT.has(req.method);
    const code = err === undefined ? 'timeout' : ((err as NodeJS.ErrnoException).code ?? err.message);
    this.lastFailure = neverConnected
      ? { status: 503, detail: `could not connect to server ${server} (${code})` }
      : { status: 502, detail: `server ${server} closed the connection without a complete response` };
    if ((neverConnected || replayable) && this.attempts < this.maxAttempts) {
      if (!neverConnected && up.reused) {
        // most likely the keep-alive race (the server closed an idle connection as we
        // reused it): the same server on a fresh connection
        statsOf(server).retries++;
        this.dispatch(server, true);
        return;
      }
      this.ctx.avoid = this.tried ??= new Set();
      this.tried.add(server);
      const next = this.pool!.pick(this.ctx);
      if (next !== undefined) statsOf(server).retries++;
      this.dispatch(next, false);
      return;
    }
    const f = this.lastFailure;
    this.failUpstream(f.status, `${f.detail} after ${this.attempts} attempt(s)`, f.status === 503);
  }

  onUpstreamTimeout(up: Upstream): void {
    if (up !== this.up) return;
    if (!up.connected) {
      up.destroy(); // onUpstreamClose tries the next server
      return;
    }
    this.up = null;
    const server = this.server;
    if (server !== null) {
      statsOf(server).errors[ERR_TIMEOUT]!++;
      this.report(server, 'reset');
    }
    this.releaseServer();
    up.destroy();
    if (!this.live() || this.answered()) {
      this.cutClient();
      return;
    }
    this.failUpstream(504, `server ${server} did not answer in time`);
  }

  /** The server's response cannot be relayed: 502, or a cut when its head is already out. */
  protected badResponse(reason: string): void {
    const server = this.server;
    this.abortUpstream();
    if (this.answered()) {
      this.cutClient();
      return;
    }
    this.failUpstream(502, `invalid response from server ${server}: ${reason}`);
  }

  /** The client has a response head that no answer of ours can replace. */
  private answered(): boolean {
    return this.resp !== null || (this.respStarted && !this.finalAfterInterim);
  }

  /** Cuts both sides after a response head went out. */
  private cutResponse(): void {
    this.abortUpstream();
    this.cutClient();
  }

  // ---- answers of our own ------------------------------------------------------------------

  /** A response of our own for the current request (no route, redirect): the exchange ends well. */
  protected respondLocal(status: number, body: string, fields: Fields, type = TEXT_PLAIN): void {
    this.abortUpstream();
    this.status = status;
    this.countStatus(status);
    this.upReusable = false;
    this.sent += this.answer(status, body, type, this.fe.added.local(fields, this.requestId), false);
    this.finishExchange(null);
  }

  /** Answers a client's error (and Retry-After when asked): the status and what was wrong with the request; the exchange ends. */
  protected fail(status: number, detail: string, retryAfter = false): void {
    this.answerError(status, errorBody(status, detail), TEXT_PLAIN, retryAfter);
  }

  /**
   * Answers a failure of a server or pool (502, 503, 504): the listener's page or a text
   * that names no server, address or pool; those go to the log and the diagnostics channel.
   */
  private failUpstream(status: number, detail: string, retryAfter = false): void {
    const pool = this.pool!;
    this.fe.logUpstreamError(pool, status, detail);
    if (upstreamErrorChannel.hasSubscribers) {
      const e: UpstreamErrorEvent = { listener: this.fe.name, pool: pool.name, status, detail, at: Date.now() };
      upstreamErrorChannel.publish(e);
    }
    const page = this.fe.errorPage(status);
    this.answerError(status, page?.body ?? upstreamErrorBody(status), page?.type ?? TEXT_PLAIN, retryAfter);
  }

  /** Answers with an error of ours (and Retry-After when asked); the exchange ends. */
  protected answerError(status: number, body: string, type: string, retryAfter: boolean): void {
    this.abortUpstream();
    this.status = status;
    this.countStatus(status);
    if (this.req === null) {
      // no request head to begin() with (unparsable, too large): a fresh record and ID
      this.startRecord();
      this.requestId = this.fe.requestIds?.generate === true ? newRequestId() : null;
    }
    this.sent += this.answer(status, body, type, this.fe.added.local(retryAfter ? RETRY_AFTER : NO_FIELDS, this.requestId), true);
    if (this.fe.accessLog !== null) this.logAccess();
  }

  /** The request body stalled past its budget before any answer: 408. False when it is too late for an answer. */
  protected failSlowBody(): boolean {
    if (!this.live() || this.reqComplete || this.respStarted) return false;
    this.fail(408, BodyBudget.reason(this.budget, now()));
    return true;
  }

  /** A request begins, for the access log. */
  private startRecord(): void {
    this.reqAt = Date.now();
    this.sent = 0;
    this.tryAt = 0;
    this.readyAt = 0;
    this.headAt = 0;
  }

  /** One access log line for the current exchange. */
  protected logAccess(): void {
    let client = this.proxied?.address ?? this.peer.remoteAddress ?? '-';
    if (client.startsWith('::ffff:') && client.includes('.')) client = client.slice(7);
    const server = this.server;
    const tryAt = this.tryAt;
    this.fe.accessLog!.request({
      client,
      at: this.reqAt,
      req: this.req,
      version: this.version(),
      status: this.status,
      bytes: this.sent,
      server: server === null ? null : server.toString(),
      requestId: this.requestId,
      connectMs: tryAt === 0 || this.readyAt === 0 ? -1 : this.readyAt - tryAt,
      responseMs: tryAt === 0 || this.headAt === 0 ? -1 : this.headAt - tryAt,
      attempts: this.attempts,
    });
  }

  // ---- helpers -------------------------------------------------------------------------------

  /** The client left: drop the server side and the queue place. */
  protected clientGone(): void {
    this.abortUpstream();
    if (this.queued) {
      this.queued = false;
      this.pool!.dequeue(this);
    }
  }

  protected releaseServer(): void {
    const server = this.server;
    if (server !== null) {
      server.active--;
      this.server = null;
      this.pool!.released(server);
    }
  }

  /** Drops the upstream connection of the current exchange, if any (and the compression of its response). */
  protected abortUpstream(): void {
    if (this.encoder !== null) this.dropEncoder();
    const up = this.up;
    this.up = null;
    this.releaseServer();
    if (up !== null) {
      up.owner = null;
      up.destroy();
    }
  }

  /** Counts an answer's status class for the listener (1xx..5xx), once per answer. */
  private countStatus(status: number): void {
    const c = (status / 100) | 0;
    if (c >= 1 && c <= 5) this.fe.statusClasses[c - 1]!++;
  }

  /** Passive health: how the server did (no-op without outlier detection). */
  private report(server: Server, outcome: Outcome): void {
    const outlier = this.pool!.outlier;
    if (outlier !== null) outlier.record(server, outcome);
  }

  /** The PROXY header for a new upstream connection: the client (as we know it) and the address it reached. */
  private proxyHeader(version: 'v1' | 'v2'): Buffer {
    const src = this.proxied ?? { address: this.facts!.ip, port: this.peer.remotePort ?? 0 };
    const dst = { address: this.peer.localAddress ?? '', port: this.peer.localPort ?? 0 };
    return version === 'v1' ? encodeV1(src, dst) : encodeV2(src, dst);
  }
}

/** The path and query of a request target in any form ("/a?b", "http://h/a?b", "*"). */
function pathAndQuery(target: string): string {
  if (target.charCodeAt(0) === 0x2f) return target;
  const m = /^[a-zA-Z][a-zA-Z0-9+.-]*:\/\/[^/?#]*(.*)$/.exec(target);
  if (m === null || m[1] === '') return '/';
  return m[1]!.charCodeAt(0) === 0x2f ? m[1]! : `/${m[1]}`;
}

/** True when buf (from start) has an LF not preceded by CR: such a head will never end in CRLF CRLF. */
export function hasBareLF(buf: Buffer, start: number): boolean {
  let i = buf.indexOf(0x0a, start);
  while (i >= 0) {
    if (i === start || buf[i - 1] !== 0x0d) return true;
    i = buf.indexOf(0x0a, i + 1);
  }
  return false;
}

/** A client socket's TLS version: the addon's TLS streams say it in tlsInfo(), Node's TLS sockets in getProtocol(); '' without TLS. */
/** The TLS server name (SNI) a client sent on `sock`, lower case, or '' (no TLS, no name). */
export function serverNameOf(sock: unknown): string {
  const s = sock as { tlsInfo?: () => readonly unknown[] | undefined; servername?: string | false | null };
  const name = (s.tlsInfo?.()?.[0] as string | null | undefined) ?? s.servername;
  return typeof name === 'string' ? name.toLowerCase() : '';
}

export function tlsVersionOf(sock: unknown): string {
  const s = sock as { tlsInfo?: () => readonly unknown[] | undefined; getProtocol?: () => string | null };
  return (s.tlsInfo?.()?.[2] as string | undefined) ?? s.getProtocol?.() ?? '';
}
