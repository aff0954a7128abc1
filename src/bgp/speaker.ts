/**
 * The BGP speaker: Fulcrum's sessions with its routers, and what it announces to them.
 * Each announcement has a condition (always, a pool with at least N usable servers, a
 * listener that is bound); the speaker re-evaluates the conditions on every health
 * change and once a second, and announces or withdraws on every established session.
 * A graceful stop (RFC 8326) first re-announces with the GRACEFUL_SHUTDOWN community, so
 * routers move traffic to the other balancers while this one still serves, then
 * withdraws, then ends the sessions.
 */
import net from 'node:net';
import type { Pool } from '../backend/pool.js';
import type { BgpAnnouncement, BgpConfig } from '../config/types.js';
import { poolChannel, serverStateChannel } from '../core/events.js';
import { BgpSession, type SessionOwner } from './session.js';
import { BfdEndpoint, type BfdSession } from './bfd.js';
import { probeListener, type TrackableListener } from '../runtime/listener-probe.js';
import { formatPrefix, GRACEFUL_SHUTDOWN, ipv4Bytes, ipv6Bytes, parsePrefix, SUB, type Prefix, type RouteAttributes } from './wire.js';

/** What the speaker reads of the running balancer. */
export interface BgpEnvironment {
  pools: () => ReadonlyMap<string, Pool>;
  /** The listener of that name, to probe as a client would; undefined when there is none. */
  listener: (name: string) => TrackableListener | undefined;
  log: (message: string) => void;
}

interface Route {
  config: BgpAnnouncement;
  prefix: Prefix;
  announced: boolean;
  /** Why it is announced or not (the condition's words). */
  why: string;
  since: number;
}

/** One session and one route, for `fulcrum bgp show` and the status report. */
export interface BgpReport {
  asn: number;
  routerId: string;
  sessions: Array<{ peer: string; address: string; asn: number; state: string; since: number; lastError: string; bfd: string | null; counts: BgpSession['counts'] }>;
  routes: Array<{ prefix: string; announced: boolean; why: string; since: number }>;
}

export class BgpSpeaker implements SessionOwner {
  readonly sessions: BgpSession[];
  private readonly routes: Route[];
  private server: net.Server | null = null;
  private timer: NodeJS.Timeout | null = null;
  private gracefulShutdown = false;
  /** The latest probe of each listener that a condition names. */
  private readonly listenerOk = new Map<string, boolean>();
  private probing = false;
  private readonly bfd: BfdEndpoint;
  private readonly bfdSessions = new Map<BgpSession, BfdSession>();
  private readonly onEvent = () => this.evaluate();

  constructor(
    readonly config: BgpConfig,
    private readonly env: BgpEnvironment,
  ) {
    this.sessions = config.peers.map((p) => new BgpSession(p, this));
    this.bfd = new BfdEndpoint((m) => this.log(m));
    for (const s of this.sessions) {
      if (s.peer.bfd === null) continue;
      const b = this.bfd.add(s.peer.address, s.peer.bfd, (state, why) => {
        this.log(`peer ${s.peer.name}: BFD ${state} (${why})`);
        if (state === 'down') s.reset(`BFD down: ${why}`);
        if (state === 'up') s.retryNow();
      });
      this.bfdSessions.set(s, b);
    }
    this.routes = config.announce.map((a) => ({ config: a, prefix: parsePrefix(a.prefix), announced: false, why: 'not evaluated yet', since: Date.now() }));
  }

  get asn(): number {
    return this.config.asn;
  }

  get routerId(): string {
    return this.config.routerId;
  }

  log(message: string): void {
    this.env.log(message);
  }

  /** Starts the sessions (and the passive listener, when configured). */
  async start(): Promise<void> {
    this.evaluate(false);
    if (this.config.listen !== null) {
      const { host, port } = this.config.listen;
      const server = net.createServer((sock) => this.incoming(sock));
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      this.server = server;
    }
    await this.bfd.start(this.sessions.some((s) => s.peer.bfd !== null && s.peer.address.includes(':')) ? '::' : '0.0.0.0');
    for (const s of this.sessions) s.start();
    serverStateChannel.subscribe(this.onEvent);
    poolChannel.subscribe(this.onEvent);
    await this.probeListeners();
    this.evaluate();
    this.timer = setInterval(() => void this.probeListeners().then(() => this.evaluate()), 1000);
    this.timer.unref();
  }

  private incoming(sock: net.Socket): void {
    const from = (sock.remoteAddress ?? '').replace(/^::ffff:/, '');
    const session = this.sessions.find((s) => s.peer.address === from);
    sock.on('error', () => {});
    if (session === undefined || !session.accept(sock)) {
      if (session === undefined) this.log(`refused a BGP connection from ${from}: not a configured peer`);
      sock.destroy();
    }
  }

  /** Probes, as a client would, each listener a condition names (a connection must complete within 500 ms). */
  private async probeListeners(): Promise<void> {
    if (this.probing) return;
    this.probing = true;
    try {
      const names = new Set(this.routes.flatMap((r) => (r.config.when.kind === 'listener' ? [r.config.when.name] : [])));
      for (const name of names) {
        const l = this.env.listener(name);
        this.listenerOk.set(name, l === undefined ? false : await probeListener(l, 500));
      }
    } finally {
      this.probing = false;
    }
  }

  /** Re-evaluates every announcement's condition; sends what changed (when `send`). */
  evaluate(send = true): void {
    for (const r of this.routes) {
      const [want, why] = this.condition(r.config);
      const changed = want !== r.announced;
      r.why = why;
      if (!changed) continue;
      r.announced = want;
      r.since = Date.now();
      this.log(`${want ? 'announcing' : 'withdrawing'} ${formatPrefix(r.prefix)}: ${why}`);
      if (send) for (const s of this.sessions) s.send([r.prefix], want ? this.attributes(r, s) : null);
    }
  }

  private condition(a: BgpAnnouncement): [boolean, string] {
    if (this.gracefulShutdown) return [false, 'stopping'];
    if (a.when.kind === 'always') return [true, 'always announced'];
    if (a.when.kind === 'listener') {
      const up = this.listenerOk.get(a.when.name) ?? false;
      return [up, `listener ${a.when.name} ${up ? 'accepts connections' : 'does not accept connections'}`];
    }
    const pool = this.env.pools().get(a.when.name);
    const usable = pool?.usable.length ?? 0;
    const ok = usable >= a.when.minUsable;
    return [ok, `pool ${a.when.name} has ${usable} usable server(s) (${ok ? 'at least' : 'fewer than'} ${a.when.minUsable})`];
  }

  /** What this session's peer is sent with a route. */
  private attributes(r: Route, s: BgpSession, gshut = false): RouteAttributes {
    const a = r.config;
    const local = s.localAddress ?? this.routerId;
    const nh = a.nextHop ?? local;
    const nextHop = r.prefix.family === 4 ? ipv4Bytes(nh.includes(':') ? this.routerId : nh) : ipv6Bytes(nh.includes(':') ? nh : `::ffff:${nh}`);
    return {
      asPath: s.ebgp ? Array<number>(1 + a.prepend).fill(this.asn) : [],
      nextHop,
      ...(a.med === null ? {} : { med: a.med }),
      ...(s.ebgp ? {} : { localPref: gshut ? 0 : 100 }),
      communities: gshut ? [...a.communities, GRACEFUL_SHUTDOWN] : a.communities,
      largeCommunities: a.largeCommunities,
    };
  }

  routesFor(session: BgpSession): Array<{ prefixes: Prefix[]; attrs: RouteAttributes }> {
    return this.routes.filter((r) => r.announced).map((r) => ({ prefixes: [r.prefix], attrs: this.attributes(r, session, this.gracefulShutdown) }));
  }

  report(): BgpReport {
    return {
      asn: this.asn,
      routerId: this.routerId,
      sessions: this.sessions.map((s) => ({
        peer: s.peer.name,
        address: s.peer.address,
        asn: s.peer.asn,
        state: s.state,
        since: s.establishedAt,
        lastError: s.lastError,
        bfd: this.bfdSessions.get(s)?.stateName ?? null,
        counts: { ...s.counts },
      })),
      routes: this.routes.map((r) => ({ prefix: formatPrefix(r.prefix), announced: r.announced, why: r.why, since: r.since })),
    };
  }

  /**
   * Stops gracefully: announced routes get the GRACEFUL_SHUTDOWN community (and LOCAL_PREF
   * 0 on iBGP) for `gracefulShutdownMs`, then are withdrawn, then the sessions end with a
   * Cease NOTIFICATION.
   */
  async stop(): Promise<void> {
    serverStateChannel.unsubscribe(this.onEvent);
    poolChannel.unsubscribe(this.onEvent);
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    const live = this.routes.filter((r) => r.announced);
    if (live.length > 0 && this.config.gracefulShutdownMs > 0 && this.sessions.some((s) => s.state === 'established')) {
      for (const s of this.sessions) for (const r of live) s.send([r.prefix], this.attributes(r, s, true));
      this.log(`graceful shutdown: ${live.length} route(s) marked GRACEFUL_SHUTDOWN for ${this.config.gracefulShutdownMs} ms before withdrawal`);
      await new Promise((res) => setTimeout(res, this.config.gracefulShutdownMs));
    }
    this.gracefulShutdown = true;
    this.evaluate();
    // the Cease goes out before BFD says AdminDown, so routers record why the session ended
    await Promise.all(this.sessions.map((s) => s.stop(SUB.ADMIN_SHUTDOWN)));
    this.bfd.stop();
    const server = this.server;
    this.server = null;
    if (server !== null) await new Promise<void>((res) => server.close(() => res()));
  }
}
