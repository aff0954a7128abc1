import net from 'node:net';
import type { Pool } from '../../backend/pool.js';
import type { ListenerConfig } from '../../config/types.js';
import { FulcrumError } from '../../core/errors.js';
import { Sweeper, tickFor } from '../../core/sweeper.js';
import { CidrSet } from '../http/cidr-set.js';
import { Router } from '../http/router.js';
import { TcpConnection, type ConnectionHost } from './connection.js';
import { HandleConnection } from './connection-handles.js';
import { NativeConnection } from './connection-native.js';
import { SocketConnection } from './connection-sockets.js';
import { detachHandle, type TcpHandle } from '../../io/tcp-handles.js';
import { internals } from '../../io/internals.js';
import { takeOverAccept, type HandleAcceptor } from '../../io/accept.js';
import { nativeRelay, type NativeAcceptor, type NativeRelay } from '../../io/native-relay.js';
import { log } from '../../core/log.js';
import { AccessLog } from '../access-log.js';
import { ClientConnectionLimits } from '../../limits/client-connections.js';
import { HANDLE } from '../../io/accept.js';
import { errName } from '../../io/uv.js';
import { SlotList } from '../../core/slot-list.js';

/** Log lines of one kind are written at most this often; the rest are counted. */
const LOG_INTERVAL_MS = 1000;

/**
 * A `mode: tcp` listener: accepts connections (up to `max_connections`), optionally
 * reads a PROXY protocol header from trusted balancers and a TLS ClientHello for SNI
 * routing, picks a server of the routed pool (maglev pools hash the client's address),
 * connects with `timeouts.connect` and retries on other servers, then relays bytes both
 * ways (relay.ts). Lifecycle as the HTTP listener: `start()`, `address()`,
 * `stop({graceMs})`. Connections are {@link TcpConnection}s, listed in `connections`.
 *
 * Timeouts: `tcp.hello_timeout` bounds the whole prelude (the PROXY header, then the
 * ClientHello), `timeouts.connect` each connect attempt, `tcp.idle_timeout` a pair with
 * no byte either way. Refused and failed connections are logged to stderr, at most one
 * line per kind per second.
 *
 * Engines: listeners accept and relay in the native relay (io/native-relay.ts) when it is
 * built, unless FULCRUM_TCP_RELAY=js; otherwise they accept through Node and relay over
 * its libuv handles (relay.ts), or over net.Sockets (connection-sockets.ts) where the
 * self-test (io/internals.ts) found those handles unusable. `relay` says which.
 */
export class TcpFrontend implements ConnectionHost, NativeAcceptor, HandleAcceptor {
  readonly name: string;
  /** Some route names SNI hosts: ClientHellos are read before routing. */
  readonly sniRouting: boolean;
  /** Open client connections. */
  readonly connections = new SlotList<'listSlot', TcpConnection>('listSlot');
  private readonly router: Router<Pool>;
  private readonly trusted: CidrSet;
  private readonly sweeper: Sweeper;
  private readonly server: net.Server;
  private stopping = false;
  /** The native relay and this listener's index in it, once listening there. */
  private native: NativeRelay | null = null;
  private nativeIndex = -1;
  private boundAddress: net.AddressInfo | null = null;
  /** Client connections accepted so far. */
  accepted = 0;
  /** One JSON line per connection, or null. */
  private readonly accessLog: AccessLog | null;
  /** max_connections_per_client and new_connections_per_client, or null. */
  readonly clientLimits: ClientConnectionLimits | null;
  private readonly lastLog = new Map<string, { at: number; suppressed: number }>();

  /**
   * Compiles the routes (throws FULCRUM_ERR_CONFIG for an unknown pool) and the trusted
   * PROXY sources; binds nothing until start().
   */
  constructor(
    readonly config: ListenerConfig,
    pools: ReadonlyMap<string, Pool>,
  ) {
    this.name = config.name;
    this.router = new Router(config.routes, (route) => {
      const name = route.pool ?? '';
      const pool = pools.get(name);
      if (pool === undefined) throw new FulcrumError('FULCRUM_ERR_CONFIG', `listener ${config.name}: unknown pool ${name}`);
      return pool;
    });
    this.sniRouting = config.routes.some((r) => r.hosts.length > 0);
    this.trusted = new CidrSet(config.proxyProtocol?.trusted ?? []);
    const t = config.timeouts;
    this.sweeper = new Sweeper(tickFor(Math.min(config.tcp.idleMs, config.tcp.helloTimeoutMs, t.connectMs)));
    this.accessLog = config.accessLog === null ? null : new AccessLog(config.name, config.accessLog);
    this.clientLimits = ClientConnectionLimits.of(config);
    this.server = net.createServer({ pauseOnConnect: true, allowHalfOpen: true }, (sock) => this.acceptSocket(sock));
  }

  /** Binds the listener. Rejects with FULCRUM_ERR_LISTEN when the address is taken or not permitted. */
  start(): Promise<void> {
    internals(); // the self-test of Node's internals, once per process (its log lines before the listener's)
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        reject(
          new FulcrumError('FULCRUM_ERR_LISTEN', `listener ${this.name}: cannot listen on ${this.config.host}:${this.config.port}: ${err.code ?? err.message}`, {
            cause: err,
          }),
        );
      };
      this.server.once('error', onError);
      this.server.listen({ host: this.config.host, port: this.config.port, backlog: 4096 }, () => {
        this.server.off('error', onError);
        this.server.on('error', (err: NodeJS.ErrnoException) => this.log('accept', `accept failed: ${err.code ?? err.message}`));
        this.boundAddress = this.server.address() as net.AddressInfo;
        // After every 'listening' listener: node:cluster's reads the address from the handle.
        process.nextTick(() => {
          if (!this.listenNative()) takeOverAccept(this.server, this, false);
          resolve();
        });
      });
    });
  }

  /**
   * Which engine relays this listener's connections (known once start() resolved):
   * native, js (Node's TCP handles), or net (net.Sockets, where the handles are not usable).
   */
  get relay(): 'native' | 'js' | 'net' {
    return this.native !== null ? 'native' : internals().handles !== null ? 'js' : 'net';
  }

  /** The bound address (useful with port 0). */
  address(): net.AddressInfo {
    return this.boundAddress ?? (this.server.address() as net.AddressInfo);
  }

  /** Client connections open now. */
  get active(): number {
    return this.connections.size;
  }

  /**
   * Stops accepting; open connections keep relaying until they end or `graceMs`
   * (default 5 s) has passed, then the rest are closed.
   */
  async stop(opts: { graceMs?: number; closeIdle?: boolean } = {}): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.native !== null) this.native.unlisten(this.nativeIndex);
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    const deadline = Date.now() + (opts.graceMs ?? 5000);
    while (this.connections.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    for (const c of this.connections.values()) c.close();
    this.sweeper.close();
    await closed;
  }

  /** What the listener's limits refused (LIMIT_KINDS): connections at accept. */
  get limited(): number[] {
    return [this.clientLimits?.refusedMax ?? 0, this.clientLimits?.refusedRate ?? 0, 0];
  }

  /** ConnectionHost: the pool for a server name (null: none). */
  route(serverName: string | null): Pool | undefined {
    return this.router.match(serverName ?? undefined, '/');
  }

  /** ConnectionHost: whether a PROXY header is accepted from `address`. */
  isTrusted(address: string): boolean {
    return this.trusted.has(address);
  }

  /** ConnectionHost: a connection has closed. */
  forget(conn: TcpConnection): void {
    if (!this.connections.delete(conn)) return;
    this.sweeper.delete(conn);
    if (conn.limitedAs !== null) this.clientLimits!.release(conn.limitedAs);
    if (this.accessLog !== null) {
      const s = conn.server;
      this.accessLog.connection({
        client: conn.clientAddress,
        clientPort: conn.clientPort,
        at: conn.startedAt,
        server: s === null ? null : s.toString(),
        bytesIn: conn.bytesIn,
        bytesOut: conn.bytesOut,
        end: conn.endReason,
      });
    }
  }

  /** ConnectionHost: writes `message` unless a line of this kind went out less than a second ago. */
  log(kind: string, message: string): void {
    const now = Date.now();
    const last = this.lastLog.get(kind);
    if (last !== undefined && now - last.at < LOG_INTERVAL_MS) {
      last.suppressed++;
      return;
    }
    const more = last !== undefined && last.suppressed > 0 ? ` (and ${last.suppressed} more like it)` : '';
    this.lastLog.set(kind, { at: now, suppressed: 0 });
    log().warn(`listener ${this.name}: ${message}${more}`);
  }

  /**
   * Moves accepting to the native relay (NativeRelay.takeOver; `stop()` tells the primary
   * when the listener ends). False when this listener stays with Node (no native relay,
   * FULCRUM_TCP_RELAY=js).
   */
  private listenNative(): boolean {
    if (process.env.FULCRUM_TCP_RELAY === 'js') return false;
    const native = nativeRelay();
    const index = native === null ? -1 : native.takeOver(this.server, this, false);
    if (index < 0) return false;
    this.native = native;
    this.nativeIndex = index;
    return true;
  }

  /** NativeAcceptor: the native relay accepted pair `id`. */
  nativeAccepted(id: number): void {
    const native = this.native!;
    const client = this.admit(() => native.peer(id)?.[0] ?? '');
    if (client === null) {
      native.close(id);
      return;
    }
    this.open(new NativeConnection(this, native, id), client);
  }

  /** NativeAcceptor: accepting a pair threw; it was closed. */
  internalError(err: unknown): void {
    this.log('internal', `internal error while accepting: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  }

  /** NativeAcceptor: accept() failed (out of descriptors, say); the listener rests a moment. */
  acceptFailed(code: number): void {
    this.log('accept', `accept failed: ${errName(code)}`);
  }

  /** HandleAcceptor: a handle taken from the listening handle (io/accept.ts), or out of an accepted net.Socket. */
  acceptHandle(handle: TcpHandle): void {
    const client = this.admit(() => HANDLE.peerAddress(handle));
    if (client === null) {
      handle.close();
      return;
    }
    this.open(new HandleConnection(this, handle), client);
  }

  /** A socket from net.Server's 'connection' event: relayed over its handle, or over it where handles are not usable. */
  private acceptSocket(sock: net.Socket): void {
    const handle = internals().handles === null ? undefined : detachHandle(sock);
    if (handle !== undefined) {
      this.acceptHandle(handle);
      return;
    }
    const client = this.admit(() => sock.remoteAddress ?? '');
    if (client === null) {
      sock.destroy();
      return;
    }
    this.open(new SocketConnection(this, sock), client);
  }

  /**
   * Whether a new connection may open (not stopping, below max_connections, within the
   * client's limits): the peer's address counted by those limits ('' without them), or null.
   */
  private admit(peer: () => string): string | null {
    const max = this.config.maxConnections;
    if (this.stopping || (max > 0 && this.connections.size >= max)) {
      if (!this.stopping) this.log('max-connections', `${max} connections open (max_connections): new ones are closed`);
      return null;
    }
    if (this.clientLimits === null) return '';
    const address = peer();
    if (!this.clientLimits.admit(address)) {
      this.log('client-limits', `a connection from ${address} is over max_connections_per_client or new_connections_per_client: closed`);
      return null;
    }
    return address;
  }

  private open(conn: TcpConnection, client: string): void {
    if (this.clientLimits !== null) conn.limitedAs = client;
    this.accepted++;
    if (this.accessLog !== null) conn.readAddresses(); // the handle may be closed by the time the line is written
    this.connections.add(conn);
    this.sweeper.add(conn);
    try {
      conn.begin();
    } catch (err) {
      conn.internalError(err);
    }
  }
}
