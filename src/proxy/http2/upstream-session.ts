/**
 * HTTP/2 connections to one server (pool `protocol: h2` or `h2c`), shared by every request
 * of a listener: each request takes a stream on the first connection with room (at most
 * `http2.max_streams`, or fewer if the server says so), and a new connection opens when
 * all are full. A connection quiet for `ping_interval` is checked with a PING and closed
 * when the answer takes as long again; one without streams closes after the pool's
 * keep-alive idle timeout. A GOAWAY stops new streams on its connection; the streams the
 * server did not take are refused, and the exchange sends them elsewhere.
 */
import http2 from 'node:http2';
import { now } from '../../core/clock.js';
import type { Expirable, Sweeper } from '../../core/sweeper.js';
import type { Server } from '../../backend/server.js';
import type { PoolConfig } from '../../config/types.js';
import type { UpstreamTls } from '../../tls/upstream-tls.js';
import type { Upstream, UpstreamOwner, UpstreamSource } from '../http/upstream.js';
import { H2StreamConn } from './upstream-stream.js';

/** A stream's receive window: what one paused client can leave unread at the server connection. */
const STREAM_WINDOW = 256 * 1024;
/** The most a connection's window may be (2^31 - 1). */
const MAX_WINDOW = 0x7fffffff;

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
      if (!c.goingAway && c.active < c.limit) {
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
      if (c !== from && !c.goingAway && c.active < c.limit) {
        conn = c;
        break;
      }
    }
    if (conn === undefined) {
      conn = new H2Connection(this);
      this.conns.push(conn);
    }
    from.active--;
    if (from.active === 0) from.idleSince = now();
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
    if (conn.active === 0) conn.idleSince = now();
    const i = conn.waiting.indexOf(up);
    if (i >= 0) conn.waiting.splice(i, 1);
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
export class H2Connection implements Expirable {
  readonly session: http2.ClientHttp2Session;
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
  /** When the PING in flight was sent, or 0. */
  private pingSent = 0;
  /** When the last PING was sent. */
  private lastPing = now();
  private error: Error | undefined;

  constructor(private readonly up: H2Upstream) {
    const { server, tls, config, connectMs } = up;
    this.limit = config.http2.maxStreams;
    const host = server.host.includes(':') ? `[${server.host}]` : server.host;
    const options: http2.SecureClientSessionOptions = {
      settings: { enablePush: false, initialWindowSize: STREAM_WINDOW },
      maxSessionMemory: 64,
    };
    if (tls !== null) {
      options.secureContext = tls.context;
      options.servername = tls.servername(server.host) ?? '';
      options.rejectUnauthorized = tls.verify;
      options.ALPNProtocols = ['h2'];
    }
    const session = http2.connect(`${up.scheme}://${host}:${server.port}`, options);
    this.session = session;
    this.deadline = now() + connectMs;
    up.sweeper.add(this);
    session.on('connect', () => this.onConnect());
    session.on('remoteSettings', (s: http2.Settings) => {
      const max = s.maxConcurrentStreams;
      this.limit = max === undefined ? config.http2.maxStreams : Math.max(1, Math.min(config.http2.maxStreams, max));
    });
    session.on('goaway', (_code: number, last: number) => {
      this.goingAway = true;
      this.goawayLast = last;
    });
    session.on('error', (err: Error) => {
      this.error = err;
    });
    session.on('close', () => this.onClose());
  }

  private onConnect(): void {
    const session = this.session;
    if (this.up.tls !== null && session.alpnProtocol !== 'h2') {
      session.destroy(new Error(`the server did not agree to HTTP/2 by ALPN (got ${session.alpnProtocol || 'none'})`));
      return;
    }
    this.connected = true;
    this.idleSince = now();
    this.deadline = this.nextCheck();
    const window = Math.min(MAX_WINDOW, this.up.config.http2.maxStreams * STREAM_WINDOW);
    try {
      session.setLocalWindowSize(window);
    } catch {
      // a session closing already
    }
    for (const up of this.waiting.splice(0)) up.onConnect();
  }

  private onClose(): void {
    this.goingAway = true;
    this.up.forget(this);
    const err = this.error ?? new Error(this.connected ? 'connection closed' : 'could not connect');
    (err as NodeJS.ErrnoException).code ??= 'ECONNREFUSED';
    for (const up of this.waiting.splice(0)) up.onConnectionGone(err);
  }

  /** The sweeper's tick: connect deadline, idle close, keep-alive PING. */
  expire(t: number): void {
    const session = this.session;
    if (session.closed || session.destroyed) return;
    if (!this.connected) {
      session.destroy(new Error('connect timeout'));
      return;
    }
    const ping = this.up.config.http2.pingIntervalMs;
    if (this.pingSent !== 0 && ping > 0 && t - this.pingSent >= ping) {
      session.destroy(new Error(`PING not answered within ${ping} ms`));
      return;
    }
    if (this.active === 0 && t - this.idleSince >= this.up.config.keepalive.idleTimeoutMs) {
      this.close();
      return;
    }
    if (ping > 0 && this.pingSent === 0 && t - this.lastPing >= ping) {
      this.pingSent = t;
      this.lastPing = t;
      try {
        session.ping((err) => {
          if (err === null) this.pingSent = 0;
        });
      } catch {
        // too many pings in flight or closing: the next tick decides
      }
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
    if (!this.session.closed) this.session.close();
  }
}
