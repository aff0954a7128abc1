import net from 'node:net';
import tls from 'node:tls';
import type { ListenerConfig } from '../../config/types.js';
import { Sweeper, tickFor, type Expirable } from '../../core/sweeper.js';
import { CertificateStore } from '../../tls/cert-store.js';
import { NativeContexts } from '../../tls/native-contexts.js';
import type { NativeRelay } from '../../io/native-relay.js';
import { NativeSocket } from '../../io/native-socket.js';
import { Http2Sessions } from '../http2/sessions.js';
import { parseProxyHeader, type ProxyAddress } from '../proxy-protocol.js';
import { ClientConnection, onClientRead } from './client-connection.js';
import { readThroughSharedBuffer } from '../../io/read-buffer.js';
import { tlsServername } from '../../io/tls-handle.js';
import { ALPN_H2 } from '../../io/addon.js';
import type { HttpFrontend } from './frontend.js';
import { log } from '../../core/log.js';
import type { Fields } from '../exchange/added-fields.js';
import { SlotList } from '../../core/slot-list.js';

/** What Pending needs of a socket (net.Socket, tls.TLSSocket or NativeSocket). */
interface PendingSocket {
  readonly remoteAddress?: string | undefined;
  destroy(): unknown;
}

/** A connection not yet handed to HTTP: reading its PROXY header, or in the TLS handshake. */
class Pending implements Expirable {
  sweepSlot = -1;
  listSlot = -1;

  constructor(
    readonly sock: PendingSocket,
    public deadline: number,
    private readonly onExpire: (p: Pending) => void,
  ) {}

  expire(): void {
    this.onExpire(this);
  }
}

/** The Strict-Transport-Security value of an `hsts` section. */
function hstsValue(cfg: NonNullable<ListenerConfig['hsts']>): string {
  return `max-age=${cfg.maxAgeS}${cfg.includeSubdomains ? '; includeSubDomains' : ''}${cfg.preload ? '; preload' : ''}`;
}

/**
 * HTTPS and HTTP/2 in front of an HTTP listener: terminates TLS (certificate by SNI,
 * ALPN h2 or http/1.1, handshake timeout, bad records and failed handshakes logged at
 * most once a second), reads a PROXY header before the handshake when the listener
 * takes one, and hands each connection to the HTTP/1.1 engine (ClientConnection, through
 * 'data' events) or to the HTTP/2 sessions. On plain listeners with `h2c` it only takes
 * the connections that open with the HTTP/2 preface.
 */
export class HttpEdge {
  /** The listener's certificates (null without `tls`). */
  readonly certs: CertificateStore | null;
  /** HTTP/2 to clients (null when off). */
  readonly h2: Http2Sessions | null;
  /** Plain connections that open with the HTTP/2 preface are HTTP/2 (prior knowledge). */
  readonly h2c: boolean;
  /** Fields added to every response (Strict-Transport-Security), or none. */
  readonly responseFields: Fields;
  /**
   * TLS is terminated in the addon (native/tls.c) when the listener's sockets are its
   * streams: the contexts are made there too. Null: Node's tls module (no addon,
   * FULCRUM_HTTP_IO=node or FULCRUM_TLS=node).
   */
  readonly nativeTls: NativeRelay | null;
  private readonly pending = new SlotList<'listSlot', Pending>('listSlot');
  private readonly sweeper: Sweeper;
  private readonly alpn: string[];
  private lastLog = 0;
  private readonly sni = (servername: string, cb: (err: Error | null, ctx?: tls.SecureContext) => void) => cb(null, this.certs!.select(servername));

  /** Loads the certificates: throws FULCRUM_ERR_CONFIG when one cannot be used. */
  constructor(
    private readonly fe: HttpFrontend,
    private readonly config: ListenerConfig,
    io: NativeRelay | null,
  ) {
    const tlsCfg = config.tls;
    const h2 = config.mode === 'http' && config.http2.enabled && (tlsCfg !== null || config.http2.h2c);
    this.nativeTls = io !== null && tlsCfg !== null && process.env.FULCRUM_TLS !== 'node' ? io : null;
    const native = this.nativeTls === null ? null : new NativeContexts(this.nativeTls, h2);
    this.certs = tlsCfg === null ? null : new CertificateStore(config.name, tlsCfg, (msg) => log().info(msg), undefined, native);
    this.responseFields = tlsCfg !== null && config.hsts !== null ? [['strict-transport-security', hstsValue(config.hsts)]] : [];
    this.h2 = h2 ? new Http2Sessions(fe, config.http2) : null;
    this.h2c = h2 && tlsCfg === null && config.http2.h2c;
    this.alpn = this.h2 !== null && tlsCfg !== null ? ['h2', 'http/1.1'] : ['http/1.1'];
    this.sweeper = new Sweeper(tickFor(Math.min(tlsCfg?.handshakeTimeoutMs ?? config.timeouts.headerMs, config.timeouts.headerMs)));
  }

  /** Whether accepted connections must come here (TLS) rather than straight to HTTP/1.1. */
  get terminatesTls(): boolean {
    return this.certs !== null;
  }

  /** Connections held here: handshakes in progress and HTTP/2 sessions. */
  get count(): number {
    return this.pending.size + (this.h2?.count ?? 0);
  }

  /** Starts watching the certificate files. */
  start(): void {
    this.certs?.start();
  }

  /** Takes an accepted connection of a TLS listener (paused, as accepted). */
  accept(raw: net.Socket): void {
    if (this.config.proxyProtocol !== null) this.readProxyHeader(raw);
    else this.startTls(raw, null);
  }

  /**
   * The listener accepts on the addon's listener `index`: its handshakes are done there
   * with the native contexts. False when the addon refused them.
   */
  bindNative(index: number): boolean {
    return this.certs?.bindNative(index, this.config.proxyProtocol !== null) ?? false;
  }

  /**
   * Takes a stream the addon accepted on a TLS listener; its handshake runs in C, after
   * the PROXY header when the listener takes one.
   */
  acceptNative(id: number): NativeSocket {
    const sock = NativeSocket.accepted(this.nativeTls!, id);
    if (this.config.proxyProtocol === null) {
      this.handshakeNative(sock, null);
      return sock;
    }
    // The addon shows everything that has arrived, left in the socket, until startTls
    // takes the header off: the ClientHello after it stays for OpenSSL.
    const p = this.track(sock, this.config.timeouts.headerMs, 'PROXY protocol: no complete PROXY header in time');
    const onClose = () => this.untrack(p);
    const onEnd = () => sock.destroy();
    sock.once('close', onClose);
    sock.once('end', onEnd);
    sock.onData = (arrived: Buffer) => {
      const r = parseProxyHeader(arrived);
      if (r.error !== null) {
        this.proxyRefused(p, r.error);
        return;
      }
      if (!r.done) return;
      sock.onData = null;
      sock.off('close', onClose);
      sock.off('end', onEnd);
      if (!this.untrack(p) || !sock.startTls(r.consumed)) {
        sock.destroy();
        return;
      }
      this.handshakeNative(sock, r.command === 'proxy' ? r.source : null);
    };
    return sock;
  }

  /** Tracks the handshake of a native TLS stream, then hands the connection to HTTP/1.1 or HTTP/2. */
  private handshakeNative(sock: NativeSocket, proxied: ProxyAddress | null): void {
    const certs = this.certs!;
    const p = this.track(sock, this.config.tls!.handshakeTimeoutMs, 'TLS handshake did not finish in time');
    sock.once('close', () => this.untrack(p));
    sock.onSecure = (status, alpn) => {
      sock.onSecure = null;
      if (!this.untrack(p)) {
        sock.destroy();
        return;
      }
      if (status < 0) {
        const info = sock.tlsInfo();
        this.logRefused(sock, `TLS handshake failed: ${certs.refusal(info?.[0] ?? undefined) ?? info?.[4] ?? 'error'}`);
        sock.destroy();
        return;
      }
      if (alpn === ALPN_H2 && this.h2 !== null) {
        this.h2.attach(sock, proxied);
        return;
      }
      this.fe.adopt(new ClientConnection(sock, this.fe, true, proxied));
    };
  }

  /** An h2c connection found by the HTTP/1.1 engine: `head` are the bytes it already read. */
  adoptH2c(sock: net.Socket, head: Buffer, proxied: ProxyAddress | null): void {
    sock.pause();
    sock.on('error', ignore);
    this.h2!.attach(sock, proxied, head);
  }

  /**
   * GOAWAY to every HTTP/2 connection (shutdown, configuration reload): requests in
   * flight finish, the next ones come on new connections.
   */
  goAway(): void {
    this.h2?.goAway();
  }

  /** Reads the certificate files again now (reload); returns the problems, each logged, the old pair kept. */
  reloadCertificates(): string[] {
    return this.certs?.reload() ?? [];
  }

  /** Stops: GOAWAY, then after the grace the caller calls destroy(). */
  stopAccepting(): void {
    for (const p of this.pending) p.sock.destroy();
    this.pending.clear();
    this.goAway();
  }

  /** Ends whatever is left. */
  destroy(): void {
    for (const p of this.pending) p.sock.destroy();
    this.pending.clear();
    this.h2?.destroy();
    this.certs?.stop();
    this.sweeper.close();
  }

  private track(sock: PendingSocket, ms: number, why: string): Pending {
    const p = new Pending(sock, Date.now() + ms, (x) => {
      this.pending.delete(x);
      this.logRefused(x.sock, why);
      x.sock.destroy();
    });
    this.pending.add(p);
    this.sweeper.add(p);
    return p;
  }

  private untrack(p: Pending): boolean {
    this.sweeper.delete(p);
    return this.pending.delete(p);
  }

  /** A bad PROXY header: logged (at most once a second) and the connection closed. */
  private proxyRefused(p: Pending, why: string): void {
    this.untrack(p);
    this.fe.logProxyRefused(p.sock, why);
    p.sock.destroy();
  }

  /** PROXY protocol before TLS: the header is read from the raw socket, the rest pushed back for the handshake. */
  private readProxyHeader(raw: net.Socket): void {
    const p = this.track(raw, this.config.timeouts.headerMs, 'PROXY protocol: no complete PROXY header in time');
    let buf: Buffer | null = null;
    const onData = (chunk: Buffer) => {
      buf = buf === null ? chunk : Buffer.concat([buf, chunk]);
      const r = parseProxyHeader(buf);
      if (r.error !== null) {
        this.proxyRefused(p, r.error);
        return;
      }
      if (!r.done) return;
      raw.off('data', onData);
      raw.pause();
      if (!this.untrack(p)) return;
      if (r.consumed < buf.length) raw.unshift(buf.subarray(r.consumed));
      this.startTls(raw, r.command === 'proxy' ? r.source : null);
    };
    raw.on('data', onData);
    raw.on('error', ignore);
    raw.once('close', () => this.untrack(p));
    raw.resume();
  }

  private startTls(raw: net.Socket, proxied: ProxyAddress | null): void {
    const certs = this.certs!;
    const sock = new tls.TLSSocket(raw, {
      isServer: true,
      secureContext: certs.initial,
      ...(certs.needsSni ? { SNICallback: this.sni } : {}),
      ALPNProtocols: this.alpn,
      requestCert: false,
      rejectUnauthorized: false,
    });
    const p = this.track(sock, this.config.tls!.handshakeTimeoutMs, 'TLS handshake did not finish in time');
    const onError = (err: Error) => {
      if (this.untrack(p)) {
        this.logRefused(sock, `TLS handshake failed: ${certs.refusal(tlsServername(sock)) ?? tlsReason(err)}`);
      }
      sock.destroy();
    };
    sock.on('error', onError);
    sock.once('close', () => this.untrack(p));
    sock.once('secure', () => {
      sock.off('error', onError);
      if (!this.untrack(p)) {
        sock.destroy();
        return;
      }
      try {
        if (sock.alpnProtocol === 'h2' && this.h2 !== null) {
          sock.on('error', ignore);
          this.h2.attach(sock, proxied);
        } else {
          const shared = readThroughSharedBuffer(sock, onClientRead);
          const conn = new ClientConnection(sock, this.fe, shared, proxied);
          this.fe.adopt(conn);
          if (shared) {
            // bytes decrypted with the handshake's last record, before the switch
            let early: Buffer | null;
            try {
              while ((early = sock.read() as Buffer | null) !== null) conn.onClientData(early);
            } catch (err) {
              conn.onInternalError(err);
            }
          }
        }
      } catch (err) {
        log().error({ err }, `internal error on a connection of listener ${this.fe.name} (connection closed)`);
        sock.destroy();
      }
    });
  }

  /** Logs a connection refused before HTTP, at most once a second per listener. */
  private logRefused(sock: PendingSocket, why: string): void {
    const now = Date.now();
    if (now - this.lastLog < 1000) return;
    this.lastLog = now;
    log().warn(`listener ${this.fe.name}: closed a connection from ${sock.remoteAddress ?? 'a client'}: ${why}`);
  }
}

/** OpenSSL's reason ("wrong version number", "unknown protocol") or the error code. */
function tlsReason(err: Error): string {
  const e = err as Error & { code?: string; reason?: string };
  return e.reason ?? e.code ?? e.message;
}

function ignore(): void {}
