import { now } from '../../core/clock.js';
import net from 'node:net';
import tls from 'node:tls';
import type { Server } from '../../backend/server.js';
import type { UpstreamTls } from '../../tls/upstream-tls.js';
import type { Expirable, Sweeper } from '../../core/sweeper.js';
import { READ_BUFFER, takeRead } from '../../io/read-buffer.js';
import { NativeSocket } from '../../io/native-socket.js';
import type { NativeRelay } from '../../io/native-relay.js';
import type { RequestFields } from './rewrite.js';

/**
 * What an exchange sends a request over: a byte stream that speaks HTTP/1.1 to it. An
 * UpstreamConn is one TCP (or TLS) connection to a server; an HTTP/2 pool's stream
 * (http2/upstream-stream.ts) translates the same bytes to and from one HTTP/2 stream of a
 * shared connection, so the exchange, its retries and its framing are the same for both.
 */
export interface Upstream {
  /** Where the request bytes go; for an HTTP/2 stream an object with the same methods (write, cork, pause, resume, end, destroy). */
  readonly sock: net.Socket | NativeSocket;
  owner: UpstreamOwner | null;
  /** Ready for the request (connected, TLS done); until then the owner waits for onUpstreamConnect. */
  readonly connected: boolean;
  /** Taken from the idle list (so it may have been closed by the server meanwhile). */
  readonly reused: boolean;
  /** The server answers over HTTP/2 (a pool with `protocol: h2` or `h2c`): its responses get `Via: 2`. */
  readonly http2?: boolean;
  /** When the sweeper calls the owner's onUpstreamTimeout (ms, 0: none). */
  deadline: number;
  /** Takes the upstream back after a complete exchange. */
  readonly pool: { release(up: Upstream): void };
  /** Closes it at once; the owner (if any) is told through onUpstreamClose. */
  destroy(): void;
  /**
   * An HTTP/2 server's stream: opens with the request's fields (no head text goes to
   * `sock`, only the body). False when it could not open (the owner heard onUpstreamClose).
   */
  openRequest?(fields: RequestFields): boolean;
}

/** The connections to one server (per listener): an idle or new upstream for each request. */
export interface UpstreamSource {
  /** An upstream owned by `owner` (`fresh`: never one that was idle). */
  acquire(owner: UpstreamOwner, fresh: boolean): Upstream;
  /** Closes every idle connection (shutdown). */
  close(): void;
}

/** The client-side exchange currently using an upstream connection. */
export interface UpstreamOwner {
  /** One of the callbacks below threw: the owner cuts its connections. */
  onInternalError(err: unknown): void;
  onUpstreamConnect(up: Upstream): void;
  onUpstreamData(up: Upstream, chunk: Buffer): void;
  /** A response head from an HTTP/2 server: its status and fields (the lists are the owner's); body bytes follow through onUpstreamData. */
  onUpstreamHead(up: Upstream, status: number, names: string[], values: string[]): void;
  /** Bytes [start, end) of the addon's arena, valid during this call only (native sockets); see NativeSocket.onBytes. */
  onUpstreamBytes(up: Upstream, arena: Buffer, start: number, end: number, headLength: number): void;
  /** The server half-closed (FIN). */
  onUpstreamEnd(up: Upstream): void;
  onUpstreamDrain(up: Upstream): void;
  onUpstreamClose(up: Upstream, err: Error | undefined): void;
  /** The upstream deadline passed while this owner held the connection. */
  onUpstreamTimeout(up: Upstream): void;
}

/**
 * One TCP connection to a server. Its socket listeners are attached once and dispatch
 * to whichever exchange owns it now; while idle in the pool nobody owns it, and any
 * byte or close from the server simply retires it.
 */
export class UpstreamConn implements Upstream, Expirable {
  readonly sock: net.Socket | NativeSocket;
  owner: UpstreamOwner | null = null;
  connected = false;
  /** Taken from the idle list (so it may have been closed by the server meanwhile). */
  reused = false;
  closed = false;
  deadline = 0;
  sweepSlot = -1;
  private error: Error | undefined;

  constructor(
    readonly pool: UpstreamPool,
    connectMs: number,
  ) {
    const server = pool.server;
    const t = pool.tls;
    const native = pool.native;
    if (native !== null) {
      const s = NativeSocket.connect(native, server.host, server.port);
      s.onBytes = (arena, start, end, headLength) => this.onBytes(arena, start, end, headLength);
      this.sock = s;
    } else {
      // Reads land in one shared buffer and reach onRead directly, skipping the
      // stream machinery ('data' events); see READ_BUFFER.
      const onread = { buffer: READ_BUFFER, callback: (n: number) => this.onRead(n) };
      this.sock =
        t === null
          ? net.connect({ host: server.host, port: server.port, allowHalfOpen: true, noDelay: true, onread })
          : tls.connect({
              host: server.host,
              port: server.port,
              allowHalfOpen: true,
              noDelay: true,
              onread,
              secureContext: t.context,
              servername: t.servername(server.host),
              rejectUnauthorized: t.verify,
              ALPNProtocols: ['http/1.1'],
              session: pool.tlsSession,
            } as tls.ConnectionOptions);
    }
    if (t !== null) this.sock.on('session', (session: Buffer) => (pool.tlsSession = session));
    this.deadline = now() + connectMs;
    // with TLS the connect deadline covers the handshake: connected means secure
    this.sock.on(t === null ? 'connect' : 'secureConnect', () => {
      this.connected = true;
      this.deadline = 0;
      const owner = this.owner;
      if (owner === null) return;
      try {
        owner.onUpstreamConnect(this);
      } catch (err) {
        owner.onInternalError(err);
      }
    });
    this.sock.on('end', () => {
      const owner = this.owner;
      if (owner === null) {
        this.sock.destroy();
        return;
      }
      try {
        owner.onUpstreamEnd(this);
      } catch (err) {
        owner.onInternalError(err);
      }
    });
    this.sock.on('drain', () => this.owner?.onUpstreamDrain(this));
    this.sock.on('error', (err) => {
      this.error = err;
    });
    this.sock.on('close', () => {
      this.closed = true;
      this.pool.forget(this);
      const owner = this.owner;
      this.owner = null;
      if (owner === null) return;
      try {
        owner.onUpstreamClose(this, this.error);
      } catch (err) {
        owner.onInternalError(err);
      }
    });
  }

  private onRead(n: number): boolean {
    return this.onData(takeRead(n));
  }

  private onData(chunk: Buffer): boolean {
    const owner = this.owner;
    if (owner === null) {
      this.sock.destroy(); // bytes on an idle connection: the server broke protocol
      return false;
    }
    try {
      owner.onUpstreamData(this, chunk);
    } catch (err) {
      owner.onInternalError(err);
    }
    return true;
  }

  private onBytes(arena: Buffer, start: number, end: number, headLength: number): void {
    const owner = this.owner;
    if (owner === null) {
      this.sock.destroy(); // bytes on an idle connection: the server broke protocol
      return;
    }
    try {
      owner.onUpstreamBytes(this, arena, start, end, headLength);
    } catch (err) {
      owner.onInternalError(err);
    }
  }

  expire(): void {
    expireUpstream(this);
  }

  /** Closes the connection at once; the owner (if any) is told through onUpstreamClose. */
  destroy(): void {
    if (!this.closed) this.sock.destroy();
  }
}

/**
 * Per-server pool of idle keep-alive connections, most recently used first (so the
 * least used ones age out). Idle connections expire before the server's own keep-alive
 * timeout would close them, which avoids the reuse race in the common case; the
 * exchange retries the rare remaining race for idempotent requests.
 */
export class UpstreamPool implements UpstreamSource {
  private readonly idle: UpstreamConn[] = [];
  /** The last TLS session the server gave us (tls pools), offered on the next connection to resume it. */
  tlsSession: Buffer | undefined = undefined;

  constructor(
    readonly server: Server,
    private readonly sweeper: Sweeper,
    private readonly maxIdle: number,
    private readonly idleTimeoutMs: number,
    private readonly connectMs: number,
    /** TLS to the server (pool `tls`), or null for plain TCP. */
    readonly tls: UpstreamTls | null = null,
    /** The native addon when connections go over its streams (plain TCP to an IP address), else null. */
    readonly native: NativeRelay | null = null,
  ) {}

  /** An idle connection (marked `reused`), or a new one that is connecting. */
  acquire(owner: UpstreamOwner, fresh: boolean): UpstreamConn {
    let up: UpstreamConn | undefined;
    if (!fresh) {
      while ((up = this.idle.pop()) !== undefined && up.closed);
    }
    if (up === undefined) {
      up = new UpstreamConn(this, this.connectMs);
      this.sweeper.add(up);
    } else {
      up.reused = true;
      up.deadline = 0;
    }
    up.owner = owner;
    return up;
  }

  /** Returns a healthy, fully-read connection for reuse, or closes it when the pool is full. */
  release(up: UpstreamConn): void {
    up.owner = null;
    if (up.closed) return;
    if (this.idle.length >= this.maxIdle) {
      up.destroy();
      return;
    }
    if (up.sock.isPaused()) up.sock.resume();
    up.deadline = now() + this.idleTimeoutMs;
    this.idle.push(up);
  }

  /** Drops a closed connection from the idle list and the sweeper. */
  forget(up: UpstreamConn): void {
    this.sweeper.delete(up);
    const i = this.idle.indexOf(up);
    if (i >= 0) this.idle.splice(i, 1);
  }

  /** Closes every idle connection (shutdown). */
  close(): void {
    for (const up of this.idle.splice(0)) up.destroy();
  }

  /** Idle connections right now (for tests and status). */
  get idleCount(): number {
    return this.idle.length;
  }
}

/** The sweeper's deadline of an upstream passed: its owner hears it, or one without an owner closes. */
export function expireUpstream(up: Upstream): void {
  const owner = up.owner;
  if (owner === null) {
    up.destroy();
    return;
  }
  try {
    owner.onUpstreamTimeout(up);
  } catch (err) {
    owner.onInternalError(err);
  }
}
