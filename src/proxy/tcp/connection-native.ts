/**
 * A tcp listener's connection relayed by the native relay (io/native-relay.ts): the sockets
 * live in C; this object makes the decisions (pool, server, retries, timeouts) and
 * keeps the accounting, like every TcpConnection. A prelude (PROXY header, ClientHello)
 * is read here, from the waiting client, and sent on as the first bytes of the relay.
 */
import os from 'node:os';
import { ConnectionHost, ConnPhase, TcpConnection, type SocketAddress } from './connection.js';
import { NativeEnd, type NativePairOwner, type NativeRelay, type PairStats } from '../../io/native-relay.js';
import { errName, UV_EOF } from '../../io/uv.js';
import type { RelayEnd } from './relay.js';

const EAGAIN = -(os.constants.errno.EAGAIN ?? 11);

const ENDS: Record<NativeEnd, RelayEnd> = {
  [NativeEnd.Done]: 'done',
  [NativeEnd.ClientReset]: 'client-reset',
  [NativeEnd.ServerReset]: 'server-reset',
};

export class NativeConnection extends TcpConnection implements NativePairOwner {
  /** The counters once the pair is gone (null while it is open). */
  private final: PairStats | null = null;

  constructor(
    host: ConnectionHost,
    private readonly native: NativeRelay,
    readonly id: number,
  ) {
    super(host);
    native.own(id, this);
  }

  get bytesIn(): number {
    return (this.final ?? this.native.stats(this.id))?.bytesIn ?? 0;
  }

  get bytesOut(): number {
    return (this.final ?? this.native.stats(this.id))?.bytesOut ?? 0;
  }

  protected socketAddresses(): { peer: SocketAddress; local: SocketAddress } {
    const peer = this.native.peer(this.id);
    const local = this.native.local(this.id);
    return {
      peer: peer === undefined ? {} : { address: peer[0], port: peer[1] },
      local: local === undefined ? {} : { address: local[0], port: local[1] },
    };
  }

  protected startPrelude(): boolean {
    this.native.want(this.id, true);
    this.readable();
    return true;
  }

  protected stopPrelude(): void {
    this.native.want(this.id, false);
  }

  /** NativePairOwner: the waiting client has bytes: read them while the prelude lasts. */
  readable(): void {
    while (this.phase === ConnPhase.ProxyHeader || this.phase === ConnPhase.Hello) {
      const n = this.native.read(this.id);
      if (n === EAGAIN) return;
      if (n > 0) {
        this.preludeData(this.native.reads, n);
      } else {
        this.preludeEnd(n === 0 ? UV_EOF : n);
        return;
      }
    }
  }

  protected dial(address: string, _family: number, port: number): void {
    ++this.dialSeq;
    const err = this.native.connect(this.id, address, port, this.firstBytes(), this.preludeLen);
    if (err < 0) this.connectFailed(errName(err));
  }

  /** NativePairOwner: the connect of the current attempt finished. */
  connectResult(status: number): void {
    this.connectDone(this.dialSeq, status);
  }

  protected dropUpstream(): void {
    this.native.drop(this.id);
  }

  protected startRelay(): void {
    // the native side relays as soon as the connect succeeds; the prelude went with it
    this.prelude = null;
  }

  /** NativePairOwner: the pair closed by itself. */
  ended(reason: NativeEnd, code: number, bytesIn: number, bytesOut: number): void {
    this.final = { bytesIn, bytesOut, idleMs: 0 };
    this.relayEnded(ENDS[reason] ?? 'internal-error', code < 0 ? errName(code) : '');
  }

  protected closeRelay(reason: RelayEnd): void {
    this.closeNative();
    this.relayEnded(reason, '');
  }

  protected closeSockets(): void {
    this.closeNative();
  }

  protected idleFor(_now: number): number {
    return this.native.stats(this.id)?.idleMs ?? 0;
  }

  private closeNative(): void {
    if (this.final !== null) return;
    this.final = this.native.close(this.id) ?? { bytesIn: 0, bytesOut: 0, idleMs: 0 };
  }
}
