import net from 'node:net';
import type { Pool } from '../../backend/pool.js';
import type { Server } from '../../backend/server.js';
import type { ForwardedConfig, Limits, ListenerConfig, Timeouts } from '../../config/types.js';
import { FulcrumError } from '../../core/errors.js';
import { Sweeper, tickFor } from '../../core/sweeper.js';
import { AccessLog } from '../access-log.js';
import { RequestIds } from './request-id.js';
import { HttpEdge } from './edge.js';
import { ClientConnection, onClientRead } from './client-connection.js';
import { NativeSocket, nativeSockets } from '../../io/native-socket.js';
import type { NativeAcceptor, NativeRelay } from '../../io/native-relay.js';
import { adoptAccepted } from '../../io/read-buffer.js';
import { HANDLE, SOCKET, socketForAcceptedHandle, streamKind, takeOverAccept, type AcceptKind, type HandleAcceptor } from '../../io/accept.js';
import { internals } from '../../io/internals.js';
import type { TcpHandle } from '../../io/tcp-handles.js';
import type { RequestHead } from './head.js';
import type { ClientFacts } from './rewrite.js';
import { Router } from './router.js';
import { CompressionPolicy } from './compress.js';
import { HttpRoute } from './http-route.js';
import { CidrSet } from './cidr-set.js';
import { ClientConnectionLimits } from '../../limits/client-connections.js';
import { UpstreamPool, type UpstreamSource } from './upstream.js';
import { H2Upstream } from '../http2/upstream-session.js';
import { AddedFields, NO_FIELDS } from '../exchange/added-fields.js';
import type { ExchangeListener } from '../exchange/listener.js';
import { loadErrorPages, type ErrorPage } from '../exchange/error-pages.js';
import { log } from '../../core/log.js';
import { errName } from '../../io/uv.js';
import { upstreamTlsFor } from '../../tls/upstream-tls.js';
import { SlotList } from '../../core/slot-list.js';

/**
 * An HTTP listener: accepts client connections, routes each request to a pool and
 * owns the per-server upstream connection pools. Lifecycle: `start()`, `address()`,
 * `stop({graceMs})`.
 */
export class HttpFrontend implements NativeAcceptor, HandleAcceptor, ExchangeListener {
  readonly name: string;
  readonly timeouts: Timeouts;
  readonly limits: Limits;
  readonly forwarded: ForwardedConfig;
  readonly noRoute: { status: number; body: string };
  /** One line per request, or null. */
  readonly accessLog: AccessLog | null;
  readonly requestIds: RequestIds | null;
  /** Answers by status class (1xx..5xx), counted by the exchanges. */
  readonly statusClasses = new Float64Array(5);
  private readonly router: Router<HttpRoute>;
  /** Routes with a rate_limit (for the metrics). */
  private readonly rateLimited: HttpRoute[] = [];
  /** The listener's `access` lists: a client they refuse gets 403 before any route. */
  private readonly allowNets: CidrSet | null;
  private readonly denyNets: CidrSet | null;
  private readonly trusted: CidrSet;
  private readonly upstreams: UpstreamSource[] = [];
  private readonly conns = new SlotList<'listSlot', ClientConnection>('listSlot');
  private readonly sweeper: Sweeper;
  private readonly server: net.Server;
  private stopping = false;
  private boundAddress: net.AddressInfo | undefined;
  private lastProxyLog = 0;
  private lastAcceptLog = 0;
  /** Client connections accepted so far. */
  accepted = 0;
  /** Sources allowed to send a PROXY header (listener proxy_protocol), or null when off. */
  private readonly proxyTrusted: CidrSet | null;
  /** Last upstream-error log line per pool (ms), to log at most once a second under load. */
  private readonly lastUpstreamErrorLog = new Map<Pool, number>();
  /** The listener's own bodies for 502, 503 and 504 (error_pages). */
  private readonly errorPages: ReadonlyMap<number, ErrorPage>;
  /** TLS termination and HTTP/2 (listener `tls`, `http2.h2c`); null on a plain HTTP/1.1 listener. */
  readonly edge: HttpEdge | null;
  /** X-Forwarded-Proto and Forwarded proto= of this listener's clients. */
  private readonly proto: 'http' | 'https';
  /** The fields added to responses: Via, the listener's own (Strict-Transport-Security). */
  readonly added: AddedFields;
  /** The native addon for sockets (native-socket.ts), or null for Node's. */
  private readonly io: NativeRelay | null;
  /** This listener's index in the addon, once it accepts there (plain HTTP/1.1 listeners). */
  private nativeIndex = -1;
  /** How the addon's streams are admitted (io/accept.ts), or null without the addon. */
  private readonly streams: AcceptKind<number> | null;
  /** max_connections_per_client and new_connections_per_client, or null. */
  readonly clientLimits: ClientConnectionLimits | null;

  constructor(
    readonly config: ListenerConfig,
    pools: ReadonlyMap<string, Pool>,
  ) {
    // first: a page that cannot be read refuses the listener before it opens anything (its access log file)
    this.errorPages = loadErrorPages(config.name, config.errorPages);
    this.name = config.name;
    this.timeouts = config.timeouts;
    this.limits = config.limits;
    this.forwarded = config.forwarded;
    this.noRoute = config.noRoute;
    this.accessLog = config.accessLog === null ? null : new AccessLog(config.name, config.accessLog);
    const t = config.timeouts;
    internals(); // the self-test of Node's internals, once per process (its log lines before the listener's)
    this.io = nativeSockets();
    this.streams = this.io === null ? null : streamKind(this.io);
    this.sweeper = new Sweeper(tickFor(Math.min(t.headerMs, t.keepAliveMs, t.connectMs, t.serverMs, t.clientMs)));
    const poolNamed = (name: string) => {
      const pool = pools.get(name);
      if (pool === undefined) throw new FulcrumError('FULCRUM_ERR_CONFIG', `listener ${config.name}: unknown pool ${name}`);
      for (const s of pool.servers) {
        if (this.upstreams[s.id] === undefined) {
          const ka = pool.config.keepalive;
          const upTls = upstreamTlsFor(pool.config);
          if (pool.config.protocol !== 'http1') {
            this.upstreams[s.id] = new H2Upstream(s, this.sweeper, pool.config, t.connectMs, upTls);
          } else {
            const native = upTls === null && net.isIP(s.host) !== 0 ? this.io : null;
            this.upstreams[s.id] = new UpstreamPool(s, this.sweeper, ka.maxIdle, ka.idleTimeoutMs, t.connectMs, upTls, native);
          }
        }
      }
      return pool;
    };
    const compression = config.compression === null ? null : new CompressionPolicy(config.compression);
    this.router = new Router(config.routes, (r, i) => {
      const route = new HttpRoute(r, i, poolNamed, config.name, compression);
      if (route.rateLimit !== null) this.rateLimited.push(route);
      return route;
    });
    this.clientLimits = ClientConnectionLimits.of(config);
    this.allowNets = config.access.allow === null ? null : new CidrSet(config.access.allow);
    this.denyNets = config.access.deny === null ? null : new CidrSet(config.access.deny);
    this.trusted = new CidrSet(config.forwarded.trusted);
    this.proxyTrusted = config.proxyProtocol === null ? null : new CidrSet(config.proxyProtocol.trusted);
    this.proto = config.tls === null ? 'http' : 'https';
    this.edge = config.tls !== null || (config.mode === 'http' && config.http2.h2c) ? new HttpEdge(this, config, this.io) : null;
    this.requestIds = config.requestId === null ? null : new RequestIds(config.requestId);
    this.added = new AddedFields(config.forwarded.via, this.edge?.responseFields ?? NO_FIELDS, this.requestIds?.response === true ? this.requestIds : null);
    this.server = net.createServer({ allowHalfOpen: true, noDelay: true, pauseOnConnect: true }, (sock) => this.accept(sock));
  }

  /** Binds the listener. Rejects with FULCRUM_ERR_LISTEN (address in use, permission). */
  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        reject(
          new FulcrumError(
            'FULCRUM_ERR_LISTEN',
            `listener ${this.name}: cannot listen on ${this.config.host}:${this.config.port}: ${err.code ?? err.message}`,
            { cause: err },
          ),
        );
      };
      this.server.once('error', onError);
      this.server.listen({ host: this.config.host, port: this.config.port, backlog: 4096 }, () => {
        this.server.off('error', onError);
        this.edge?.start();
        if (this.io === null || (this.edge !== null && this.edge.nativeTls === null)) {
          this.takeOverAccept();
          resolve();
          return;
        }
        this.boundAddress = this.server.address() as net.AddressInfo;
        // After every 'listening' listener: node:cluster's reads the address from the handle.
        process.nextTick(() => {
          try {
            if (!this.listenNative()) this.takeOverAccept();
            resolve();
          } catch (err) {
            this.server.close();
            reject(err);
          }
        });
      });
    });
  }

  /** Client connections open now. */
  get active(): number {
    return this.conns.size;
  }

  /** The bound address (useful with port 0). */
  address(): net.AddressInfo {
    return this.boundAddress ?? (this.server.address() as net.AddressInfo);
  }

  /** Whose sockets carry this listener's clients (known once start() resolved). */
  get sockets(): 'native' | 'node' {
    return this.nativeIndex >= 0 ? 'native' : 'node';
  }

  /**
   * Stops accepting and lets in-flight exchanges finish; after `graceMs` whatever is left
   * is cut. Idle keep-alive connections are closed at once, unless `closeIdle` is false
   * (a reload's drain): then each connection ends after its next response, which says
   * `Connection: close`, or at its keep-alive timeout, so no client ever races a close
   * with a new request.
   */
  async stop(opts: { graceMs?: number; closeIdle?: boolean } = {}): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.nativeIndex >= 0) this.io!.unlisten(this.nativeIndex);
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    const closeIdle = opts.closeIdle ?? true;
    for (const c of this.conns) c.closeWhenIdle(closeIdle);
    this.edge?.stopAccepting();
    const grace = opts.graceMs ?? 5000;
    const deadline = Date.now() + grace;
    while (this.conns.size + (this.edge?.count ?? 0) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const c of this.conns) c.destroy();
    this.edge?.destroy();
    for (const u of this.upstreams) u?.close();
    this.sweeper.close();
    await closed;
  }

  /** Closes idle keep-alive connections now, and GOAWAY to HTTP/2 ones (see Listener.closeIdle). */
  closeIdle(): void {
    for (const c of this.conns) c.closeWhenIdle(true);
    this.edge?.goAway();
  }

  /**
   * Sends GOAWAY on every HTTP/2 connection of this listener: requests in flight finish,
   * clients open new connections for the next ones (to call on a configuration reload).
   */
  goAway(): void {
    this.edge?.goAway();
  }

  /**
   * Reads the certificate files again (to call on a configuration reload; changed files
   * are also picked up by themselves). A bad pair is logged and the one in use kept; the
   * problems are returned.
   */
  reloadCertificates(): string[] {
    return this.edge?.reloadCertificates() ?? [];
  }

  /** @internal a connection the edge has handed to HTTP/1.1 (after its TLS handshake) */
  adopt(conn: ClientConnection): void {
    this.conns.add(conn);
    this.sweeper.add(conn);
  }

  /** The pool for a request, or undefined when no route matches. */
  route(req: RequestHead, ip: string, tls: { serverName(): string }): HttpRoute | undefined {
    return this.router.matchRequest(req, ip, this.router.usesSni ? tls.serverName() : '');
  }

  /** Whether the listener's `access` lists let a client at `ip` in. */
  admits(ip: string): boolean {
    if (this.denyNets !== null && this.denyNets.has(ip)) return false;
    return this.allowNets === null || this.allowNets.has(ip);
  }

  /** The upstream connection pool of a server reachable from this listener. */
  upstreamFor(server: Server): UpstreamSource {
    return this.upstreams[server.id]!;
  }

  /** Logs a connection refused for its PROXY protocol header (at most once a second). */
  logProxyRefused(sock: { remoteAddress?: string | undefined } | string, why: string): void {
    const now = Date.now();
    if (now - this.lastProxyLog < 1000) return;
    this.lastProxyLog = now;
    log().warn(`listener ${this.name}: closed a connection from ${typeof sock === 'string' ? sock : sock.remoteAddress}: PROXY protocol: ${why}`);
  }

  /** Per-connection facts for header rewriting, for the client at `address`. */
  clientFacts(address: string): ClientFacts {
    let ip = address;
    if (ip.startsWith('::ffff:') && ip.includes('.')) ip = ip.slice(7);
    const v6 = ip.includes(':');
    return {
      ip,
      forwardedFor: v6 ? `"[${ip}]"` : ip,
      trusted: this.trusted.has(ip),
      proto: this.proto,
    };
  }

  /** Logs why a server or pool failed a request (502, 503, 504), at most once a second per pool. */
  logUpstreamError(pool: Pool, status: number, detail: string): void {
    const now = Date.now();
    if (now - (this.lastUpstreamErrorLog.get(pool) ?? 0) < 1000) return;
    this.lastUpstreamErrorLog.set(pool, now);
    log().warn(`listener ${this.name}: ${status} for pool ${pool.name}: ${detail}`);
  }

  /** What the listener's limits refused (LIMIT_KINDS): connections at accept, requests with 429. */
  get limited(): number[] {
    let requests = 0;
    for (const r of this.rateLimited) requests += r.rateLimit!.limited;
    return [this.clientLimits?.refusedMax ?? 0, this.clientLimits?.refusedRate ?? 0, requests];
  }

  /** The listener's own page for an error status, if it has one. */
  errorPage(status: number): ErrorPage | undefined {
    return this.errorPages.get(status);
  }

  /** Called by a connection when its socket has closed. */
  forget(conn: ClientConnection): void {
    this.conns.delete(conn);
    this.sweeper.delete(conn);
  }

  /**
   * Plain listeners take accepted handles straight from the listening handle
   * (io/accept.ts). TLS listeners keep net.Server's path, since TLSSocket wraps the
   * accepted Socket, and so does every listener where Node's internals for it are not
   * usable: the 'connection' event path (accept) still works.
   */
  private takeOverAccept(): void {
    if (this.edge?.terminatesTls === true) return;
    takeOverAccept(this.server, this, true);
  }

  /** Moves accepting to the native addon as streams (NativeRelay.takeOver); false when the listener stays with Node. */
  private listenNative(): boolean {
    this.nativeIndex = this.io!.takeOver(this.server, this, true);
    if (this.nativeIndex < 0 || this.edge === null) return this.nativeIndex >= 0;
    if (this.edge.bindNative(this.nativeIndex)) return true;
    // out of memory in the addon: Node's handle is closed already, so the listener fails
    this.io!.unlisten(this.nativeIndex);
    this.nativeIndex = -1;
    throw new FulcrumError('FULCRUM_ERR_LISTEN', `listener ${this.name}: the native addon could not take the TLS contexts`);
  }

  /** NativeAcceptor: the addon accepted stream `id`. */
  nativeAccepted(id: number): void {
    const io = this.io!;
    const client = this.admit(this.streams!, id);
    if (client === null) return;
    let sock: NativeSocket;
    if (this.edge !== null) sock = this.edge.acceptNative(id);
    else this.open((sock = NativeSocket.accepted(io, id)), true);
    if (this.clientLimits !== null) this.releaseOnClose(sock, client);
  }

  /** HandleAcceptor: a handle taken from the listening handle (io/accept.ts). */
  acceptHandle(handle: TcpHandle): void {
    const client = this.admit(HANDLE, handle);
    if (client === null) return;
    const sock = socketForAcceptedHandle(handle, onClientRead);
    this.open(sock, true);
    if (this.clientLimits !== null) this.releaseOnClose(sock, client);
  }

  /** A socket from net.Server's 'connection' event. */
  private accept(accepted: net.Socket): void {
    const client = this.admit(SOCKET, accepted);
    if (client === null) return;
    if (this.edge?.terminatesTls === true) {
      if (this.clientLimits !== null) this.releaseOnClose(accepted, client);
      this.edge.accept(accepted);
      return;
    }
    const adopted = adoptAccepted(accepted, onClientRead, true);
    if (this.clientLimits !== null) this.releaseOnClose(adopted ?? accepted, client);
    this.open(adopted ?? accepted, adopted !== undefined);
  }

  /** The client's connection count goes down when `sock` closes (whatever carried it then: TLS, HTTP/1.1, HTTP/2). */
  private releaseOnClose(sock: { once(event: 'close', fn: () => void): unknown }, client: string): void {
    sock.once('close', () => this.clientLimits!.release(client));
  }

  /** NativeAcceptor, HandleAcceptor: accept() failed (out of descriptors, say). */
  acceptFailed(code: number): void {
    const now = Date.now();
    if (now - this.lastAcceptLog < 1000) return;
    this.lastAcceptLog = now;
    log().warn(`listener ${this.name}: accept failed: ${errName(code)}`);
  }

  /** NativeAcceptor, HandleAcceptor: accepting a connection threw; it was closed. */
  internalError(err: unknown): void {
    log().error({ err }, `internal error accepting a connection on listener ${this.name} (connection closed)`);
  }

  /**
   * The one admission path of every kind of accepted socket: refused (and closed) while
   * stopping, at max_connections, when proxy_protocol.trusted does not list its source,
   * or over the client's connection limits; else counted. Returns the peer's address
   * ('' when the listener has no per-client limits), or null when refused. The caller then
   * makes the connection its kind needs.
   */
  private admit<S>(kind: AcceptKind<S>, s: S): string | null {
    const max = this.config.maxConnections;
    if (this.stopping || (max > 0 && this.conns.size + (this.edge?.count ?? 0) >= max)) {
      kind.refuse(s);
      return null;
    }
    let address = '';
    if (this.proxyTrusted !== null || this.clientLimits !== null) address = kind.peerAddress(s);
    if (this.proxyTrusted !== null && !this.proxyTrusted.has(address)) {
      this.logProxyRefused(address, 'the source is not in proxy_protocol.trusted');
      kind.refuse(s);
      return null;
    }
    if (this.clientLimits !== null && !this.clientLimits.admit(address)) {
      kind.refuse(s);
      return null;
    }
    this.accepted++;
    return address;
  }

  /** A plain HTTP/1.1 client connection on an admitted socket (`sharedReads`: it reads through READ_BUFFER). */
  private open(sock: net.Socket | NativeSocket, sharedReads: boolean): void {
    const conn = new ClientConnection(sock, this, sharedReads);
    this.conns.add(conn);
    this.sweeper.add(conn);
  }
}

