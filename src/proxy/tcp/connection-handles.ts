/**
 * A tcp listener's connection over Node's libuv TCP handles (io/tcp-handles.ts), relayed by
 * relay.ts: the JavaScript engine, used wherever the native relay is not available
 * (not built, not Linux) or FULCRUM_TCP_RELAY=js asks for it.
 */
import type { ConnectRequest, Handles, TcpHandle } from '../../io/tcp-handles.js';
import { loadHandles } from '../../io/internals.js';
import { ConnectionHost, TcpConnection, type SocketAddress } from './connection.js';
import { errName } from '../../io/uv.js';
import { Relay, sharedReadBuffer, type RelayEnd, type RelayOwner } from './relay.js';

let H: Handles;

export class HandleConnection extends TcpConnection implements RelayOwner {
  bytesIn = 0;
  bytesOut = 0;
  /** Date.now() of the last byte relayed either way. */
  lastActivity = 0;
  private upstream: TcpHandle | null = null;
  private relay: Relay | null = null;
  /** The client handle reads into the shared buffer already (useUserBuffer once per handle). */
  private clientBuffered = false;

  constructor(
    host: ConnectionHost,
    private readonly client: TcpHandle,
  ) {
    super(host);
    H = loadHandles()!;
    client.owner = this;
  }

  override begin(): void {
    this.client.setNoDelay(true);
    super.begin();
  }

  protected socketAddresses(): { peer: SocketAddress; local: SocketAddress } {
    const peer: SocketAddress = {};
    const local: SocketAddress = {};
    this.client.getpeername(peer);
    this.client.getsockname(local);
    return { peer, local };
  }

  protected startPrelude(): boolean {
    this.client.useUserBuffer(sharedReadBuffer());
    this.clientBuffered = true;
    this.client.onread = onPreludeRead;
    return this.client.readStart() >= 0;
  }

  protected stopPrelude(): void {
    this.client.readStop();
  }

  protected dial(address: string, family: number, port: number): void {
    const handles = H;
    const h = handles.newTcp();
    this.upstream = h;
    const req = handles.newConnect();
    req.oncomplete = afterConnect;
    req.address = address;
    req.port = port;
    req.conn = this;
    req.attempt = ++this.dialSeq;
    const err = family === 6 ? h.connect6(req, address, port) : h.connect(req, address, port);
    if (err < 0) this.connectFailed(errName(err));
  }

  protected dropUpstream(): void {
    if (this.upstream === null) return;
    this.upstream.close();
    this.upstream = null;
  }

  protected startRelay(): void {
    const up = this.upstream!;
    up.setNoDelay(true);
    const first = this.firstBytes();
    this.bytesIn += this.preludeLen;
    this.prelude = null;
    this.lastActivity = Date.now();
    if (!this.clientBuffered) this.client.useUserBuffer(sharedReadBuffer());
    const relay = new Relay(this, this.client, up);
    this.relay = relay;
    relay.start(first);
  }

  protected closeRelay(reason: RelayEnd): void {
    this.relay?.close(reason);
  }

  protected closeSockets(): void {
    this.client.close();
    this.dropUpstream();
  }

  protected idleFor(now: number): number {
    return now - this.lastActivity;
  }
}

function onPreludeRead(this: TcpHandle): undefined {
  const conn = this.owner as HandleConnection;
  const n = H.state[H.READ_BYTES]!;
  try {
    if (n > 0) conn.preludeData(sharedReadBuffer(), n);
    else if (n < 0) conn.preludeEnd(n);
  } catch (err) {
    conn.internalError(err);
  }
  return undefined;
}

function afterConnect(this: ConnectRequest, status: number): void {
  const conn = this.conn as HandleConnection;
  this.conn = null;
  try {
    conn.connectDone(this.attempt, status);
  } catch (err) {
    conn.internalError(err);
  }
}
