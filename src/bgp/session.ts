/**
 * One BGP session with one peer (RFC 4271's finite state machine, over node:net): it
 * connects (or waits, for a passive peer), exchanges OPENs, keeps the session alive
 * with KEEPALIVEs, watches the hold timer, and sends the routes the speaker gives it.
 * Fulcrum announces and withdraws; it reads what the peer sends only to check it and
 * installs nothing. A malformed message gets the NOTIFICATION RFC 4271 names for it,
 * and the session starts again after a back-off.
 */
import net from 'node:net';
import {
  AFI,
  BgpError,
  decodeNotification,
  decodeOpen,
  decodeUpdate,
  encodeKeepalive,
  encodeNotification,
  encodeOpen,
  encodeUpdate,
  ERR,
  MSG,
  SAFI_UNICAST,
  splitMessage,
  SUB,
  type OpenMessage,
  type Prefix,
  type RouteAttributes,
} from './wire.js';

export type SessionState = 'idle' | 'connect' | 'active' | 'opensent' | 'openconfirm' | 'established';

export interface PeerSettings {
  name: string;
  address: string;
  port: number;
  asn: number;
  passive: boolean;
  /** Local address to connect from (the session's next hop by default). */
  localAddress: string | null;
  holdTimeS: number;
  /** null: a third of the negotiated hold time. */
  keepaliveS: number | null;
  /** BFD with this peer, or null. */
  bfd: { minTxMs: number; minRxMs: number; multiplier: number } | null;
}

/** What a session needs from its speaker. */
export interface SessionOwner {
  readonly asn: number;
  readonly routerId: string;
  /** The routes to announce now to this session, grouped by shared attributes. */
  routesFor(session: BgpSession): Array<{ prefixes: Prefix[]; attrs: RouteAttributes }>;
  log(message: string): void;
}

/** Back-off between connection attempts: 1 s, doubling, at most 10 s, with ±20% jitter. */
const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 10_000;
/** RFC 4271: the hold timer while waiting for the peer's OPEN. */
const OPEN_HOLD_MS = 240_000;

export class BgpSession {
  state: SessionState = 'idle';
  /** The peer's OPEN, once received. */
  peerOpen: OpenMessage | null = null;
  /** When the session became established (ms since epoch), or 0. */
  establishedAt = 0;
  /** The last error or NOTIFICATION, for `fulcrum bgp show`. */
  lastError = '';
  /** Messages counted, for visibility. */
  readonly counts = { updatesSent: 0, updatesReceived: 0, notificationsSent: 0, notificationsReceived: 0, established: 0 };
  private sock: net.Socket | null = null;
  private buf: Buffer = Buffer.alloc(0);
  private holdMs = 0;
  private holdTimer: NodeJS.Timeout | null = null;
  private keepaliveTimer: NodeJS.Timeout | null = null;
  private retryTimer: NodeJS.Timeout | null = null;
  private retryMs = RETRY_MIN_MS;
  private stopped = false;

  constructor(
    readonly peer: PeerSettings,
    private readonly owner: SessionOwner,
  ) {}

  get ebgp(): boolean {
    return this.peer.asn !== this.owner.asn;
  }

  /** The local address of the TCP connection (the next hop, by default). */
  get localAddress(): string | undefined {
    return this.sock?.localAddress?.replace(/^::ffff:/, '');
  }

  /** Whether the peer's AS4 capability lets AS_PATH carry 4-octet numbers. */
  get as4(): boolean {
    return this.peerOpen?.as4 ?? false;
  }

  start(): void {
    this.stopped = false;
    if (this.peer.passive) this.state = 'active';
    else this.connect();
  }

  /** An incoming connection from this peer's address. Returns false when the session keeps its own (the caller closes it). */
  accept(sock: net.Socket): boolean {
    if (this.stopped || this.state === 'established' || this.state === 'openconfirm') return false;
    if (this.state === 'opensent' && this.sock !== null && !this.peer.passive) {
      // a collision: both sides connected; RFC 4271 6.8 keeps the connection opened by the higher BGP identifier
      if (ipNumber(this.owner.routerId) > ipNumber(this.peer.address)) return false;
      this.closeSocket();
    }
    this.clearRetry();
    this.attach(sock);
    return true;
  }

  /** Announces (attrs given) or withdraws prefixes of one family, when established. */
  send(prefixes: Prefix[], attrs: RouteAttributes | null): void {
    if (this.state !== 'established' || prefixes.length === 0) return;
    // an UPDATE holds at most 4096 bytes: a few hundred prefixes per message
    for (let i = 0; i < prefixes.length; i += 200) {
      this.write(encodeUpdate(prefixes.slice(i, i + 200), attrs, this.as4));
      this.counts.updatesSent++;
    }
  }

  /** BFD says the peer answers again: a session waiting to reconnect tries now. */
  retryNow(): void {
    if (this.stopped || this.peer.passive || this.sock !== null) return;
    this.clearRetry();
    this.retryMs = RETRY_MIN_MS;
    this.connect();
  }

  /** BFD says the peer is unreachable: the session goes down at once (RFC 5882), and is tried again. */
  reset(why: string): void {
    if (this.sock === null || this.stopped) return;
    this.lastError = why;
    this.closeSocket();
    this.down(why);
  }

  /**
   * Ends the session with a Cease NOTIFICATION (administrative shutdown by default) and
   * stops reconnecting. Resolves once the peer has closed its side (it read the
   * NOTIFICATION), or after a second: what the caller does next (BFD saying AdminDown)
   * must not reach the peer's BGP before the reason does.
   */
  stop(subcode: number = SUB.ADMIN_SHUTDOWN): Promise<void> {
    this.stopped = true;
    this.clearRetry();
    const sock = this.sock;
    if (sock !== null && this.state !== 'connect') this.notify(ERR.CEASE, subcode, 'stopping');
    this.sock = null;
    this.clearTimers();
    this.state = 'idle';
    if (sock === null || sock.destroyed) return Promise.resolve();
    sock.end();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        sock.destroy();
        resolve();
      };
      const timer = setTimeout(done, 1000);
      timer.unref();
      sock.once('end', done);
      sock.once('close', done);
    });
  }

  private connect(): void {
    if (this.stopped) return;
    this.state = 'connect';
    const sock = net.connect({ host: this.peer.address, port: this.peer.port, ...(this.peer.localAddress === null ? {} : { localAddress: this.peer.localAddress }) });
    this.sock = sock;
    sock.setNoDelay(true);
    const failed = (err: Error) => {
      if (this.sock !== sock) return;
      this.lastError = `connect: ${err.message}`;
      this.sock = null;
      sock.destroy();
      this.retryLater();
    };
    sock.once('error', failed);
    sock.setTimeout(10_000, () => failed(new Error('timed out')));
    sock.once('connect', () => {
      sock.off('error', failed);
      sock.setTimeout(0);
      if (this.sock !== sock) return;
      this.attach(sock);
    });
  }

  private attach(sock: net.Socket): void {
    this.sock = sock;
    this.buf = Buffer.alloc(0);
    this.peerOpen = null;
    sock.setNoDelay(true);
    sock.on('data', (d: Buffer) => this.receive(sock, d));
    sock.on('error', (err) => {
      if (this.sock === sock) this.lastError = err.message;
    });
    sock.on('close', () => {
      if (this.sock !== sock) return;
      this.sock = null;
      this.down(this.lastError || 'connection closed');
    });
    this.write(encodeOpen({ asn: this.owner.asn, holdTime: this.peer.holdTimeS, routerId: this.owner.routerId, families: [[AFI.IPV4, SAFI_UNICAST], [AFI.IPV6, SAFI_UNICAST]] }));
    this.state = 'opensent';
    this.armHold(OPEN_HOLD_MS);
  }

  private receive(sock: net.Socket, data: Buffer): void {
    if (this.sock !== sock) return;
    this.buf = this.buf.length === 0 ? data : Buffer.concat([this.buf, data]);
    try {
      for (;;) {
        const m = splitMessage(this.buf);
        if (m === null) break;
        this.buf = this.buf.subarray(m.size);
        this.handle(m.type, m.body);
        if (this.sock !== sock) return;
      }
    } catch (err) {
      if (err instanceof BgpError) {
        this.lastError = `sent NOTIFICATION ${err.code}/${err.subcode}: ${err.message}`;
        this.owner.log(`peer ${this.peer.name}: ${this.lastError}`);
        this.notify(err.code, err.subcode, err.message, err.data);
        this.closeSocket();
        this.down(this.lastError);
        return;
      }
      throw err;
    }
  }

  private handle(type: number, body: Buffer): void {
    if (type === MSG.NOTIFICATION) {
      const n = decodeNotification(body);
      this.counts.notificationsReceived++;
      this.lastError = `received NOTIFICATION ${n.code}/${n.subcode}${n.data.length > 0 && n.code === ERR.CEASE ? ` (${n.data.subarray(1).toString('utf8')})` : ''}`;
      this.owner.log(`peer ${this.peer.name}: ${this.lastError}`);
      this.closeSocket();
      this.down(this.lastError);
      return;
    }
    switch (this.state) {
      case 'opensent': {
        if (type !== MSG.OPEN) throw new BgpError(ERR.FSM, 1, `expected OPEN, got message type ${type}`);
        const open = decodeOpen(body);
        if (open.asn !== this.peer.asn) {
          const data = Buffer.alloc(2);
          data.writeUInt16BE(Math.min(open.asn, 0xffff), 0);
          throw new BgpError(ERR.OPEN, SUB.BAD_PEER_AS, `the peer says AS ${open.asn}, expected ${this.peer.asn}`, data);
        }
        if (open.routerId === this.owner.routerId && !this.ebgp) throw new BgpError(ERR.OPEN, SUB.BAD_BGP_ID, `the peer has our BGP identifier ${open.routerId}`);
        this.peerOpen = open;
        this.holdMs = Math.min(this.peer.holdTimeS, open.holdTime) * 1000;
        this.write(encodeKeepalive());
        this.state = 'openconfirm';
        this.armHold(this.holdMs);
        return;
      }
      case 'openconfirm':
        if (type !== MSG.KEEPALIVE) throw new BgpError(ERR.FSM, 2, `expected KEEPALIVE, got message type ${type}`);
        this.established();
        return;
      case 'established':
        this.armHold(this.holdMs);
        if (type === MSG.UPDATE) {
          this.counts.updatesReceived++;
          decodeUpdate(body, this.as4);
        } else if (type === MSG.ROUTE_REFRESH) {
          this.sendAll();
        } else if (type === MSG.OPEN) {
          throw new BgpError(ERR.FSM, 3, 'OPEN in an established session');
        }
        return;
      default:
        throw new BgpError(ERR.FSM, 0, `message type ${type} in state ${this.state}`);
    }
  }

  private established(): void {
    this.state = 'established';
    this.establishedAt = Date.now();
    this.counts.established++;
    this.retryMs = RETRY_MIN_MS;
    this.lastError = '';
    this.armHold(this.holdMs);
    if (this.holdMs > 0) {
      const every = (this.peer.keepaliveS ?? this.holdMs / 3000) * 1000;
      this.keepaliveTimer = setInterval(() => this.write(encodeKeepalive()), Math.max(1000, Math.min(every, this.holdMs / 3)));
      this.keepaliveTimer.unref();
    }
    this.owner.log(`peer ${this.peer.name} (${this.peer.address}, AS ${this.peer.asn}): session established, hold time ${this.holdMs / 1000} s`);
    this.sendAll();
  }

  /** Everything the speaker announces now, then End-of-RIB for each family. */
  private sendAll(): void {
    for (const r of this.owner.routesFor(this)) this.send(r.prefixes, r.attrs);
    this.write(encodeUpdate([], null, this.as4));
  }

  private armHold(ms: number): void {
    if (this.holdTimer !== null) clearTimeout(this.holdTimer);
    this.holdTimer = null;
    if (ms <= 0) return;
    this.holdTimer = setTimeout(() => {
      this.lastError = `hold timer expired (${ms / 1000} s without a message)`;
      this.owner.log(`peer ${this.peer.name}: ${this.lastError}`);
      this.notify(ERR.HOLD_TIMER, 0, this.lastError);
      this.closeSocket();
      this.down(this.lastError);
    }, ms);
    this.holdTimer.unref();
  }

  private notify(code: number, subcode: number, why: string, data: Buffer = Buffer.alloc(0)): void {
    // RFC 8203: a Cease can carry a short reason
    const payload = code === ERR.CEASE && (subcode === SUB.ADMIN_SHUTDOWN || subcode === SUB.ADMIN_RESET) ? Buffer.concat([Buffer.from([Math.min(255, Buffer.byteLength(why))]), Buffer.from(why).subarray(0, 255)]) : data;
    this.write(encodeNotification(code, subcode, payload));
    this.counts.notificationsSent++;
  }

  private write(b: Buffer): void {
    if (this.sock !== null && !this.sock.destroyed) this.sock.write(b);
  }

  private closeSocket(): void {
    const sock = this.sock;
    this.sock = null;
    if (sock !== null) sock.end(() => sock.destroy());
    if (sock !== null) setTimeout(() => sock.destroy(), 1000).unref();
    this.clearTimers();
  }

  private down(why: string): void {
    const was = this.state;
    this.clearTimers();
    this.peerOpen = null;
    this.establishedAt = 0;
    if (was === 'established') this.owner.log(`peer ${this.peer.name}: session down (${why})`);
    if (this.stopped) {
      this.state = 'idle';
      return;
    }
    if (this.peer.passive) this.state = 'active';
    else this.retryLater();
  }

  private retryLater(): void {
    if (this.stopped) return;
    this.state = 'active';
    this.clearRetry();
    const wait = this.retryMs * (0.8 + Math.random() * 0.4);
    this.retryMs = Math.min(RETRY_MAX_MS, this.retryMs * 2);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (this.sock === null) this.connect();
    }, wait);
    this.retryTimer.unref();
  }

  private clearRetry(): void {
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }

  private clearTimers(): void {
    if (this.holdTimer !== null) clearTimeout(this.holdTimer);
    if (this.keepaliveTimer !== null) clearInterval(this.keepaliveTimer);
    this.holdTimer = this.keepaliveTimer = null;
  }

}

function ipNumber(ip: string): number {
  return ip.split('.').reduce((n, x) => n * 256 + Number(x), 0);
}
