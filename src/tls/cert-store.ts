/**
 * The certificates of one HTTPS listener: which context answers a ClientHello (by SNI:
 * exact name, then wildcard, then the default certificate or a refusal), and keeping
 * them current. Each certificate's two files are watched (src/core/file-watch.ts); when
 * either changes the pair is read again and, if it is good, new handshakes use it at
 * once while connections already open keep theirs. A bad or mismatched pair is refused
 * with a log line naming the file, and the pair in use stays.
 */
import { createHash } from 'node:crypto';
import type tls from 'node:tls';
import type { ListenerTlsConfig } from '../config/tls/types.js';
import { FulcrumError } from '../core/errors.js';
import { FileWatch } from '../core/file-watch.js';
import { CertificateError, loadCertificate, serverContext, type ContextOptions, type LoadedCertificate } from './certificate.js';
import { effectiveCiphers } from './ciphers.js';
import type { NativeContexts } from './native-contexts.js';
import { SniTable } from './sni-table.js';
import { processTicketKeys } from './ticket-keys.js';

interface Entry {
  index: number;
  loaded: LoadedCertificate;
  watches: FileWatch[];
}

export class CertificateStore {
  private readonly entries: Entry[] = [];
  private table = new SniTable<tls.SecureContext>();
  private readonly options: ContextOptions;
  /**
   * A context without a certificate: a handshake on it fails with a handshake_failure
   * alert. New connections start on it with `unknown_sni: reject`, so a ClientHello
   * without a name is refused too.
   */
  private readonly bare: tls.SecureContext;
  /** The same as a native/tls.c context, with `native`. */
  private bareNative: number | null = null;
  /** The addon's listener whose handshakes use the native contexts, or -1. */
  private nativeListener = -1;
  /** A PROXY header comes before each handshake on that listener. */
  private nativePrelude = false;
  private started = false;

  /**
   * Loads every certificate now. Throws FULCRUM_ERR_CONFIG naming the listener, the key
   * and the file when one cannot be used (startup must not go on with a hole in it).
   * @param ticketKeys shared session-ticket keys (several processes serving one address need the same ones)
   * @param native also makes every context in the addon (native/tls.c), for bindNative
   */
  constructor(
    private readonly listener: string,
    private readonly cfg: ListenerTlsConfig,
    private readonly log: (msg: string) => void,
    ticketKeys: Buffer = processTicketKeys(),
    private readonly native: NativeContexts | null = null,
  ) {
    this.options = {
      minVersion: cfg.minVersion,
      ciphers: effectiveCiphers(cfg.ciphers),
      ticketKeys: cfg.sessionTickets ? ticketKeys : null,
      sessionTimeoutS: cfg.sessionTimeoutS,
      sessionIdContext: createHash('sha256').update(`fulcrum:${listener}`).digest('hex').slice(0, 32),
    };
    try {
      this.bare = serverContext({ minVersion: cfg.minVersion, ...(this.options.ciphers === null ? {} : { ciphers: this.options.ciphers }) }, this.options);
    } catch (err) {
      throw new FulcrumError('FULCRUM_ERR_CONFIG', `listener ${listener}: tls.ciphers: OpenSSL refused ${JSON.stringify(cfg.ciphers)}: ${(err as Error).message}`);
    }
    try {
      if (native !== null) this.bareNative = native.make(null, null, this.options);
    } catch (err) {
      throw new FulcrumError('FULCRUM_ERR_CONFIG', `listener ${listener}: tls: ${(err as Error).message}`);
    }
    cfg.certificates.forEach((c, index) => {
      let loaded: LoadedCertificate;
      try {
        loaded = loadCertificate(c, this.options, native);
      } catch (err) {
        this.freeNative();
        if (!(err instanceof CertificateError)) throw err;
        throw new FulcrumError('FULCRUM_ERR_CONFIG', `listener ${listener}: tls.certificates[${index}]: ${err.message}`);
      }
      this.warnIfExpired(index, loaded);
      this.entries.push({ index, loaded, watches: [] });
    });
    this.rebuild();
  }

  /** The context new connections start with: the default certificate, or none with `unknown_sni: reject`. */
  get initial(): tls.SecureContext {
    return this.cfg.unknownSni === 'reject' ? this.bare : this.entries[0]!.loaded.context;
  }

  /** Whether a ClientHello's name must be looked up (more than one certificate, or refusals). */
  get needsSni(): boolean {
    return this.entries.length > 1 || this.cfg.unknownSni === 'reject';
  }

  /** The context for a server name: its certificate, else the default one (or the refusing one). */
  select(servername: string): tls.SecureContext {
    return this.table.lookup(servername) ?? (this.cfg.unknownSni === 'reject' ? this.bare : this.entries[0]!.loaded.context);
  }

  /**
   * Why a failed handshake was refused on purpose (`unknown_sni: reject` and a name no
   * certificate covers, or none), or null when it was not.
   */
  refusal(servername: string | undefined): string | null {
    if (this.cfg.unknownSni !== 'reject') return null;
    if (servername === undefined || servername === '') return 'no server name (SNI) in the ClientHello, and unknown_sni is reject';
    return this.table.lookup(servername) === undefined ? `no certificate for the server name ${servername}, and unknown_sni is reject` : null;
  }

  /** Starts watching the files (once). */
  start(): void {
    if (this.started) return;
    this.started = true;
    for (const e of this.entries) {
      const c = this.cfg.certificates[e.index]!;
      for (const [path, what] of [
        [c.cert, 'certificate'],
        [c.key, 'key'],
      ] as const) {
        const w = new FileWatch(path, `listener ${this.listener}: ${what} file ${path}`, () => this.reloadEntry(e), this.log);
        w.seen(what === 'certificate' ? e.loaded.stamps.cert : e.loaded.stamps.key);
        w.start();
        e.watches.push(w);
      }
    }
  }

  /**
   * Reads every certificate again (a configuration reload): each good pair replaces the
   * one in use, each bad one is logged and the old one kept. Returns the problems.
   */
  reload(): string[] {
    const problems: string[] = [];
    for (const e of this.entries) {
      const p = this.reloadEntry(e);
      if (p !== null) problems.push(p);
    }
    return problems;
  }

  /**
   * Handshakes on the addon's listener `index` use the native contexts from now on, and
   * after every certificate reload; with `prelude`, each after a PROXY header. False when
   * the addon refused.
   */
  bindNative(index: number, prelude: boolean): boolean {
    this.nativeListener = index;
    this.nativePrelude = prelude;
    return this.pushNative();
  }

  /** Stops watching, and lets go of the native contexts (handshakes under way keep theirs). */
  stop(): void {
    for (const e of this.entries) for (const w of e.watches.splice(0)) w.close();
    this.nativeListener = -1;
    this.freeNative();
  }

  /** The native contexts by name, as the SniTable holds Node's, handed to the addon's listener. */
  private pushNative(): boolean {
    if (this.native === null || this.nativeListener < 0 || this.bareNative === null) return false;
    const names: string[] = [];
    const contexts: number[] = [];
    for (const e of this.entries) {
      for (const n of e.loaded.names) {
        names.push(n);
        contexts.push(e.loaded.native!);
      }
    }
    const first = this.entries[0]!.loaded.native!;
    const reject = this.cfg.unknownSni === 'reject';
    return this.native.relay.tlsServer(this.nativeListener, reject ? this.bareNative : first, reject ? null : first, names, contexts, this.nativePrelude);
  }

  private freeNative(): void {
    if (this.native === null) return;
    for (const e of this.entries) {
      if (e.loaded.native !== null) this.native.free(e.loaded.native);
      e.loaded.native = null;
    }
    if (this.bareNative !== null) this.native.free(this.bareNative);
    this.bareNative = null;
  }

  /** Names served, per certificate (status and logs). */
  describe(): Array<{ names: string[]; subject: string; notAfter: Date }> {
    return this.entries.map((e) => ({ names: e.loaded.names, subject: e.loaded.subject, notAfter: e.loaded.notAfter }));
  }

  private reloadEntry(e: Entry): string | null {
    const c = this.cfg.certificates[e.index]!;
    const where = `listener ${this.listener}: tls.certificates[${e.index}]`;
    let loaded: LoadedCertificate;
    try {
      loaded = loadCertificate(c, this.options, this.native);
    } catch (err) {
      const msg = `${where}: kept the certificate in use: ${(err as Error).message}`;
      this.log(msg);
      return msg;
    }
    const [wc, wk] = e.watches;
    wc?.seen(loaded.stamps.cert);
    wk?.seen(loaded.stamps.key);
    if (loaded.stamps.cert === e.loaded.stamps.cert && loaded.stamps.key === e.loaded.stamps.key) {
      if (loaded.native !== null) this.native!.free(loaded.native);
      return null;
    }
    const old = e.loaded.native;
    e.loaded = loaded;
    this.rebuild();
    if (old !== null) this.native!.free(old);
    this.log(`${where}: loaded ${c.cert} (${loaded.subject}; names ${loaded.names.join(', ') || 'none'}; valid until ${loaded.notAfter.toISOString()})`);
    this.warnIfExpired(e.index, loaded);
    return null;
  }

  private rebuild(): void {
    const table = new SniTable<tls.SecureContext>();
    for (const e of this.entries) for (const n of e.loaded.names) table.add(n, e.loaded.context);
    this.table = table;
    this.pushNative();
  }

  private warnIfExpired(index: number, loaded: LoadedCertificate): void {
    if (loaded.notAfter.getTime() < Date.now()) {
      this.log(`listener ${this.listener}: tls.certificates[${index}]: the certificate ${this.cfg.certificates[index]!.cert} expired on ${loaded.notAfter.toISOString()}; clients will refuse it`);
    }
  }
}
