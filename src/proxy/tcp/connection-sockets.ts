/**
 * A tcp listener's connection over net.Sockets, Node's public API: the fallback where
 * neither the native relay nor Node's internal TCP bindings are usable (the self-test,
 * io/internals.ts, said which is missing). The same decisions as the other engines
 * (connection.ts); the relay is 'data' events and writes with pause/resume backpressure,
 * half-close passed on with end(), a reset passed on with resetAndDestroy(). Slower per
 * connection than the other two, and only used when they cannot be.
 */
import net from 'node:net';
import { UV_EOF } from '../../io/uv.js';
import { ConnPhase, TcpConnection, type ConnectionHost, type SocketAddress } from './connection.js';
import type { RelayEnd } from './relay.js';

const NOTHING = Buffer.alloc(0);

export class SocketConnection extends TcpConnection {
  bytesIn = 0;
  bytesOut = 0;
  /** Date.now() of the last byte relayed either way. */
  private lastActivity = 0;
  private upstream: net.Socket | null = null;
  private relaying = false;
  private ended = false;
  private clientClosed = false;
  private upstreamClosed = false;
  private readonly onPrelude = (chunk: Buffer): void => {
    try {
      this.preludeData(chunk, chunk.length);
    } catch (err) {
      this.internalError(err);
    }
  };
  private readonly onPreludeEnd = (): void => this.preludeEnd(UV_EOF);

  constructor(
    host: ConnectionHost,
    private readonly client: net.Socket,
  ) {
    super(host);
    client.on('error', (err) => this.socketError(true, err));
    client.once('close', () => {
      this.clientClosed = true;
      this.maybeDone();
    });
  }

  override begin(): void {
    this.client.setNoDelay(true);
    super.begin();
  }

  protected socketAddresses(): { peer: SocketAddress; local: SocketAddress } {
    const c = this.client;
    return { peer: { address: c.remoteAddress, port: c.remotePort }, local: { address: c.localAddress, port: c.localPort } };
  }

  protected startPrelude(): boolean {
    this.client.on('data', this.onPrelude);
    this.client.on('end', this.onPreludeEnd);
    this.client.resume();
    return true;
  }

  protected stopPrelude(): void {
    this.client.pause();
    this.client.off('data', this.onPrelude);
    this.client.off('end', this.onPreludeEnd);
  }

  protected dial(address: string, family: number, port: number): void {
    const seq = this.dialSeq;
    const up = net.connect({ host: address, port, family, allowHalfOpen: true, noDelay: true });
    this.upstream = up;
    up.once('connect', () => {
      try {
        this.connectDone(seq, 0);
      } catch (err) {
        this.internalError(err);
      }
    });
    up.on('error', (err: NodeJS.ErrnoException) => {
      if (this.upstream !== up) return;
      if (this.phase === ConnPhase.Connecting && seq === this.dialSeq) {
        try {
          this.connectFailed(err.code ?? err.message);
        } catch (e) {
          this.internalError(e);
        }
      } else {
        this.socketError(false, err);
      }
    });
    up.once('close', () => {
      if (this.upstream !== up) return;
      this.upstreamClosed = true;
      this.maybeDone();
    });
  }

  protected dropUpstream(): void {
    const up = this.upstream;
    if (up === null) return;
    this.upstream = null;
    up.destroy();
  }

  protected startRelay(): void {
    const up = this.upstream!;
    const client = this.client;
    const first = this.firstBytes();
    this.bytesIn += this.preludeLen;
    this.prelude = null;
    this.lastActivity = Date.now();
    this.relaying = true;
    if (client.destroyed) {
      // reset while the server connection was being made
      this.finish('client-reset');
      return;
    }
    if (first !== null && first.length > 0) up.write(first);
    this.pipe(client, up, true);
    this.pipe(up, client, false);
    if (client.readableEnded) up.end(); // its FIN came with the prelude
    else client.resume();
  }

  /** Relays `from` into `to`; `fromClient` counts the bytes as bytesIn. */
  private pipe(from: net.Socket, to: net.Socket, fromClient: boolean): void {
    from.on('data', (chunk: Buffer) => {
      this.lastActivity = Date.now();
      if (fromClient) this.bytesIn += chunk.length;
      else this.bytesOut += chunk.length;
      if (!to.write(chunk)) from.pause();
    });
    to.on('drain', () => {
      if (!this.ended) from.resume();
    });
    from.once('end', () => {
      if (this.ended) return;
      // A reset that arrives together with unread data reads as an end of stream; a
      // zero-length write tells the two apart (as relay.ts does): a reset socket fails
      // it ('error': a reset passed on), one the peer half-closed takes it.
      if (from.writableEnded || from.destroyed) to.end();
      else from.write(NOTHING, (err) => {
        if (err == null && !this.ended) to.end();
      });
    });
  }

  protected closeRelay(reason: RelayEnd): void {
    this.finish(reason);
  }

  protected closeSockets(): void {
    this.client.destroy();
    this.dropUpstream();
  }

  protected idleFor(now: number): number {
    return now - this.lastActivity;
  }

  /** A read or write error (a reset, say) on one of the sockets. */
  private socketError(fromClient: boolean, _err: Error): void {
    try {
      if (this.relaying) this.finish(fromClient ? 'client-reset' : 'server-reset');
      else if (fromClient && (this.phase === ConnPhase.ProxyHeader || this.phase === ConnPhase.Hello)) this.preludeEnd(-1);
      // else: a client reset while waiting for a server shows when the relay starts
    } catch (err) {
      this.internalError(err);
    }
  }

  /** Both sockets closed by themselves after both ways ended: done. */
  private maybeDone(): void {
    if (this.relaying && !this.ended && this.clientClosed && this.upstreamClosed) this.finish('done');
  }

  /** Closes both sockets (a reset is passed on as a reset) and reports the end, once. */
  private finish(reason: RelayEnd): void {
    if (this.ended) return;
    this.ended = true;
    const up = this.upstream!;
    const client = this.client;
    // libuv refuses a reset after a shutdown (and the socket would then never close), so
    // a socket whose FIN is already on its way is closed instead (as in relay.ts)
    if (reason === 'server-reset' && !client.destroyed && !client.writableEnded) client.resetAndDestroy();
    else client.destroy();
    if (reason === 'client-reset' && !up.destroyed && !up.writableEnded) up.resetAndDestroy();
    else up.destroy();
    this.relayEnded(reason, '');
  }
}
