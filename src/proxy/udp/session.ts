import dgram from 'node:dgram';
import net from 'node:net';
import type { Server } from '../../backend/server.js';
import type { TableEntry } from './session-table.js';

/** Largest UDP payload over IPv4 (65535 - 20 byte IP header - 8 byte UDP header). */
export const MAX_PAYLOAD_V4 = 65_507;
/** Largest UDP payload over IPv6 without jumbograms (65535 - 8 byte UDP header). */
export const MAX_PAYLOAD_V6 = 65_527;
/**
 * Datagrams held while a new upstream socket connects (a tick or two for an IP address,
 * a name lookup otherwise); more are dropped.
 */
export const MAX_PENDING = 32;

/** What a session reports to the listener that owns it. Called on the event loop, never re-entrantly from `send()`. */
export interface SessionOwner {
  /** A datagram arrived from the session's server (only from it: the socket is connected). */
  relay(session: Session, msg: Buffer): void;
  /**
   * The upstream socket failed: ICMP port or host unreachable (ECONNREFUSED, EHOSTUNREACH
   * on a connected socket), a failed connect or name lookup, or a local error. The
   * session is still attached; the owner decides what ends.
   */
  failed(session: Session, err: NodeJS.ErrnoException): void;
  /** The session's idle deadline passed (called by the sweeper). */
  expired(session: Session): void;
}

/** The largest payload that may be sent to `address` (IPv4-mapped IPv6 addresses travel as IPv4). */
export function maxPayloadTo(address: string): number {
  return address.includes(':') && !address.startsWith('::ffff:') ? MAX_PAYLOAD_V6 : MAX_PAYLOAD_V4;
}

/**
 * One UDP flow: a client (address and port) and, while attached, the server chosen for
 * it with an upstream dgram socket connected to that server. Because the socket is
 * connected, the kernel delivers on it only datagrams from that server (they are
 * relayed to this client, from the listener's own address) and reports ICMP errors
 * for it (which a shared unconnected socket would not see).
 *
 * Session mode keys a session by client; per-packet mode keys one by (client, server).
 * A session may be detached (no server, no socket) and attached again to another
 * server: session mode does that when its server stops being usable or fails.
 *
 * While attached the session holds one unit of `server.active`, so least-conn and
 * max_conn see sessions as they see connections.
 */
export class Session implements TableEntry {
  /** Idle deadline (ms since epoch), a field store per datagram; watched by the listener's sweeper. */
  deadline = 0;
  sweepSlot = -1;
  /** The server this session is attached to, or null while detached. */
  server: Server | null = null;
  /** The pool's `version` when `server` was last known usable (saves a usable-set scan per datagram). */
  poolVersion = -1;
  /** The server whose error ended the last attachment: the next pick avoids it if it can. */
  failedServer: Server | null = null;
  /** A datagram came back from the current server (passive health counts that as 'ok' once). */
  replied = false;
  /** Largest payload the client can be sent. */
  readonly clientMax: number;
  /** Largest payload the current server can be sent. */
  upstreamMax = MAX_PAYLOAD_V4;
  private socket: dgram.Socket | null = null;
  /** Datagrams waiting for the upstream socket to connect; null once connected. */
  private pending: Buffer[] | null = null;

  constructor(
    readonly key: string,
    readonly clientAddress: string,
    readonly clientPort: number,
    private readonly owner: SessionOwner,
  ) {
    this.clientMax = maxPayloadTo(clientAddress);
  }

  /**
   * Chooses `server`: counts it in `server.active`, opens a dgram socket and connects it
   * to the server. Datagrams sent before the connect completes are queued (up to
   * MAX_PENDING). The session must be detached. Costs one socket (a file descriptor).
   */
  attach(server: Server, poolVersion: number): void {
    server.active++;
    server.total++;
    this.server = server;
    this.poolVersion = poolVersion;
    this.replied = false;
    const v6 = net.isIP(server.host) === 6;
    this.upstreamMax = v6 ? MAX_PAYLOAD_V6 : MAX_PAYLOAD_V4;
    const sock = dgram.createSocket(v6 ? 'udp6' : 'udp4');
    this.socket = sock;
    this.pending = [];
    // Events from a socket this session has already let go of are ignored.
    sock.on('message', (msg) => {
      if (this.socket === sock) this.owner.relay(this, msg);
    });
    sock.on('error', (err: NodeJS.ErrnoException) => {
      if (this.socket === sock) this.owner.failed(this, err);
    });
    sock.connect(server.port, server.host, (err?: Error) => {
      if (this.socket !== sock) return;
      if (err !== undefined && err !== null) {
        this.owner.failed(this, err as NodeJS.ErrnoException);
        return;
      }
      const queued = this.pending ?? [];
      this.pending = null;
      for (const b of queued) sock.send(b);
    });
  }

  /**
   * Sends `msg` to the server (or queues it while connecting). Returns false when it was
   * dropped: detached, or the connect queue is full. No callback is passed, so Node takes
   * its synchronous try-send path; delivery errors surface as ICMP errors on the socket.
   */
  send(msg: Buffer): boolean {
    const sock = this.socket;
    if (sock === null) return false;
    if (this.pending !== null) {
      if (this.pending.length >= MAX_PENDING) return false;
      this.pending.push(msg);
      return true;
    }
    sock.send(msg);
    return true;
  }

  /**
   * Lets go of the server: closes the upstream socket and gives back the unit of
   * `server.active`. Returns the server it was attached to (the caller tells the pool,
   * `pool.released`), or null when already detached. Idempotent.
   */
  detach(): Server | null {
    const server = this.server;
    const sock = this.socket;
    if (server === null || sock === null) return null;
    server.active--;
    this.server = null;
    this.socket = null;
    this.pending = null;
    try {
      sock.close();
    } catch {
      /* already closed */
    }
    return server;
  }

  /** Sweeper callback: the idle deadline passed. */
  expire(_now: number): void {
    this.owner.expired(this);
  }
}
