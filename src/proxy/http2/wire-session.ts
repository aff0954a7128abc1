/**
 * One client connection on our own HTTP/2 server (server-connection.ts): its deadlines
 * (first request, keep-alive, linger after GOAWAY), GOAWAY on demand, and each request
 * stream as a StreamExchange, dispatched once the read that opened it is processed whole
 * (a stream reset in the same read, rapid reset, never costs a server request).
 */
import type net from 'node:net';
import type { NativeSocket } from '../../io/native-socket.js';
import type { Sweeper } from '../../core/sweeper.js';
import type { HttpFrontend } from '../http/frontend.js';
import type { ClientFacts } from '../http/rewrite.js';
import type { ProxyAddress } from '../proxy-protocol.js';
import { serverNameOf, tlsVersionOf, type Peer } from '../exchange/exchange.js';
import { ServerConnection, type ConnectionOwner } from './server-connection.js';
import type { ServerStream } from './server-stream.js';
import { StreamExchange, type StreamHost } from './stream-exchange.js';
import type { Http2Session, Http2Sessions } from './sessions.js';
import { ErrorCode } from './wire/frames.js';

export class WireSession implements StreamHost, Http2Session, ConnectionOwner {
  deadline: number;
  sweepSlot = -1;
  listSlot = -1;
  readonly sock: Peer;
  readonly tlsVersion: string;
  readonly serverName: string;
  readonly facts: ClientFacts;
  readonly sweeper: Sweeper;
  private readonly conn: ServerConnection;
  /** Streams open now. */
  private active = 0;
  /** GOAWAY sent: streams in flight finish, no new ones. */
  private closing = false;
  /** Streams waiting for the end of the current read before their first dispatch. */
  private later: StreamExchange[] = [];
  private reading = false;

  constructor(
    private readonly owner: Http2Sessions,
    sock: NativeSocket | net.Socket,
    readonly proxied: ProxyAddress | null,
  ) {
    this.sock = sock;
    this.tlsVersion = tlsVersionOf(sock);
    this.serverName = serverNameOf(sock);
    const fe = owner.fe;
    this.sweeper = owner.sweeper;
    this.facts = fe.clientFacts(proxied?.address ?? sock.remoteAddress ?? '');
    // the preface and first request must come as soon as a first HTTP/1.1 request head would
    this.deadline = Date.now() + fe.timeouts.headerMs;
    this.conn = new ServerConnection(sock, owner.settings, this);
  }

  start(head: Buffer | null): void {
    this.conn.start(head);
  }

  get fe(): HttpFrontend {
    return this.owner.fe;
  }

  /** How long a connection that said GOAWAY (with no stream left) may take to close. */
  private get lingerMs(): number {
    return Math.min(this.owner.fe.timeouts.clientMs, 5000);
  }

  // ---- ConnectionOwner ----------------------------------------------------------------

  onStream(stream: ServerStream, raw: string[], ended: boolean): void {
    this.active++;
    this.deadline = 0;
    // streams open only inside a read: their dispatches wait for its end (onReadDone)
    this.reading = true;
    new StreamExchange(this, stream, raw, ended);
  }

  onReadDone(): void {
    this.reading = false;
    const waiting = this.later;
    if (waiting.length === 0) return;
    this.later = [];
    for (const x of waiting) x.dispatchNow();
  }

  onPeerGoAway(): void {
    this.goAway();
  }

  /**
   * The client sent FIN. Without a stream open the connection is over now; with streams
   * in flight, their responses may still be written for as long as the client timeout
   * allows, then the connection is cut.
   */
  onPeerEnd(): void {
    if (this.active === 0) {
      this.conn.finish();
      this.deadline = Date.now() + this.lingerMs;
      return;
    }
    this.goAway();
    this.deadline = Date.now() + this.owner.fe.timeouts.clientMs;
  }

  onConnectionError(): void {
    this.closing = true;
    this.deadline = Date.now() + this.lingerMs;
  }

  onClose(): void {
    this.owner.forget(this);
  }

  // ---- StreamHost ---------------------------------------------------------------------

  /** Dispatches `x` once the read being processed is done (at once outside a read). */
  dispatchLater(x: StreamExchange): void {
    if (this.reading) this.later.push(x);
    else x.dispatchNow();
  }

  streamReset(): void {}

  /** A stream closed: when it was the last, the idle (or linger) deadline starts; after GOAWAY the connection ends. */
  streamClosed(): void {
    if (--this.active !== 0) return;
    if (this.closing) {
      this.conn.finish();
      this.deadline = Date.now() + this.lingerMs;
      return;
    }
    this.deadline = Date.now() + this.owner.fe.timeouts.keepAliveMs;
  }

  // ---- Http2Session -------------------------------------------------------------------

  /**
   * Idle longer than the keep-alive timeout (or no first request in time): GOAWAY and
   * close. After a GOAWAY, a connection still open when its linger time is up is cut.
   */
  expire(): void {
    if (this.closing) {
      this.destroy();
      return;
    }
    if (this.active === 0) this.goAway();
  }

  goAway(): void {
    if (this.closing || this.conn.closed) return;
    this.closing = true;
    this.conn.goAway(ErrorCode.NO_ERROR);
    if (this.active === 0) {
      this.conn.finish();
      this.deadline = Date.now() + this.lingerMs;
    } else {
      this.deadline = 0;
    }
  }

  destroy(): void {
    this.conn.destroy();
  }
}
