/**
 * TLS contexts of the native addon (native/tls.c) for one HTTPS listener, made with the
 * same options as its Node contexts (certificate.ts): versions, ciphers, session tickets
 * with the shared keys, session lifetime, and ALPN. Listeners whose sockets are the
 * addon's streams terminate TLS in C with these; see HttpEdge.
 */
import tls from 'node:tls';
import type { NativeRelay } from '../io/native-relay.js';
import type { ContextOptions } from './certificate.js';
import { splitCiphers } from './ciphers.js';

export class NativeContexts {
  constructor(
    readonly relay: NativeRelay,
    /** Offer h2 by ALPN. */
    private readonly h2: boolean,
  ) {}

  /** A context for a PEM pair (null, null: one that refuses every handshake); throws with OpenSSL's reason. */
  make(cert: string | null, key: string | null, opts: ContextOptions): number {
    return this.relay.tlsContext({
      cert,
      key,
      minVersion: opts.minVersion === 'TLSv1.3' ? 'TLSv1.3' : 'TLSv1.2',
      ...splitCiphers(opts.ciphers ?? tls.DEFAULT_CIPHERS),
      ticketKeys: opts.ticketKeys,
      sessionTimeout: opts.sessionTimeoutS,
      sessionIdContext: opts.sessionIdContext,
      h2: this.h2,
    });
  }

  free(id: number): void {
    this.relay.tlsContextFree(id);
  }
}
