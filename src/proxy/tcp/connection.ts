/**
 * One client connection of a tcp listener, from accept to close: the optional prelude
 * (a PROXY protocol header from a trusted balancer, then a TLS ClientHello peeked for
 * its server name), the choice of pool and server, the connect with its timeout and
 * retries on other servers, and then the byte relay.
 *
 * This file holds the decisions; the sockets are in one of three subclasses:
 * NativeConnection (connection-native.ts: the native relay, the default),
 * HandleConnection (connection-handles.ts: Node's libuv handles and relay.ts) and
 * SocketConnection (connection-sockets.ts: net.Socket, where neither is usable).
 */
import { lookup } from 'node:dns';
import { isIP } from 'node:net';
import type { Pool } from '../../backend/pool.js';
import type { Server } from '../../backend/server.js';
import type { PickContext } from '../../balance/balancer.js';
import { ALGORITHM_TRAITS, hashKey } from '../../balance/index.js';
import type { ListenerConfig } from '../../config/types.js';
import type { Expirable } from '../../core/sweeper.js';
import { encodeV1, encodeV2, parseProxyHeader, type ProxyAddress } from '../proxy-protocol.js';
import { errName, UV_EOF } from '../../io/uv.js';
import type { RelayEnd } from './relay.js';
import { CLIENT_HELLO_MAX_BYTES, parseClientHello } from './sni.js';
import { ERR_CONNECT, statsOf } from '../../metrics/server-stats.js';

/** What a connection needs from its listener (the TcpFrontend). */
export interface ConnectionHost {
  readonly config: ListenerConfig;
  /** Some route names SNI hosts: peek at the ClientHello before choosing a pool. */
  readonly sniRouting: boolean;
  /** The pool for a server name (null: no SNI), or undefined when no route matches. */
  route(serverName: string | null): Pool | undefined;
  /** Whether a PROXY header is accepted from this (unmapped) address. */
  isTrusted(address: string): boolean;
  /** The connection has closed. */
  forget(conn: TcpConnection): void;
  /** A rate-limited log line. */
  log(kind: string, message: string): void;
}

/** Where a connection is in its life. */
export const enum ConnPhase {
  /** Waiting for a PROXY protocol header. */
  ProxyHeader = 0,
  /** Waiting for a TLS ClientHello (SNI routing). */
  Hello = 1,
  /** Every usable server is at max_conn: waiting in the pool's queue. */
  Queued = 2,
  Connecting = 3,
  Relaying = 4,
  Closed = 5,
}

/** Most bytes buffered before the server connection exists: a v2 PROXY header and a ClientHello. */
const PRELUDE_MAX = 16 * 1024 + CLIENT_HELLO_MAX_BYTES;

/** A socket's address as the subclasses report it. */
export interface SocketAddress {
  address?: string;
  port?: number;
}

/**
 * A client connection and, once connected, its server connection. Created by the
 * frontend for each accepted client; `begin()` starts it. Counters and timestamps are
 * plain fields or getters, read by whoever wants them (metrics, tests).
 */
export abstract class TcpConnection implements Expirable {
  /** Sweeper deadline (ms since epoch, 0 none): hello timeout, connect timeout, idle timeout. */
  deadline = 0;
  sweepSlot = -1;
  /** Its slot in the frontend's list of connections. */
  listSlot = -1;
  phase: ConnPhase = ConnPhase.Connecting;
  /** Bytes read from the client and sent to the server (a PROXY header received or sent not included). */
  abstract readonly bytesIn: number;
  /** Bytes read from the server (and sent to the client). */
  abstract readonly bytesOut: number;
  readonly startedAt = Date.now();
  /**
   * The client as far as we know: the socket's peer, or what a trusted PROXY header said.
   * Read lazily (readAddresses): empty until something needed it.
   */
  clientAddress = '';
  clientPort = 0;
  /** The address the client connected to (or the PROXY header's destination). */
  localAddress = '';
  localPort = 0;
  /** The TLS server name, when SNI routing read one. */
  serverName: string | null = null;
  /** The pool and server serving this connection, once chosen. */
  pool: Pool | null = null;
  server: Server | null = null;
  /** Connect attempts so far (1 + retries at most). */
  attempts = 0;
  /** How it ended: the relay's reason, or "early" (closed before relaying: refused, timed out, no server). */
  endReason = '';
  /** The peer address the listener's per-client limits counted this connection under, or null. */
  limitedAs: string | null = null;

  protected prelude: Buffer | null = null;
  protected preludeLen = 0;
  private avoid: Set<Server> | null = null;
  /** Bumped on every dial: a late connect completion from an abandoned attempt is ignored. */
  protected dialSeq = 0;
  /** The server `active` was incremented for (released exactly once). */
  private counted: Server | null = null;
  private addressesRead = false;

  constructor(protected readonly host: ConnectionHost) {}

  // ---- what the subclasses do with the sockets --------------------------------------

  /** The client's peer and local addresses (only asked once). */
  protected abstract socketAddresses(): { peer: SocketAddress; local: SocketAddress };
  /** Reads the client into the prelude (preludeData/preludeEnd) until stopPrelude(); false: cannot. */
  protected abstract startPrelude(): boolean;
  protected abstract stopPrelude(): void;
  /** Connects to address:port (an IP); the outcome comes to connectDone(dialSeq, status). */
  protected abstract dial(address: string, family: number, port: number): void;
  /** Abandons the current connect attempt, if any. */
  protected abstract dropUpstream(): void;
  /** The server connection is up: relay until one of them ends (then relayEnded). */
  protected abstract startRelay(): void;
  /** Closes a relaying pair now (relayEnded follows). */
  protected abstract closeRelay(reason: RelayEnd): void;
  /** Closes whatever sockets are open, before relaying. */
  protected abstract closeSockets(): void;
  /** Milliseconds since the last byte either way. */
  protected abstract idleFor(now: number): number;

  /** Starts the first phase: PROXY header, ClientHello, or straight to a server. */
  begin(): void {
    const cfg = this.host.config;
    if (cfg.proxyProtocol !== null) {
      this.readAddresses();
      if (!this.host.isTrusted(this.clientAddress)) {
        this.host.log('untrusted', `connection from ${this.clientAddress}, which is not in proxy_protocol.trusted: closed`);
        this.closeEarly();
        return;
      }
      this.readPrelude(ConnPhase.ProxyHeader);
    } else if (this.host.sniRouting) {
      this.readPrelude(ConnPhase.Hello);
    } else {
      this.choosePool();
    }
  }

  /**
   * Fills clientAddress/Port and localAddress/Port from the socket, once. Two syscalls,
   * so only done when something needs them (trust, hashing, send_proxy, a log line).
   */
  readAddresses(): void {
    if (this.addressesRead) return;
    this.addressesRead = true;
    const { peer, local } = this.socketAddresses();
    this.clientAddress = unmapped(peer.address ?? '');
    this.clientPort = peer.port ?? 0;
    this.localAddress = unmapped(local.address ?? '');
    this.localPort = local.port ?? 0;
  }

  /** Closes the connection now, whatever its phase (listener stop, grace over). */
  close(): void {
    if (this.phase === ConnPhase.Relaying) this.closeRelay('shutdown');
    else this.closeEarly();
  }

  /** Sweeper: a deadline passed. Never throws (it runs in the sweeper's timer). */
  expire(now: number): void {
    try {
      this.onDeadline(now);
    } catch (err) {
      this.internalError(err);
    }
  }

  private onDeadline(now: number): void {
    switch (this.phase) {
      case ConnPhase.ProxyHeader:
        this.host.log('prelude-timeout', `${this.who()}: no complete PROXY header within ${this.host.config.tcp.helloTimeoutMs} ms: closed`);
        this.closeEarly();
        return;
      case ConnPhase.Hello:
        this.host.log('prelude-timeout', `${this.who()}: no complete TLS ClientHello within ${this.host.config.tcp.helloTimeoutMs} ms: closed`);
        this.closeEarly();
        return;
      case ConnPhase.Connecting:
        this.connectFailed(`no connection within ${this.host.config.timeouts.connectMs} ms`);
        return;
      case ConnPhase.Relaying: {
        const limit = this.host.config.tcp.idleMs;
        const idle = this.idleFor(now);
        if (idle >= limit) this.closeRelay('idle');
        else this.deadline = now + (limit - idle);
        return;
      }
      default:
        return;
    }
  }

  // ---- prelude: PROXY header, ClientHello ----------------------------------------

  private readPrelude(phase: ConnPhase): void {
    this.phase = phase;
    this.deadline = Date.now() + this.host.config.tcp.helloTimeoutMs;
    if (!this.startPrelude()) this.closeEarly();
  }

  /** `n` bytes arrived in `from` (at 0) during the prelude. */
  preludeData(from: Buffer, n: number): void {
    const need = this.preludeLen + n;
    if (need > PRELUDE_MAX) {
      this.host.log('prelude-size', `${this.who()}: more than ${PRELUDE_MAX} bytes before the server connection: closed`);
      this.closeEarly();
      return;
    }
    let buf = this.prelude;
    if (buf === null || buf.length < need) {
      const grown = Buffer.allocUnsafe(Math.min(PRELUDE_MAX, Math.max(need, (buf?.length ?? 0) * 2, 512)));
      if (buf !== null) buf.copy(grown, 0, 0, this.preludeLen);
      buf = this.prelude = grown;
    }
    from.copy(buf, this.preludeLen, 0, n);
    this.preludeLen = need;
    this.advancePrelude(false);
  }

  /** EOF or a read error during the prelude. */
  preludeEnd(code: number): void {
    if (code === UV_EOF && this.preludeLen > 0) this.advancePrelude(true);
    else this.closeEarly();
  }

  private advancePrelude(eof: boolean): void {
    const bytes = this.prelude!.subarray(0, this.preludeLen);
    if (this.phase === ConnPhase.ProxyHeader) {
      const r = parseProxyHeader(bytes);
      if (r.error !== null) {
        this.host.log('proxy-header', `${this.who()}: bad PROXY protocol header: ${r.error}: closed`);
        this.closeEarly();
        return;
      }
      if (!r.done) {
        if (eof) {
          this.host.log('proxy-header', `${this.who()}: truncated PROXY protocol header (${this.preludeLen} bytes, then EOF): closed`);
          this.closeEarly();
        }
        return;
      }
      if (r.command === 'proxy' && r.source !== null && (r.family === 'tcp4' || r.family === 'tcp6')) {
        this.clientAddress = unmapped(r.source.address);
        this.clientPort = r.source.port;
        this.localAddress = unmapped(r.destination!.address);
        this.localPort = r.destination!.port;
      }
      // Keep what follows the header.
      this.prelude!.copy(this.prelude!, 0, r.consumed, this.preludeLen);
      this.preludeLen -= r.consumed;
      if (!this.host.sniRouting) {
        this.choosePool();
        return;
      }
      this.phase = ConnPhase.Hello;
      if (this.preludeLen === 0) {
        if (eof) this.closeEarly();
        return;
      }
    }
    const hello = parseClientHello(this.prelude!.subarray(0, this.preludeLen));
    if (hello.error !== null) {
      this.host.log('client-hello', `${this.who()}: malformed TLS ClientHello: ${hello.error}: closed`);
      this.closeEarly();
      return;
    }
    if (!hello.done) {
      if (eof) {
        this.host.log('client-hello', `${this.who()}: truncated TLS ClientHello (${this.preludeLen} bytes, then EOF): closed`);
        this.closeEarly();
      }
      return;
    }
    this.serverName = hello.serverName;
    this.choosePool();
  }

  // ---- pool, server, connect -----------------------------------------------------

  private choosePool(): void {
    if (this.phase === ConnPhase.ProxyHeader || this.phase === ConnPhase.Hello) {
      // Enough read: the rest waits in the kernel until the server connection is up.
      this.stopPrelude();
    }
    const pool = this.host.route(this.serverName);
    if (pool === undefined) {
      const name = this.serverName === null ? 'without a server name' : `for ${this.serverName}`;
      this.host.log('no-route', `${this.who()}: no route ${name} and no default route: closed`);
      this.closeEarly();
      return;
    }
    this.pool = pool;
    this.pickAndConnect();
  }

  private pickAndConnect(): void {
    const pool = this.pool!;
    const ctx: PickContext = { avoid: this.avoid, hash: this.hashFor(pool), sticky: null };
    const server = pool.pick(ctx);
    if (server !== undefined) {
      this.connect(server);
      return;
    }
    if (this.avoid === null && pool.usable.length > 0 && pool.enqueue(this)) {
      this.phase = ConnPhase.Queued;
      this.deadline = 0;
      return;
    }
    const why = this.avoid === null ? pool.whyNone() : `${pool.whyNone()}; tried ${[...this.avoid].join(', ')}`;
    this.host.log(`no-server:${pool.name}`, `${this.who()}: no server available in pool ${pool.name} (${why}): closed`);
    this.closeEarly();
  }

  /** Pools whose algorithm reads a hash (maglev) hash the client's address (the PROXY header's source when there was one). */
  private hashFor(pool: Pool): number {
    if (ALGORITHM_TRAITS[pool.config.balance].input !== 'hash') return 0;
    this.readAddresses();
    return hashKey(this.clientAddress);
  }

  /** QueueWaiter: a server has room again. */
  wake(): void {
    if (this.phase !== ConnPhase.Queued) return;
    try {
      this.pickAndConnect();
    } catch (err) {
      this.internalError(err);
    }
  }

  /** QueueWaiter: waited too long for a server below max_conn. */
  queueTimeout(): void {
    if (this.phase !== ConnPhase.Queued) return;
    try {
      this.host.log(`queue-timeout:${this.pool!.name}`, `${this.who()}: every server of pool ${this.pool!.name} stayed at max_conn for ${this.pool!.config.queue.timeoutMs} ms: closed`);
      this.closeEarly();
    } catch (err) {
      this.internalError(err);
    }
  }

  private connect(server: Server): void {
    this.phase = ConnPhase.Connecting;
    this.server = server;
    this.counted = server;
    server.active++;
    server.total++;
    this.attempts++;
    this.deadline = Date.now() + this.host.config.timeouts.connectMs;
    const family = isIP(server.host);
    if (family !== 0) {
      this.dial(server.host, family, server.port);
      return;
    }
    const seq = ++this.dialSeq;
    lookup(server.host, (err, address, fam) => {
      if (seq !== this.dialSeq || this.phase !== ConnPhase.Connecting) return;
      try {
        if (err !== null) this.connectFailed(`cannot resolve ${server.host}: ${err.code ?? err.message}`);
        else this.dial(address, fam, server.port);
      } catch (e) {
        this.internalError(e);
      }
    });
  }

  /** The connect request `attempt` completed. */
  connectDone(attempt: number, status: number): void {
    if (attempt !== this.dialSeq || this.phase !== ConnPhase.Connecting) return; // abandoned attempt
    if (status < 0) this.connectFailed(errName(status));
    else this.connected();
  }

  protected connectFailed(why: string): void {
    const server = this.server!;
    this.dialSeq++;
    this.pool!.outlier?.record(server, 'connect-error');
    const stats = statsOf(server);
    stats.errors[ERR_CONNECT]!++;
    this.dropUpstream();
    this.releaseServer();
    (this.avoid ??= new Set()).add(server);
    if (this.attempts < 1 + this.pool!.config.retries) {
      const next = this.pool!.pick({ avoid: this.avoid, hash: this.hashFor(this.pool!), sticky: null });
      if (next !== undefined) {
        stats.retries++;
        this.connect(next);
        return;
      }
    }
    this.host.log(`connect:${this.pool!.name}`, `${this.who()}: cannot connect to ${server} (${why}); tried ${[...this.avoid].join(', ')}: closed`);
    this.closeEarly();
  }

  private connected(): void {
    this.pool!.outlier?.record(this.server!, 'ok');
    this.phase = ConnPhase.Relaying;
    this.deadline = Date.now() + this.host.config.tcp.idleMs;
    this.startRelay();
  }

  /**
   * What goes to the server before the client's bytes: the PROXY header the pool sends
   * (send_proxy), then what the prelude read. Null when nothing.
   */
  protected firstBytes(): Buffer | null {
    let first: Buffer | null = this.prelude === null || this.preludeLen === 0 ? null : this.prelude.subarray(0, this.preludeLen);
    const send = this.pool!.config.sendProxy;
    if (send !== null) {
      this.readAddresses();
      const src: ProxyAddress = { address: this.clientAddress, port: this.clientPort };
      const dst: ProxyAddress = { address: this.localAddress, port: this.localPort };
      const header = send === 'v1' ? encodeV1(src, dst) : encodeV2(src, dst);
      first = first === null ? header : Buffer.concat([header, first]);
    }
    return first;
  }

  /** Both sockets are closed. */
  relayEnded(reason: RelayEnd, _detail: string): void {
    this.endReason = reason;
    this.phase = ConnPhase.Closed;
    this.deadline = 0;
    this.releaseServer();
    this.host.forget(this);
  }

  /** Something threw inside a callback: close rather than crash. */
  internalError(err: unknown): void {
    try {
      this.host.log('internal', `client ${this.clientAddress}:${this.clientPort}: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      this.close();
    } catch {
      // closing failed as well: nothing more to do without risking a crash
    }
  }

  /** Closes before the relay exists (refused, timed out, no server). */
  private closeEarly(): void {
    if (this.phase === ConnPhase.Closed) return;
    if (this.phase === ConnPhase.Queued) this.pool?.dequeue(this);
    this.phase = ConnPhase.Closed;
    this.deadline = 0;
    this.dialSeq++;
    this.closeSockets();
    this.prelude = null;
    this.endReason = 'early';
    this.releaseServer();
    this.host.forget(this);
  }

  private releaseServer(): void {
    const s = this.counted;
    if (s === null) return;
    this.counted = null;
    s.active--;
    this.pool!.released(s);
  }

  private who(): string {
    this.readAddresses();
    return `client ${this.clientAddress}:${this.clientPort}`;
  }
}

/** "::ffff:192.0.2.1" -> "192.0.2.1". */
function unmapped(a: string): string {
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}
