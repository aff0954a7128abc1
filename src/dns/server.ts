/**
 * The DNS server's sockets: UDP and TCP on every listen address, feeding one Responder.
 * UDP sockets (udp.ts) answer datagrams in batches through the native addon, or one
 * 'message' event at a time through node:dgram without it; TCP connections are kept by
 * TcpConnections (tcp.ts), which bounds what each client can hold. Nothing a client
 * sends can throw out of a handler.
 */
import net from 'node:net';
import type { Pool } from '../backend/pool.js';
import type { DnsConfig } from '../config/types.js';
import { FulcrumError } from '../core/errors.js';
import { Responder, type ResponderOptions } from './responder.js';
import { TcpConnections } from './tcp.js';
import { openDnsUdp, type DnsUdpSocket } from './udp.js';
import { log } from '../core/log.js';

/** Tries at binding UDP and TCP to the same free port when the configured port is 0. */
const PORT_ZERO_TRIES = 20;

/** Options of a DnsServer (all optional). */
export interface DnsServerOptions extends ResponderOptions {
  /** Answer UDP in batches through the native addon when it loads (default true); false: node:dgram. */
  nativeUdp?: boolean;
}

interface Listener {
  host: string;
  port: number;
  udp: DnsUdpSocket;
  tcp: net.Server;
  conns: TcpConnections;
}

/**
 * An authoritative DNS server for the zones of a `dns:` configuration section, answering
 * from `pools` (shared with the rest of the instance, so health changes reach answers
 * at once). Construction builds the zones and throws FULCRUM_ERR_CONFIG on bad zone data;
 * nothing listens before `start()`.
 */
export class DnsServer {
  /** The responder behind the sockets (its `stats` count queries). */
  readonly responder: Responder;
  private readonly listeners: Listener[] = [];
  private started = false;
  private stopped = false;
  private readonly log: (msg: string) => void;
  private readonly nativeUdp: boolean;

  constructor(
    readonly config: DnsConfig,
    pools: ReadonlyMap<string, Pool>,
    opts: DnsServerOptions = {},
  ) {
    this.log = opts.log ?? ((msg) => log().warn(`dns: ${msg}`));
    this.nativeUdp = opts.nativeUdp ?? true;
    try {
      this.responder = new Responder(config, pools, { ...opts, log: this.log });
    } catch (err) {
      throw new FulcrumError('FULCRUM_ERR_CONFIG', `dns: ${(err as Error).message}`, { cause: err });
    }
  }

  /**
   * Binds UDP and TCP on every listen address (the same port for both; with port 0 a
   * free port is chosen for the pair). On failure everything bound so far is closed and
   * a FULCRUM_ERR_LISTEN error is thrown. Call once.
   */
  async start(): Promise<void> {
    if (this.started) throw new Error('DnsServer.start() called twice');
    this.started = true;
    try {
      for (const l of this.config.listen) this.listeners.push(await this.bindPair(l.host, l.port));
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  /** TCP connections open now, and why others were closed early, per listen address in configuration order. */
  tcpConnections(): Array<{ open: number; evicted: number; slowMessages: number; idle: number }> {
    return this.listeners.map((l) => ({ open: l.conns.size, ...l.conns.stats }));
  }

  /** How each listen address's UDP socket answers: 'native' (batched, in the addon) or 'dgram'. */
  udpKinds(): Array<'native' | 'dgram'> {
    return this.listeners.map((l) => l.udp.kind);
  }

  /** The bound addresses, in configuration order; with port 0 configured, the port actually bound. */
  addresses(): Array<{ host: string; port: number }> {
    return this.listeners.map((l) => ({ host: l.host, port: l.port }));
  }

  /** Closes every socket and TCP connection, and stops watching steering files and GeoIP databases. Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.responder.close();
    for (const l of this.listeners) l.conns.closeAll();
    await Promise.all(this.listeners.map((l) => closePair(l.udp, l.tcp)));
    this.listeners.length = 0;
  }

  private async bindPair(host: string, port: number): Promise<Listener> {
    const tries = port === 0 ? PORT_ZERO_TRIES : 1;
    let lastErr: unknown;
    for (let i = 0; i < tries; i++) {
      let udp: DnsUdpSocket;
      try {
        udp = await openDnsUdp(host, port, this.responder, this.log, this.nativeUdp);
      } catch (err) {
        throw listenError('udp', host, port, err);
      }
      const bound = udp.port;
      const conns = new TcpConnections(this.config, this.responder);
      const tcp = net.createServer({ noDelay: true }, (sock) => {
        if (this.stopped) sock.destroy();
        else conns.accept(sock);
      });
      try {
        await listenTcp(tcp, host, bound);
        // Errors while binding were thrown above; from now on they are only reported.
        tcp.on('error', (err) => this.log(`tcp server error: ${err.message}`));
        return { host, port: bound, udp, tcp, conns };
      } catch (err) {
        lastErr = err;
        await closePair(udp, tcp);
        if (port !== 0 || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') break;
      }
    }
    throw listenError('tcp', host, port, lastErr);
  }
}

function listenError(proto: string, host: string, port: number, err: unknown): FulcrumError {
  const shown = host.includes(':') ? `[${host}]` : host;
  return new FulcrumError('FULCRUM_ERR_LISTEN', `dns: cannot listen on ${proto} ${shown}:${port}: ${(err as Error)?.message ?? String(err)}`, { cause: err });
}

function listenTcp(srv: net.Server, host: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    srv.once('error', onError);
    srv.listen(port, host, () => {
      srv.off('error', onError);
      resolve();
    });
  });
}

function closePair(udp: DnsUdpSocket, tcp: net.Server): Promise<void> {
  const u = udp.close();
  const t = new Promise<void>((resolve) => {
    if (!tcp.listening) return resolve();
    tcp.close(() => resolve());
  });
  return Promise.all([u, t]).then(() => undefined);
}
