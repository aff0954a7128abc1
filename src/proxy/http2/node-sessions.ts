import http2 from 'node:http2';
import type net from 'node:net';
import type { Http2Config } from '../../config/types-tls.js';
import type { Sweeper, Expirable } from '../../core/sweeper.js';
import type { HttpFrontend } from '../http/frontend.js';
import type { ClientFacts } from '../http/rewrite.js';
import type { ProxyAddress } from '../proxy-protocol.js';
import { StreamExchange, type StreamHost } from './stream-exchange.js';
import { NodeStream } from './node-stream.js';
import type { Http2Sessions } from './sessions.js';
import { H2Transport, type TransportEvents } from './transport.js';
import { serverNameOf, tlsVersionOf } from '../exchange/exchange.js';
import type { NativeSocket } from '../../io/native-socket.js';

/** One client connection speaking HTTP/2. */
class NodeSession implements StreamHost, Expirable, TransportEvents {
  deadline: number;
  sweepSlot = -1;
  listSlot = -1;
  /** The session's byte stream, with the client's addresses. */
  readonly sock: net.Socket;
  readonly tlsVersion: string;
  /** The TLS server name the client sent, or ''. */
  readonly serverName: string;
  readonly facts: ClientFacts;
  readonly sweeper: Sweeper;
  /** Streams open now. */
  active = 0;
  /** GOAWAY sent: streams in flight finish, no new ones. */
  closing = false;
  /** Streams waiting for the end of the current read before their first dispatch. */
  private later: StreamExchange[] = [];
  /** Streams the client reset before their response was done. */
  private resets = 0;

  constructor(
    private readonly owner: Http2Sessions,
    readonly session: http2.ServerHttp2Session,
    private readonly transport: H2Transport,
    readonly proxied: ProxyAddress | null,
  ) {
    this.sock = transport.duplex as unknown as net.Socket;
    this.tlsVersion = tlsVersionOf(transport.sock);
    this.serverName = serverNameOf(transport.sock);
    transport.events = this;
    const fe = owner.fe;
    this.sweeper = owner.sweeper;
    this.facts = fe.clientFacts(proxied?.address ?? transport.sock.remoteAddress ?? '');
    // the first request must come as soon as a first HTTP/1.1 request head would
    this.deadline = Date.now() + fe.timeouts.headerMs;
    session.on('stream', (stream: http2.ServerHttp2Stream, _headers: unknown, _flags: number, raw: string[]) => this.onStream(stream, raw));
    // nghttp2 answers protocol errors itself (GOAWAY or RST_STREAM with the right code);
    // what reaches JS afterwards only ends this session
    session.on('error', ignore);
    session.on('frameError', ignore);
    session.on('close', () => owner.forget(this));
    answerWithTheRightCode(session, (code) => this.ending(code));
  }

  /**
   * How long a connection that has said GOAWAY (and has no stream left) may take to
   * close: node:http2 half-closes and waits for the client's side, which a client that
   * does not read would never give.
   */
  private get lingerMs(): number {
    return Math.min(this.owner.fe.timeouts.clientMs, 5000);
  }

  /**
   * The session is being destroyed (an error, or our own cut): the socket follows within
   * the linger time, and the client is told why (`code`) even when node:http2 cannot.
   */
  private ending(code: number): void {
    if (code !== 0 && !this.session.destroyed) this.transport.goAwayBeforeEnd(code, this.session.state.lastProcStreamID ?? 0);
    this.closing = true;
    this.deadline = Date.now() + this.lingerMs;
  }

  /**
   * A GOAWAY went out. Ours (closing already) changes nothing. One that nghttp2 sent by
   * itself with an error code (a connection error, a flood) means it has stopped reading
   * for good, and node:http2 will not say so: the session is destroyed, which ends its
   * streams and their server exchanges, and the socket closes once the GOAWAY is written
   * (or within the linger time). A NO_ERROR one (node:http2 answering the client's own
   * GOAWAY) lets streams in flight finish, as our own goAway() does.
   */
  goAwaySent(code: number): void {
    if (this.closing) return;
    this.closing = true;
    if (code === 0) {
      this.deadline = this.active === 0 ? Date.now() + this.lingerMs : 0;
      return;
    }
    this.deadline = Date.now() + this.lingerMs;
    // not from inside node:http2's write
    setImmediate(() => {
      if (!this.session.destroyed) this.session.destroy();
    });
  }

  /**
   * The client sent FIN. Without a stream open the connection is over now (what is
   * already written still goes out before our FIN, within the linger time); with streams
   * in flight, their responses may still be written (the client may be reading) for as
   * long as the client timeout allows, then the connection is cut.
   */
  peerEnded(): void {
    if (this.active === 0) {
      if (!this.session.destroyed) this.session.destroy();
      return;
    }
    this.goAway();
    this.deadline = Date.now() + this.owner.fe.timeouts.clientMs;
  }

  private onStream(stream: http2.ServerHttp2Stream, raw: string[]): void {
    this.active++;
    this.deadline = 0;
    new StreamExchange(this, new NodeStream(stream), raw, stream.endAfterHeaders);
  }

  /**
   * A new stream's request goes to a server now, or, once this client has reset more
   * than RESETS_BEFORE_WARY streams, after the current read has been processed whole:
   * a rapid reset (HEADERS then RST_STREAM, a thousand per connection) then costs no
   * server connection. Not for everyone: the deferral costs about a sixth of the CPU per
   * HTTP/2 request.
   */
  dispatchLater(x: StreamExchange): void {
    if (this.resets <= RESETS_BEFORE_WARY) {
      x.dispatchNow();
      return;
    }
    if (this.later.length === 0) setImmediate(() => this.dispatchWaiting());
    this.later.push(x);
  }

  streamReset(): void {
    this.resets++;
  }

  private dispatchWaiting(): void {
    const waiting = this.later;
    this.later = [];
    for (const x of waiting) x.dispatchNow();
  }

  /** A stream closed: when it was the last, the idle (or linger) deadline starts. */
  streamClosed(): void {
    if (--this.active === 0) this.deadline = Date.now() + (this.closing ? this.lingerMs : this.owner.fe.timeouts.keepAliveMs);
  }

  get fe(): HttpFrontend {
    return this.owner.fe;
  }

  /**
   * Idle longer than the keep-alive timeout (or no first request in time): GOAWAY. After
   * a GOAWAY, a connection still open when its linger time is up is cut.
   */
  expire(): void {
    if (this.closing) {
      this.destroy();
      return;
    }
    if (this.active === 0) this.goAway();
  }

  /** GOAWAY (NO_ERROR): streams in flight finish, then the connection closes. */
  goAway(): void {
    if (this.closing || this.session.closed || this.session.destroyed) return;
    this.closing = true;
    this.deadline = this.active === 0 ? Date.now() + this.lingerMs : 0;
    this.session.close();
  }

  /** Cuts the connection now. */
  destroy(): void {
    if (!this.session.destroyed) this.session.destroy();
    this.transport.sock.destroy();
  }
}

/**
 * node:http2's server for a listener (FULCRUM_H2=node): it never listens but is handed
 * connections; nghttp2 frames, enforces the SETTINGS limits and answers protocol errors.
 */
export class NodeHttp2Server {
  private readonly server: http2.Http2Server;
  private incoming: { transport: H2Transport; proxied: ProxyAddress | null } | null = null;

  constructor(
    private readonly owner: Http2Sessions,
    private readonly cfg: Http2Config,
  ) {
    const limits = owner.fe.limits;
    this.server = http2.createServer({
      settings: {
        maxConcurrentStreams: cfg.maxConcurrentStreams,
        initialWindowSize: cfg.initialStreamWindow,
        maxHeaderListSize: cfg.maxHeaderListSize ?? limits.headerBytes,
        enablePush: false,
      },
      // pseudo-header fields count too
      maxHeaderListPairs: limits.headerCount + 8,
    });
    this.server.on('session', (session: http2.ServerHttp2Session) => this.onSession(session));
  }

  /** Takes over a connection; it is read and written through an H2Transport from now on. */
  attach(sock: NativeSocket | net.Socket, proxied: ProxyAddress | null, head: Buffer | null): void {
    const transport = new H2Transport(sock, head);
    this.incoming = { transport, proxied };
    try {
      this.server.emit('connection', transport.duplex);
    } finally {
      this.incoming = null;
    }
  }

  private onSession(session: http2.ServerHttp2Session): void {
    const incoming = this.incoming;
    if (incoming === null) {
      session.destroy();
      return;
    }
    this.owner.adopt(new NodeSession(this.owner, session, incoming.transport, incoming.proxied));
    if (this.cfg.initialConnectionWindow > 65_535) {
      try {
        session.setLocalWindowSize(this.cfg.initialConnectionWindow);
      } catch {
        // the session already failed: its close cleans up
      }
    }
  }
}

function ignore(): void {}

/** Client resets a connection may make before its new streams wait for the end of each read (see dispatchLater). */
const RESETS_BEFORE_WARY = 16;

const C = http2.constants;

/**
 * nghttp2's error (a negative library code) -> the HTTP/2 error code it stands for, as
 * nghttp2 itself maps them for the GOAWAY it sends.
 */
const LIB_TO_H2 = new Map<number, number>([
  [-505, C.NGHTTP2_PROTOCOL_ERROR], // NGHTTP2_ERR_PROTO
  [-531, C.NGHTTP2_PROTOCOL_ERROR], // NGHTTP2_ERR_HTTP_HEADER
  [-532, C.NGHTTP2_PROTOCOL_ERROR], // NGHTTP2_ERR_HTTP_MESSAGING
  [-510, C.NGHTTP2_STREAM_CLOSED], // NGHTTP2_ERR_STREAM_CLOSED
  [-522, C.NGHTTP2_FRAME_SIZE_ERROR], // NGHTTP2_ERR_FRAME_SIZE_ERROR
  [-523, C.NGHTTP2_COMPRESSION_ERROR], // NGHTTP2_ERR_HEADER_COMP
  [-524, C.NGHTTP2_FLOW_CONTROL_ERROR], // NGHTTP2_ERR_FLOW_CONTROL
  [-533, C.NGHTTP2_REFUSED_STREAM], // NGHTTP2_ERR_REFUSED_STREAM
  [-904, C.NGHTTP2_ENHANCE_YOUR_CALM], // NGHTTP2_ERR_FLOODED
  [-903, C.NGHTTP2_PROTOCOL_ERROR], // NGHTTP2_ERR_BAD_CLIENT_MAGIC: not the connection preface (RFC 9113 section 3.4)
]);

/**
 * When nghttp2 finds a connection error, node:http2 destroys the session with its own
 * INTERNAL_ERROR GOAWAY, hiding the code nghttp2 chose (a PROTOCOL_ERROR becomes an
 * INTERNAL_ERROR). This puts the right code on that GOAWAY, and tells the owner the
 * session is ending.
 */
function answerWithTheRightCode(session: http2.ServerHttp2Session, onDestroy: (code: number) => void): void {
  const destroy = session.destroy.bind(session);
  session.destroy = (error?: Error, code?: number) => {
    const errno = (error as (Error & { errno?: number }) | undefined)?.errno;
    const mapped = code === undefined && errno !== undefined ? LIB_TO_H2.get(errno) : undefined;
    // node:http2's own default: INTERNAL_ERROR with an error, NO_ERROR without
    onDestroy(mapped ?? code ?? (error === undefined ? C.NGHTTP2_NO_ERROR : C.NGHTTP2_INTERNAL_ERROR));
    destroy(error, mapped ?? code);
  };
}
