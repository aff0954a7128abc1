/**
 * Defaults of the TLS and HTTP/2 keys (see types.ts), in normalised units. The HTTP/2
 * limits are Envoy's edge recommendations: 100 concurrent streams, a 64 KiB stream window
 * and a 1 MiB connection window, which bound what one client can make the proxy buffer.
 */
import type { HstsConfig, Http2Config, HttpsRedirectConfig, ListenerTlsConfig, PoolTlsConfig } from './types.js';

export const TLS_DEFAULTS = Object.freeze({
  listener: Object.freeze({
    minVersion: 'TLSv1.2',
    unknownSni: 'default',
    sessionTickets: true,
    sessionTimeoutS: 300,
    handshakeTimeoutMs: 10_000,
  } satisfies Omit<ListenerTlsConfig, 'certificates' | 'ciphers'>),
  http2: Object.freeze({
    enabled: true,
    h2c: false,
    maxConcurrentStreams: 100,
    initialStreamWindow: 65_536,
    initialConnectionWindow: 1_048_576,
  } satisfies Omit<Http2Config, 'maxHeaderListSize'>),
  httpsRedirect: Object.freeze({ status: 301, port: 443 } satisfies HttpsRedirectConfig),
  hsts: Object.freeze({ maxAgeS: 31_536_000, includeSubdomains: false, preload: false } satisfies HstsConfig),
  pool: Object.freeze({ verify: true, minVersion: 'TLSv1.2' } satisfies Pick<PoolTlsConfig, 'verify' | 'minVersion'>),
});

/** The HTTP/2 section of a listener that does not write one. */
export function defaultHttp2(): Http2Config {
  return { ...TLS_DEFAULTS.http2, maxHeaderListSize: null };
}
