import dgram from 'node:dgram';
import net from 'node:net';
import type { Pool } from '../../backend/pool.js';
import type { ListenerConfig } from '../../config/types.js';
import { FulcrumError } from '../../core/errors.js';
import { Sweeper, tickFor } from '../../core/sweeper.js';
import { Chooser, clientIp, clientKey, flowKey, isServerFault, stillUsable } from './choice.js';
import { SessionTable } from './session-table.js';
import { Session, type SessionOwner } from './session.js';
import { log } from '../../core/log.js';

/**
 * While stopping, the listener keeps relaying replies until no flow has seen a datagram
 * for this long (or the grace time is over): answers to requests already forwarded
 * still reach their clients.
 */
export const DRAIN_QUIET_MS = 100;

/** Counters of one UDP listener, read by tests, logs and (later) metrics. Plain fields: incrementing is free. */
export interface UdpStats {
  /** Datagrams received from clients (empty ones included). */
  received: number;
  /** Datagrams sent on to servers (including ones queued while an upstream socket connected). */
  forwarded: number;
  /** Datagrams from servers relayed back to clients. */
  relayed: number;
  /** Sessions opened (per-packet mode: client-server flows). */
  sessionsOpened: number;
  /** Sessions ended: idle expiry, failure (per-packet), no server left on re-pick, or stop. */
  sessionsClosed: number;
  /** Upstream socket errors (ICMP unreachable, failed connect, local errors). */
  upstreamErrors: number;
  /** Datagrams dropped, by reason. */
  dropped: {
    /** A new session was needed and `max_sessions` were live. */
    sessionLimit: number;
    /** No usable server with room. */
    noServer: number;
    /** Larger than the destination's address family can carry (IPv6 client, IPv4 server, over 65507 bytes). */
    tooBig: number;
    /** More than MAX_PENDING arrived while the upstream socket was connecting. */
    pending: number;
    /** Arrived from a client after stop() began. */
    stopping: number;
  };
}

/**
 * A `mode: udp` listener: one dgram socket (udp4 or udp6 by the bind address) relaying
 * datagrams to the pool of its single route, and the servers' replies back to each
 * client from the listener's own address and port.
 *
 * Session mode (default): the first datagram of a client (address and port) picks a
 * server and opens a session, an upstream socket connected to that server; later
 * datagrams of the client follow it, and whatever the server sends on it goes back to
 * the client. A session lives while datagrams flow either way and ends `sessionIdleMs`
 * after the last one (coarse sweeper expiry, a field store per datagram). While it
 * lives it counts in `server.active` (least-conn, max_conn). When its server leaves
 * `pool.usable` (down, ejected, drained, a backup after a primary returns) the client's
 * next datagram re-picks; when its upstream socket fails (ICMP port unreachable) the
 * error goes to passive health as 'connect-error' and the next datagram re-picks,
 * avoiding that server if another can take it. The failed datagram is lost, as UDP
 * allows: the client's retransmission goes to the new server.
 *
 * Per-packet mode (`perPacket`, for DNS, syslog): every datagram is balanced on its own.
 * It is sent on an upstream socket per (client, server) pair, opened by the first
 * datagram of the pair and ended like a session, after `sessionIdleMs` without a
 * datagram either way (keep it short for request/response protocols: a DNS client
 * using a new source port per query leaves one idle pair behind per query). Replies on
 * a pair's socket can only be for that client, so routing them back needs no request
 * identity and works for any protocol. Chosen over one ephemeral socket per datagram
 * (a socket and a bind per packet, and no place for a second reply) and over a few
 * shared sockets (which would have to parse each protocol's request ids).
 *
 * `maxSessions` bounds live sessions (per-packet: pairs), hence upstream sockets: at
 * the limit a datagram that needs a new one is dropped and counted
 * (`stats.dropped.sessionLimit`), established sessions keep working; see SessionTable.
 *
 * Nothing a client or server sends can crash the listener: empty datagrams are relayed
 * (they are valid UDP), datagrams too large for the destination's family are dropped
 * and counted, socket errors are counted and logged at most once a second per kind.
 *
 * One process per listener address: the socket is bound exclusively, since sessions
 * live in this process's memory.
 */
export class UdpFrontend {
  /** The listener's name from the configuration. */
  readonly name: string;
  /** The pool of the listener's route. */
  readonly pool: Pool;
  /** Counters since construction. */
  readonly stats: UdpStats = {
    received: 0,
    forwarded: 0,
    relayed: 0,
    sessionsOpened: 0,
    sessionsClosed: 0,
    upstreamErrors: 0,
    dropped: { sessionLimit: 0, noServer: 0, tooBig: 0, pending: 0, stopping: 0 },
  };
  private readonly socket: dgram.Socket;
  private readonly sweeper: Sweeper;
  private readonly table: SessionTable<Session>;
  private readonly chooser: Chooser;
  private readonly perPacket: boolean;
  private readonly owner: SessionOwner;
  private bound = false;
  private stopping: Promise<void> | null = null;
  private serveWhileStopping = false;
  /** Last log line time per kind (ms), to log at most once a second under load. */
  private readonly lastLog = new Map<string, number>();

  /**
   * Resolves the route's pool (FULCRUM_ERR_CONFIG if unknown) and creates the socket;
   * nothing is bound until start().
   */
  constructor(
    readonly config: ListenerConfig,
    pools: ReadonlyMap<string, Pool>,
  ) {
    this.name = config.name;
    const poolName = config.routes[0]?.pool;
    const pool = poolName === undefined || poolName === null ? undefined : pools.get(poolName);
    if (pool === undefined) {
      throw new FulcrumError('FULCRUM_ERR_CONFIG', `listener ${config.name}: a udp listener needs one route naming a known pool (got ${poolName ?? 'none'})`);
    }
    this.pool = pool;
    this.chooser = new Chooser(pool);
    this.perPacket = config.udp.perPacket;
    this.sweeper = new Sweeper(tickFor(config.udp.sessionIdleMs));
    this.table = new SessionTable<Session>(config.udp.maxSessions, config.udp.sessionIdleMs, this.sweeper);
    this.owner = {
      relay: (s, msg) => this.relay(s, msg),
      failed: (s, err) => this.failed(s, err),
      expired: (s) => this.end(s),
    };
    this.socket = dgram.createSocket(net.isIP(config.host) === 6 ? 'udp6' : 'udp4');
    this.socket.on('message', (msg, rinfo) => this.fromClient(msg, rinfo));
  }

  /** Binds the listener socket. Rejects with FULCRUM_ERR_LISTEN (address in use, permission, no such address). */
  start(): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        reject(
          new FulcrumError('FULCRUM_ERR_LISTEN', `listener ${this.name}: cannot listen on udp ${this.config.host}:${this.config.port}: ${err.code ?? err.message}`, {
            cause: err,
          }),
        );
      };
      this.socket.once('error', onError);
      this.socket.bind({ address: this.config.host, port: this.config.port, exclusive: true }, () => {
        this.socket.off('error', onError);
        this.socket.on('error', (err: NodeJS.ErrnoException) => {
          if (this.logDue('listener-error')) this.log(`socket error: ${err.code ?? err.message}`);
        });
        this.bound = true;
        resolve();
      });
    });
  }

  /** The bound address (useful with port 0). Throws before start(). */
  address(): net.AddressInfo {
    return this.socket.address();
  }

  /** Live sessions (per-packet mode: client-server pairs). */
  /** Sessions opened so far and open now (the counters a status report shows as accepted and active). */
  get accepted(): number {
    return this.stats.sessionsOpened;
  }

  get active(): number {
    return this.sessions;
  }

  get sessions(): number {
    return this.table.size;
  }

  /**
   * Stops taking datagrams from clients (they are dropped and counted), keeps relaying
   * replies until no session has seen a datagram for DRAIN_QUIET_MS or `graceMs`
   * (default 5 s) has passed, then ends every session and closes the socket.
   * Idempotent: later calls return the same promise.
   */
  stop(opts: { graceMs?: number; closeIdle?: boolean } = {}): Promise<void> {
    // A reload's drain (closeIdle false): datagrams that still reach this socket (shared
    // with the new workers) are served as before, until the flows go quiet or graceMs.
    this.serveWhileStopping = opts.closeIdle === false;
    this.stopping ??= this.shutdown(opts.graceMs ?? 5000);
    return this.stopping;
  }

  private async shutdown(graceMs: number): Promise<void> {
    const deadline = Date.now() + graceMs;
    while (Date.now() < deadline && this.activeSince(Date.now() - DRAIN_QUIET_MS)) {
      await new Promise((r) => setTimeout(r, Math.max(1, Math.min(20, deadline - Date.now()))));
    }
    for (const s of this.table.clear()) {
      this.stats.sessionsClosed++;
      this.release(s);
    }
    this.sweeper.close();
    if (!this.bound) {
      try {
        this.socket.close();
      } catch {
        /* never opened */
      }
      return;
    }
    await new Promise<void>((resolve) => this.socket.close(() => resolve()));
  }

  /** True when some session saw a datagram after `since`. */
  private activeSince(since: number): boolean {
    for (const s of this.table.values()) if (this.table.lastActive(s) > since) return true;
    return false;
  }

  /** A datagram from a client. The hot path: no promise, no closure, one key string. */
  private fromClient(msg: Buffer, rinfo: dgram.RemoteInfo): void {
    this.stats.received++;
    if (this.stopping !== null && !this.serveWhileStopping) {
      this.stats.dropped.stopping++;
      return;
    }
    const key = clientKey(rinfo.address, rinfo.port);
    if (this.perPacket) this.perPacketDatagram(msg, rinfo, key);
    else this.sessionDatagram(msg, rinfo, key);
  }

  private sessionDatagram(msg: Buffer, rinfo: dgram.RemoteInfo, key: string): void {
    const now = Date.now();
    let s = this.table.get(key);
    if (s !== undefined && stillUsable(s, this.pool)) {
      this.table.touch(s, now);
      this.forward(s, msg);
      return;
    }
    if (s === undefined) {
      if (this.table.full) {
        this.refuse(rinfo);
        return;
      }
      const server = this.chooser.pick(rinfo.address, null);
      if (server === undefined) {
        this.noServer();
        return;
      }
      s = new Session(key, rinfo.address, rinfo.port, this.owner);
      this.table.add(s, now);
      this.stats.sessionsOpened++;
      s.attach(server, this.pool.version);
    } else {
      // Its server left the usable set, or failed: choose again, keeping the slot.
      this.release(s);
      const server = this.chooser.pick(rinfo.address, s.failedServer);
      if (server === undefined) {
        this.end(s);
        this.noServer();
        return;
      }
      s.failedServer = null;
      s.attach(server, this.pool.version);
      this.table.touch(s, now);
    }
    this.forward(s, msg);
  }

  private perPacketDatagram(msg: Buffer, rinfo: dgram.RemoteInfo, client: string): void {
    const server = this.chooser.pick(rinfo.address, null);
    if (server === undefined) {
      this.noServer();
      return;
    }
    const now = Date.now();
    const key = flowKey(client, server);
    let f = this.table.get(key);
    if (f === undefined) {
      if (this.table.full) {
        this.refuse(rinfo);
        return;
      }
      f = new Session(key, rinfo.address, rinfo.port, this.owner);
      this.table.add(f, now);
      this.stats.sessionsOpened++;
      f.attach(server, this.pool.version);
    } else {
      this.table.touch(f, now);
    }
    this.forward(f, msg);
  }

  private forward(s: Session, msg: Buffer): void {
    if (msg.length > s.upstreamMax) {
      this.stats.dropped.tooBig++;
      return;
    }
    if (s.send(msg)) this.stats.forwarded++;
    else this.stats.dropped.pending++;
  }

  /** A datagram from a session's server: back to its client, from the listener's address. */
  private relay(s: Session, msg: Buffer): void {
    if (!s.replied) {
      s.replied = true;
      this.pool.outlier?.record(s.server!, 'ok');
    }
    this.table.touch(s);
    if (msg.length > s.clientMax) {
      this.stats.dropped.tooBig++;
      return;
    }
    this.socket.send(msg, s.clientPort, s.clientAddress);
    this.stats.relayed++;
  }

  private failed(s: Session, err: NodeJS.ErrnoException): void {
    const server = s.server;
    if (server === null) return;
    this.stats.upstreamErrors++;
    const serverFault = isServerFault(err.code);
    if (serverFault) this.pool.outlier?.record(server, 'connect-error');
    if (this.logDue(serverFault ? 'server-error' : 'local-error')) {
      const next = this.perPacket ? 'its client-server socket is closed' : "the client's next datagram picks again";
      this.log(`server ${server.toString()}: ${err.code ?? err.message} (client ${clientIp(s.clientAddress)}:${s.clientPort}); ${next}`);
    }
    if (this.perPacket) {
      this.end(s);
      return;
    }
    // Keep the session (and its slot): the client's next datagram re-picks.
    if (serverFault) s.failedServer = server;
    this.release(s);
  }

  /** Detaches a session from its server and tells the pool (its queue may be waiting for room). */
  private release(s: Session): void {
    const server = s.detach();
    if (server !== null) this.pool.released(server);
  }

  /** Ends a session: out of the table, server released, socket closed. */
  private end(s: Session): void {
    if (this.table.remove(s)) this.stats.sessionsClosed++;
    this.release(s);
  }

  private refuse(rinfo: dgram.RemoteInfo): void {
    this.table.refused++;
    this.stats.dropped.sessionLimit++;
    if (this.logDue('session-limit')) this.log(`max_sessions ${this.table.maxSessions} reached: dropped a datagram from new client ${clientIp(rinfo.address)}:${rinfo.port}`);
  }

  private noServer(): void {
    this.stats.dropped.noServer++;
    if (this.logDue('no-server')) this.log(`dropped a datagram for pool ${this.pool.name}: ${this.pool.whyNone()}`);
  }

  /**
   * True at most once a second per kind (the HTTP listener's 503 log does the same):
   * callers build the line only then, so a flood of drops costs a map lookup each.
   */
  private logDue(kind: string): boolean {
    const now = Date.now();
    if (now - (this.lastLog.get(kind) ?? 0) < 1000) return false;
    this.lastLog.set(kind, now);
    return true;
  }

  private log(text: string): void {
    log().warn(`listener ${this.name}: ${text}`);
  }
}
