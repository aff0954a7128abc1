/**
 * HTTP/2 connections to one server (pool `protocol: h2` or `h2c`), shared by every request
 * of a listener: each request takes a stream on the first connection with room (at most
 * `http2.max_streams`, or fewer if the server says so), and a new connection opens when
 * all are full. A connection quiet for `ping_interval` is checked with a PING and closed
 * when the answer takes as long again; one without streams closes after the pool's
 * keep-alive idle timeout, or as soon as more than `keepalive.max_idle` connections to the
 * server are idle. A GOAWAY stops new streams on its connection; the streams the
 * server did not take are refused, and the exchange sends them elsewhere. The protocol
 * itself is h2-client.ts's (not node:http2: its request() alone cost ~50 µs per request).
 */
import { now } from '../../core/clock.js';
import type { Expirable, Sweeper } from '../../core/sweeper.js';
import type { Server } from '../../backend/server.js';
import type { PoolConfig } from '../../config/types.js';
import type { UpstreamTls } from '../../tls/upstream-tls.js';
import type { Upstream, UpstreamOwner, UpstreamSource } from '../http/upstream.js';
import { ClientSession, type SessionOwner } from './h2-client.js';
import { MAX_WINDOW } from './wire/frames.js';
import { H2StreamConn } from './upstream-stream.js';

/** A stream's receive window: what one paused client can leave unread at the server connection. */
const STREAM_WINDOW = 256 * 1024;
/** The most bytes of fields a response head or trailers may decode to. */
const MAX_HEADER_BYTES = 256 * 1024;

/** The connections to one server. */
export class H2Upstream implements UpstreamSource {
  private readonly conns: H2Connection[] = [];
  readonly scheme: 'http' | 'https';

  constructor(
    readonly server: Server,
    readonly sweeper: Sweeper,
    readonly config: PoolConfig,
    readonly connectMs: number,
    /** TLS to the server (protocol h2), or null (h2c). */
    readonly tls: UpstreamTls | null,
  ) {
    this.scheme = tls === null ? 'http' : 'https';
  }

  /** A stream on a connection with room, opening one when every connection is full (`fresh` changes nothing: streams are never reused). */
  acquire(owner: UpstreamOwner, _fresh: boolean): Upstream {
    let conn: H2Connection | undefined;
    for (const c of this.conns) {
      if (!c.goingAway && !c.session.goingAway && c.active < c.limit) {
        conn = c;
        break;
      }
    }
    if (conn === undefined) {
      conn = new H2Connection(this);
      this.conns.push(conn);
    }
    conn.active++;
    const up = new H2StreamConn(this, conn, owner);
    this.sweeper.add(up);
    if (!conn.connected) conn.waiting.push(up);
    return up;
  }

  /** Moves a refused stream to another connection with room (a new one if none), for its one retry. */
  moveStream(up: H2StreamConn): H2Connection {
    const from = up.conn;
    let conn: H2Connection | undefined;
    for (const c of this.conns) {
      if (c !== from && !c.goingAway && !c.session.goingAway && c.active < c.limit) {
        conn = c;
        break;
      }
    }
    if (conn === undefined) {
      conn = new H2Connection(this);
      this.conns.push(conn);
    }
    from.active--;
    if (from.active === 0) this.idled(from);
    conn.active++;
    up.conn = conn;
    if (!conn.connected) conn.waiting.push(up);
    return conn;
  }

  /** Takes a stream back after a complete exchange. */
  release(up: Upstream): void {
    (up as H2StreamConn).release();
  }

  /** A stream closed for good: its place on the connection is free. */
  streamClosed(up: H2StreamConn): void {
    this.sweeper.delete(up);
    const conn = up.conn;
    conn.active--;
    if (conn.active === 0) this.idled(conn);
    const i = conn.waiting.indexOf(up);
    if (i >= 0) conn.waiting.splice(i, 1);
  }

  /**
   * A connection's last stream ended. Beyond `keepalive.max_idle` idle connections to
   * this server (a burst opened more than the steady load needs), it closes at the
   * sweeper's next tick, not here: this runs inside the session's own frame handling.
   */
  private idled(conn: H2Connection): void {
    conn.idleSince = now();
    if (this.idleCount() > this.config.keepalive.maxIdle) conn.deadline = conn.idleSince;
  }

  /** Connections ready for streams that carry none. */
  idleCount(): number {
    let n = 0;
    for (const c of this.conns) if (c.connected && !c.goingAway && c.active === 0) n++;
    return n;
  }

  /** A connection closed: it takes no more streams. */
  forget(conn: H2Connection): void {
    this.sweeper.delete(conn);
    const i = this.conns.indexOf(conn);
    if (i >= 0) this.conns.splice(i, 1);
  }

  /** Closes every connection gracefully (shutdown): streams in progress finish. */
  close(): void {
    for (const c of this.conns.splice(0)) c.close();
  }

  /** Connections open or opening (for tests and status). */
  get connectionCount(): number {
    return this.conns.length;
  }
}

/** One HTTP/2 connection to a server: its session, streams in use and keep-alive. */
export class H2Connection implements Expirable, SessionOwner {
  readonly session: ClientSession;
  connected = false;
  /** Streams taken on it (including requests waiting for the connection). */
  active = 0;
  /** Streams it may carry at once: the pool's max_streams, or the server's lower SETTINGS_MAX_CONCURRENT_STREAMS. */
  limit: number;
  /** A GOAWAY came (or we are closing): no new streams. */
  goingAway = false;
  /** The last stream the server's GOAWAY says it processed, or -1. */
  goawayLast = -1;
  /** Requests waiting for the connection to be ready. */
  readonly waiting: H2StreamConn[] = [];
  idleSince = now();
  deadline = 0;
  sweepSlot = -1;
  /** When the PING in flight was sent, or 0. */
  private pingSent = 0;
  /** When the last PING was sent. */
  private lastPing = now();

  constructor(private readonly up: H2Upstream) {
    const { server, tls, config, connectMs } = up;
    this.limit = config.http2.maxStreams;
    this.session = new ClientSession(this, {
      host: server.host,
      port: server.port,
      tls: tls === null ? null : { context: tls.context, servername: tls.servername(server.host), verify: tls.verify },
      streamWindow: STREAM_WINDOW,
      connectionWindow: Math.min(MAX_WINDOW, config.http2.maxStreams * STREAM_WINDOW),
      maxHeaderBytes: MAX_HEADER_BYTES,
    });
    this.deadline = now() + connectMs;
    up.sweeper.add(this);
  }

  onSessionConnect(): void {
    this.connected = true;
    this.idleSince = now();
    this.deadline = this.nextCheck();
    for (const up of this.waiting.splice(0)) up.onConnect();
  }

  onSessionSettings(max: number | undefined): void {
    const limit = this.up.config.http2.maxStreams;
    this.limit = max === undefined ? limit : Math.max(1, Math.min(limit, max));
  }

  onSessionGoaway(last: number): void {
    this.goingAway = true;
    this.goawayLast = this.goawayLast < 0 ? last : Math.min(this.goawayLast, last);
  }

  onSessionPingAck(): void {
    this.pingSent = 0;
  }

  onSessionClose(error: Error | undefined): void {
    this.goingAway = true;
    this.up.forget(this);
    const err = error ?? new Error(this.connected ? 'connection closed' : 'could not connect');
    (err as NodeJS.ErrnoException).code ??= 'ECONNREFUSED';
    for (const up of this.waiting.splice(0)) up.onConnectionGone(err);
  }

  /** The sweeper's tick: connect deadline, idle close, keep-alive PING. */
  expire(t: number): void {
    const session = this.session;
    if (session.destroyed) return;
    if (!this.connected) {
      session.destroy(new Error('connect timeout'));
      return;
    }
    const ping = this.up.config.http2.pingIntervalMs;
    if (this.pingSent !== 0 && ping > 0 && t - this.pingSent >= ping) {
      session.destroy(new Error(`PING not answered within ${ping} ms`));
      return;
    }
    const { idleTimeoutMs, maxIdle } = this.up.config.keepalive;
    if (this.active === 0 && (t - this.idleSince >= idleTimeoutMs || this.up.idleCount() > maxIdle)) {
      this.close();
      return;
    }
    if (ping > 0 && this.pingSent === 0 && t - this.lastPing >= ping) {
      this.pingSent = t;
      this.lastPing = t;
      session.ping();
    }
    this.deadline = this.nextCheck();
  }

  private nextCheck(): number {
    const ping = this.up.config.http2.pingIntervalMs;
    const idle = this.up.config.keepalive.idleTimeoutMs;
    return now() + (ping > 0 ? Math.min(ping, idle) : idle);
  }

  /** No new streams; closes once the streams in progress end. */
  close(): void {
    this.goingAway = true;
    this.up.forget(this);
    this.session.close();
  }
}
