/**
 * The normalised configuration of HTTPS and HTTP/2 at the edge (listener `tls`, `http2`,
 * `https_redirect`, `hsts`) and of TLS to servers (pool `tls`). File paths are absolute
 * (relative ones are resolved against the configuration file's directory when loading).
 * See docs/https-http2.md.
 */

/** Lowest TLS version a listener or a pool accepts. */
export type TlsMinVersion = 'TLSv1.2' | 'TLSv1.3';

/** One certificate of a listener: a PEM certificate (with its chain) and its key. */
export interface CertificateConfig {
  /** PEM file: the certificate first, then its intermediates. */
  cert: string;
  /** PEM file: the private key (unencrypted). */
  key: string;
  /**
   * The server names it answers (exact or `*.` wildcard, lower-case); null: the DNS
   * names of the certificate (subjectAltName, else its common name).
   */
  names: string[] | null;
}

/** TLS termination on an HTTP listener (YAML `tls`). */
export interface ListenerTlsConfig {
  /** At least one; the first is the default certificate. */
  certificates: CertificateConfig[];
  minVersion: TlsMinVersion;
  /** OpenSSL cipher list (TLS 1.2) and suites (TLS 1.3, `TLS_` names); null: Node's defaults. */
  ciphers: string | null;
  /**
   * A ClientHello naming no certificate (or no name at all): `default` answers with the
   * default certificate, `reject` fails the handshake (alert handshake_failure).
   */
  unknownSni: 'default' | 'reject';
  /** Session resumption with tickets (TLS 1.2 tickets, TLS 1.3 PSK tickets). */
  sessionTickets: boolean;
  /** Lifetime of a resumable session, seconds. */
  sessionTimeoutS: number;
  /** The handshake must finish within this (ms); otherwise the connection is closed. */
  handshakeTimeoutMs: number;
}

/** HTTP/2 towards clients (YAML `http2`); limits follow Envoy's edge recommendations. */
export interface Http2Config {
  /** Offer `h2` by ALPN on TLS listeners. */
  enabled: boolean;
  /** Plain listeners: accept HTTP/2 with prior knowledge (the client starts with the h2 preface). */
  h2c: boolean;
  maxConcurrentStreams: number;
  /** Per-stream flow-control window (SETTINGS_INITIAL_WINDOW_SIZE), bytes. */
  initialStreamWindow: number;
  /** Connection flow-control window, bytes. */
  initialConnectionWindow: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE, bytes; null: the listener's `limits.header_size`. */
  maxHeaderListSize: number | null;
}

/** Plain-HTTP requests that match no route are sent to the same URL over HTTPS (YAML `https_redirect`). */
export interface HttpsRedirectConfig {
  status: 301 | 308;
  /** The HTTPS port; left out of the URL when 443. */
  port: number;
}

/** Strict-Transport-Security on every response over HTTPS (YAML `hsts`). */
export interface HstsConfig {
  maxAgeS: number;
  includeSubdomains: boolean;
  preload: boolean;
}

/** TLS from Fulcrum to the servers of a pool (YAML pool `tls`). */
export interface PoolTlsConfig {
  /** Server name sent (SNI) and verified; null: the server's host when it is a name, none for an IP address. */
  sni: string | null;
  /** Verify the server's certificate chain and name. */
  verify: boolean;
  /** PEM bundle of trusted CAs; null: Node's bundled Mozilla roots. */
  ca: string | null;
  /** Client certificate and key (PEM) to present, both or neither. */
  cert: string | null;
  key: string | null;
  minVersion: TlsMinVersion;
}
