/**
 * Bidirectional Forwarding Detection (RFC 5880), single hop over UDP (RFC 5881),
 * asynchronous mode: with each BGP peer that asks for it, Fulcrum exchanges small
 * control packets every few hundred milliseconds, so the router notices a dead balancer
 * after `multiplier` missed packets instead of after the BGP hold time, and Fulcrum
 * notices a dead router the same way (its BGP session is then taken down).
 *
 * Packets go to port 3784 with TTL 255 from a source port in 49152..65535. Node cannot
 * read a received packet's TTL, so the TTL 255 check of RFC 5881 section 5 is not made;
 * packets are accepted only from the configured peers' addresses.
 */
import dgram from 'node:dgram';

export const BFD_PORT = 3784;
const VERSION = 1;
export const BFD_STATE = { ADMIN_DOWN: 0, DOWN: 1, INIT: 2, UP: 3 } as const;
const STATE_NAMES = ['admin-down', 'down', 'init', 'up'] as const;
const DIAG = { NONE: 0, DETECT_EXPIRED: 1, NEIGHBOR_DOWN: 3, ADMIN_DOWN: 7 } as const;
const FLAG_POLL = 0x20;
const FLAG_FINAL = 0x10;
/** RFC 5880 6.8.3: at most one packet a second while the session is not up. */
const SLOW_TX_US = 1_000_000;

export interface BfdSettings {
  /** The interval we would like to send at, and the one we can receive at (ms). */
  minTxMs: number;
  minRxMs: number;
  multiplier: number;
}

export interface BfdPacket {
  version: number;
  diag: number;
  state: number;
  poll: boolean;
  final: boolean;
  multiplier: number;
  myDisc: number;
  yourDisc: number;
  desiredMinTxUs: number;
  requiredMinRxUs: number;
}

export function encodeBfd(p: Omit<BfdPacket, 'version'>): Buffer {
  const b = Buffer.alloc(24);
  b[0] = (VERSION << 5) | (p.diag & 0x1f);
  b[1] = (p.state << 6) | (p.poll ? FLAG_POLL : 0) | (p.final ? FLAG_FINAL : 0);
  b[2] = p.multiplier;
  b[3] = 24;
  b.writeUInt32BE(p.myDisc >>> 0, 4);
  b.writeUInt32BE(p.yourDisc >>> 0, 8);
  b.writeUInt32BE(p.desiredMinTxUs, 12);
  b.writeUInt32BE(p.requiredMinRxUs, 16);
  b.writeUInt32BE(0, 20);
  return b;
}

/** A control packet, or null when RFC 5880 6.8.6 says to discard it. */
export function decodeBfd(b: Buffer): BfdPacket | null {
  if (b.length < 24) return null;
  const version = b[0]! >> 5;
  const length = b[3]!;
  const p: BfdPacket = {
    version,
    diag: b[0]! & 0x1f,
    state: b[1]! >> 6,
    poll: (b[1]! & FLAG_POLL) !== 0,
    final: (b[1]! & FLAG_FINAL) !== 0,
    multiplier: b[2]!,
    myDisc: b.readUInt32BE(4),
    yourDisc: b.readUInt32BE(8),
    desiredMinTxUs: b.readUInt32BE(12),
    requiredMinRxUs: b.readUInt32BE(16),
  };
  const auth = (b[1]! & 0x04) !== 0;
  const multipoint = (b[1]! & 0x01) !== 0;
  if (version !== VERSION || length < 24 || length > b.length || auth || multipoint || p.multiplier === 0 || p.myDisc === 0) return null;
  if (p.yourDisc === 0 && p.state !== BFD_STATE.DOWN && p.state !== BFD_STATE.ADMIN_DOWN) return null;
  return p;
}

/** One BFD session with one peer. */
export class BfdSession {
  state: number = BFD_STATE.DOWN;
  readonly myDisc: number;
  private yourDisc = 0;
  private diag: number = DIAG.NONE;
  private remoteMinRxUs = 1;
  private remoteTxUs = 0;
  private remoteMultiplier = 0;
  private txTimer: NodeJS.Timeout | null = null;
  private detectTimer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    readonly peer: string,
    private readonly settings: BfdSettings,
    private readonly sendPacket: (b: Buffer, to: string) => void,
    /** Told of every change of state: 'up', 'down' (with why), 'init', 'admin-down'. */
    private readonly onState: (state: (typeof STATE_NAMES)[number], why: string) => void,
  ) {
    this.myDisc = (Math.random() * 0xfffffffe + 1) >>> 0 || 1;
  }

  start(): void {
    this.scheduleTx();
  }

  /** A packet from this peer. */
  receive(p: BfdPacket): void {
    if (this.stopped) return;
    if (p.yourDisc !== 0 && p.yourDisc !== this.myDisc) return;
    this.yourDisc = p.myDisc;
    this.remoteMinRxUs = p.requiredMinRxUs;
    this.remoteTxUs = p.desiredMinTxUs;
    this.remoteMultiplier = p.multiplier;
    if (p.final) {
      // a poll of ours answered: nothing to change (we never poll)
    }
    if (p.state === BFD_STATE.ADMIN_DOWN) {
      if (this.state !== BFD_STATE.DOWN) this.set(BFD_STATE.DOWN, DIAG.NEIGHBOR_DOWN, 'the peer took the session administratively down');
    } else if (this.state === BFD_STATE.DOWN) {
      if (p.state === BFD_STATE.DOWN) this.set(BFD_STATE.INIT, DIAG.NONE, 'the peer is down, we answer');
      else if (p.state === BFD_STATE.INIT) this.set(BFD_STATE.UP, DIAG.NONE, 'three-way handshake done');
    } else if (this.state === BFD_STATE.INIT) {
      if (p.state === BFD_STATE.INIT || p.state === BFD_STATE.UP) this.set(BFD_STATE.UP, DIAG.NONE, 'three-way handshake done');
    } else if (this.state === BFD_STATE.UP && p.state === BFD_STATE.DOWN) {
      this.set(BFD_STATE.DOWN, DIAG.NEIGHBOR_DOWN, 'the peer says the session is down');
    }
    if (p.poll) this.transmit(true);
    this.armDetect();
  }

  /** Stops: tells the peer the session goes administratively down. */
  stop(): void {
    if (this.stopped) return;
    this.state = BFD_STATE.ADMIN_DOWN;
    this.diag = DIAG.ADMIN_DOWN;
    this.transmit(false);
    this.stopped = true;
    if (this.txTimer !== null) clearTimeout(this.txTimer);
    if (this.detectTimer !== null) clearTimeout(this.detectTimer);
    this.txTimer = this.detectTimer = null;
  }

  get stateName(): string {
    return STATE_NAMES[this.state]!;
  }

  /** The detection time now (ms): the peer's multiplier times the agreed interval at which it sends. */
  get detectMs(): number {
    const rx = Math.max(this.settings.minRxMs * 1000, this.remoteTxUs);
    return (this.remoteMultiplier * rx) / 1000;
  }

  private set(state: number, diag: number, why: string): void {
    if (this.state === state) return;
    this.state = state;
    this.diag = diag;
    this.onState(STATE_NAMES[state]!, why);
    if (state === BFD_STATE.DOWN) this.yourDisc = 0;
    // the peer learns the new state at once, and the interval changes with it (1 s while not up)
    this.transmit(false);
    if (this.txTimer !== null) clearTimeout(this.txTimer);
    this.scheduleTx();
  }

  private armDetect(): void {
    if (this.detectTimer !== null) clearTimeout(this.detectTimer);
    this.detectTimer = null;
    if (this.state === BFD_STATE.DOWN || this.remoteMultiplier === 0) return;
    const ms = Math.max(1, this.detectMs);
    this.detectTimer = setTimeout(() => {
      this.detectTimer = null;
      this.set(BFD_STATE.DOWN, DIAG.DETECT_EXPIRED, `no packet from the peer for ${Math.round(ms)} ms`);
    }, ms);
    this.detectTimer.unref();
  }

  private txIntervalUs(): number {
    const wanted = this.state === BFD_STATE.UP ? this.settings.minTxMs * 1000 : Math.max(SLOW_TX_US, this.settings.minTxMs * 1000);
    return Math.max(wanted, this.remoteMinRxUs);
  }

  private scheduleTx(): void {
    if (this.stopped) return;
    // RFC 5880 6.8.7: 75% to 100% of the interval (90% at most with a multiplier of 1)
    const jitter = this.settings.multiplier === 1 ? 0.75 + Math.random() * 0.15 : 0.75 + Math.random() * 0.25;
    this.txTimer = setTimeout(() => {
      this.transmit(false);
      this.scheduleTx();
    }, (this.txIntervalUs() * jitter) / 1000);
    this.txTimer.unref();
  }

  private transmit(final: boolean): void {
    if (this.stopped) return;
    // a peer that requires no packets (min rx 0) gets none, except answers to its polls
    if (this.remoteMinRxUs === 0 && !final) return;
    const desired = this.state === BFD_STATE.UP ? this.settings.minTxMs * 1000 : Math.max(SLOW_TX_US, this.settings.minTxMs * 1000);
    this.sendPacket(
      encodeBfd({
        diag: this.diag,
        state: this.state,
        poll: false,
        final,
        multiplier: this.settings.multiplier,
        myDisc: this.myDisc,
        yourDisc: this.yourDisc,
        desiredMinTxUs: desired,
        requiredMinRxUs: this.settings.minRxMs * 1000,
      }),
      this.peer,
    );
  }
}

/**
 * The BFD endpoint of a speaker: one socket receiving on port 3784, one sending from a
 * port in 49152..65535 with TTL 255, and a session per peer.
 */
export class BfdEndpoint {
  private rx: dgram.Socket | null = null;
  private tx: dgram.Socket | null = null;
  private readonly sessions = new Map<string, BfdSession>();

  constructor(private readonly log: (m: string) => void) {}

  /** Adds a session with `peer`; `onState` hears its changes. */
  add(peer: string, settings: BfdSettings, onState: (state: string, why: string) => void): BfdSession {
    const s = new BfdSession(peer, settings, (b, to) => this.tx?.send(b, BFD_PORT, to), onState);
    this.sessions.set(peer, s);
    return s;
  }

  async start(host: string): Promise<void> {
    if (this.sessions.size === 0) return;
    const family = host.includes(':') ? 'udp6' : 'udp4';
    const rx = dgram.createSocket({ type: family, reuseAddr: true });
    rx.on('message', (msg, rinfo) => {
      const s = this.sessions.get(rinfo.address.replace(/^::ffff:/, ''));
      const p = s === undefined ? null : decodeBfd(msg);
      if (p !== null) s!.receive(p);
    });
    rx.on('error', (err) => this.log(`BFD socket error: ${err.message}`));
    await new Promise<void>((resolve, reject) => {
      rx.once('error', reject);
      rx.bind(BFD_PORT, host, () => {
        rx.off('error', reject);
        resolve();
      });
    });
    this.rx = rx;
    const tx = await socketInRange(family, host);
    tx.on('error', (err) => this.log(`BFD socket error: ${err.message}`));
    tx.setTTL(255);
    this.tx = tx;
    for (const s of this.sessions.values()) s.start();
  }

  stop(): void {
    for (const s of this.sessions.values()) s.stop();
    // the last AdminDown packets leave before the sockets close
    const rx = this.rx;
    const tx = this.tx;
    this.rx = this.tx = null;
    setTimeout(() => {
      rx?.close();
      tx?.close();
    }, 50).unref();
  }
}

/** A socket bound to a free port in 49152..65535 (RFC 5881 section 4), trying a few at random. */
async function socketInRange(family: 'udp4' | 'udp6', host: string): Promise<dgram.Socket> {
  for (let i = 0; ; i++) {
    const sock = dgram.createSocket(family);
    const port = 49152 + Math.floor(Math.random() * 16384);
    try {
      await new Promise<void>((resolve, reject) => {
        sock.once('error', reject);
        sock.bind(port, host, () => {
          sock.off('error', reject);
          resolve();
        });
      });
      return sock;
    } catch (err) {
      sock.close();
      if (i >= 20) throw err;
    }
  }
}
