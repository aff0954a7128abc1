/**
 * A listener's `ciphers` string, as Node and OpenSSL take it: TLS 1.3 suites are the
 * `TLS_` names, the rest is an OpenSSL cipher list for TLS 1.2.
 */
import tls from 'node:tls';

/** Node's split of a `ciphers` string: TLS 1.3 suites (`TLS_` names) and the TLS 1.2 list. */
export function splitCiphers(ciphers: string): { cipherList: string; cipherSuites: string } {
  const names = ciphers.split(':').filter((c) => c.length > 0);
  return {
    cipherList: names.filter((c) => !c.startsWith('TLS_')).join(':'),
    cipherSuites: names.filter((c) => c.startsWith('TLS_')).join(':'),
  };
}

/**
 * The `ciphers` to give OpenSSL for a configured one: a list that names no TLS 1.3
 * suite keeps Node's default suites for TLS 1.3, as `ssl_ciphers` in nginx and `ciphers`
 * in HAProxy do. (Node alone would set no TLS 1.3 suite, and every TLS 1.3 client would
 * fail its handshake.) Null: Node's defaults.
 */
export function effectiveCiphers(configured: string | null): string | null {
  if (configured === null) return null;
  const { cipherList, cipherSuites } = splitCiphers(configured);
  if (cipherSuites !== '') return configured;
  return `${splitCiphers(tls.DEFAULT_CIPHERS).cipherSuites}:${cipherList}`;
}
