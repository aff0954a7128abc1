/**
 * Builds the normalised TLS sections: file paths made absolute against the directory of
 * the configuration file (as `steering_file` and GeoIP databases are), so a
 * configuration means the same files whatever the working directory.
 */
import { filePath } from '../common/paths.js';
import type { ListenerTlsConfig, PoolTlsConfig } from './types.js';

/** A listener's `tls` with absolute certificate and key paths. */
export function buildListenerTls(tls: ListenerTlsConfig | null, source: string): ListenerTlsConfig | null {
  if (tls === null) return null;
  return { ...tls, certificates: tls.certificates.map((c) => ({ ...c, cert: filePath(c.cert, source), key: filePath(c.key, source) })) };
}

/** A pool's `tls` with absolute CA, certificate and key paths. */
export function buildPoolTls(tls: PoolTlsConfig | null, source: string): PoolTlsConfig | null {
  if (tls === null) return null;
  const abs = (p: string | null) => (p === null ? null : filePath(p, source));
  return { ...tls, ca: abs(tls.ca), cert: abs(tls.cert), key: abs(tls.key) };
}
