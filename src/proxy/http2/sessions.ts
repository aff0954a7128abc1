import type net from 'node:net';
import type { Http2Config } from '../../config/types-tls.js';
import { Sweeper, tickFor, type Expirable } from '../../core/sweeper.js';
import type { NativeSocket } from '../../io/native-socket.js';
import type { HttpFrontend } from '../http/frontend.js';
import type { ProxyAddress } from '../proxy-protocol.js';
import { NodeHttp2Server } from './node-sessions.js';
import { WireSession } from './wire-session.js';
import type { ServerSettings } from './server-connection.js';
import { SlotList } from '../../core/slot-list.js';

/** One client connection speaking HTTP/2, whichever server runs it. */
export interface Http2Session extends Expirable {
  /** Its slot in the listener's list of sessions (-1 when none). */
  listSlot: number;
  /** GOAWAY (NO_ERROR): streams in flight finish, then the connection closes. */
  goAway(): void;
  /** Cuts the connection now. */
  destroy(): void;
}

/**
 * Which HTTP/2 server runs client connections: our own on the wire layer
 * (server-connection.ts), or node:http2 with FULCRUM_H2=node (the fallback).
 */
export function http2Server(env: NodeJS.ProcessEnv = process.env): 'wire' | 'node' {
  return env.FULCRUM_H2 === 'node' ? 'node' : 'wire';
}

/**
 * The HTTP/2 side of a listener: it is handed connections (TLS sockets that chose `h2`
 * by ALPN, and plain ones that opened with the h2c preface); each request stream becomes
 * a StreamExchange on the listener's pools.
 */
export class Http2Sessions {
  readonly sweeper: Sweeper;
  private readonly sessions = new SlotList<'listSlot', Http2Session>('listSlot');
  private readonly node: NodeHttp2Server | null;
  /** Our SETTINGS and limits, for the wire server. */
  readonly settings: ServerSettings;

  constructor(
    readonly fe: HttpFrontend,
    cfg: Http2Config,
  ) {
    const t = fe.timeouts;
    this.sweeper = new Sweeper(tickFor(Math.min(t.headerMs, t.keepAliveMs, t.clientMs)));
    const limits = fe.limits;
    this.settings = {
      maxConcurrentStreams: cfg.maxConcurrentStreams,
      streamWindow: cfg.initialStreamWindow,
      connectionWindow: cfg.initialConnectionWindow,
      maxHeaderListSize: cfg.maxHeaderListSize ?? limits.headerBytes,
      // pseudo-header fields count too
      maxHeaderFields: limits.headerCount + 8,
    };
    this.node = http2Server() === 'node' ? new NodeHttp2Server(this, cfg) : null;
  }

  /** Connections speaking HTTP/2 now. */
  get count(): number {
    return this.sessions.size;
  }

  /**
   * Takes over a connection whose next bytes are HTTP/2 (after the TLS handshake chose
   * h2, or after the h2c preface, which comes as `head`).
   */
  attach(sock: NativeSocket | net.Socket, proxied: ProxyAddress | null, head: Buffer | null = null): void {
    if (this.node !== null) {
      this.node.attach(sock, proxied, head);
      return;
    }
    const s = new WireSession(this, sock, proxied);
    this.adopt(s);
    s.start(head);
  }

  /** @internal a new session */
  adopt(s: Http2Session): void {
    this.sessions.add(s);
    this.sweeper.add(s);
  }

  /** @internal a session closed */
  forget(s: Http2Session): void {
    this.sessions.delete(s);
    this.sweeper.delete(s);
  }

  /**
   * Sends GOAWAY (NO_ERROR) on every connection: requests in flight finish, clients open
   * new connections for the next ones. For shutdown and for configuration reloads.
   */
  goAway(): void {
    for (const s of this.sessions) s.goAway();
  }

  /** Ends every connection now (after the grace of a shutdown). */
  destroy(): void {
    for (const s of this.sessions) s.destroy();
    this.sessions.clear();
    this.sweeper.close();
  }
}
