/**
 * The zod schemas of the TLS and HTTP/2 keys: listener `tls`, `http2`, `https_redirect`,
 * `hsts`, and pool `tls`, hooked into the listener and pool objects by listeners/ and
 * pools/. Which listeners may use them is checked by checks.ts.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { isHostname, parseHostPattern } from '../common/address.js';
import { describeValue, PathedError } from '../common/field-error.js';
import { converted, intRange, positiveDuration, requireString } from '../common/fields.js';
import { TLS_DEFAULTS } from './defaults.js';
import type { CertificateConfig, HstsConfig, Http2Config, HttpsRedirectConfig, ListenerTlsConfig, PoolTlsConfig, TlsMinVersion } from './types.js';
import { parseSeconds, parseSize } from '../common/units.js';
import { seconds, SIZE, text } from '../common/field-meta.js';

function tlsVersion() {
  return z.enum(['TLSv1.2', 'TLSv1.3'] as const satisfies readonly TlsMinVersion[]);
}

/** A PEM file path (made absolute against the configuration file by load.ts). */
function pemPath(example: string) {
  return converted((v) => {
    if (typeof v !== 'string' || v.trim() === '') throw new Error(`expected a file path such as ${example}, got ${describeValue(v)}`);
    return v;
  }, text('file path'));
}

/** A size in bytes within min..max ("64KiB", 65536). */
function sizeRange(min: number, max: number) {
  return converted((v) => {
    if (typeof v !== 'string' && typeof v !== 'number') throw new Error(`expected a size such as "64KiB", got ${describeValue(v)}`);
    const n = parseSize(v);
    if (n < min || n > max) throw new Error(`must be from ${min} to ${max} bytes, got ${n}`);
    return n;
  }, { ...SIZE, type: `size, ${min}..${max} bytes` });
}

/** `names` of a certificate: host patterns (exact or "*." wildcard), no IP addresses, no ports. */
function certNames() {
  return converted((v): string[] => {
    const items = typeof v === 'string' ? [v] : v;
    if (!Array.isArray(items) || items.length === 0) throw new Error(`expected a list of server names such as ["www.example.com", "*.example.com"], got ${describeValue(v)}`);
    const errors: Error[] = [];
    const names = items.map((item: unknown, i) => {
      try {
        const s = requireString('a server name', '"www.example.com"')(item);
        if (isIP(s) !== 0 || s.startsWith('[')) throw new Error(`${s}: a TLS client never sends an IP address as the server name (RFC 6066); the default certificate answers clients that connect by address`);
        if (s.includes(':')) throw new Error(`${JSON.stringify(s)}: a server name has no port`);
        return parseHostPattern(s);
      } catch (e) {
        errors.push(new PathedError([i], (e as Error).message));
        return '';
      }
    });
    if (errors.length > 0) throw new AggregateError(errors);
    return names;
  }, { type: 'list of server names (exact or `*.` wildcard)', input: { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' }, minItems: 1 }] } });
}

function certificate() {
  return z
    .strictObject({
      cert: pemPath('"/etc/fulcrum/www.example.com.pem"').describe('the certificate chain, a PEM file (a relative path is relative to the configuration file)'),
      key: pemPath('"/etc/fulcrum/www.example.com.key"').describe('its private key, a PEM file'),
      names: certNames().optional().meta({ defaultText: 'the certificate\'s own names', description: 'the server names (SNI) this certificate is chosen for' }),
    })
    .transform((c): CertificateConfig => ({ cert: c.cert, key: c.key, names: c.names ?? null }));
}

/** Listener `tls`: TLS termination. */
export function listenerTlsSchema() {
  const d = TLS_DEFAULTS.listener;
  return z
    .strictObject({
      certificates: z
        .array(certificate())
        .min(1, 'TLS needs at least one certificate, e.g. `- {cert: www.pem, key: www.key}`')
        .describe('the certificates offered, chosen by the server name the client sends; the first one answers clients that send none'),
      min_version: tlsVersion().default(d.minVersion).describe('the oldest TLS version accepted'),
      ciphers: converted((v) => {
        const s = requireString('an OpenSSL cipher list', '"ECDHE+AESGCM:ECDHE+CHACHA20"')(v);
        if (s.trim() === '') throw new Error('an empty cipher list allows nothing: leave out `ciphers` for Node\'s defaults');
        return s;
      }, text('OpenSSL cipher list'))
        .optional()
        .meta({
          defaultText: 'OpenSSL\'s',
          description: 'an OpenSSL cipher list (TLS 1.2) and `TLS_` suites (TLS 1.3); a list without `TLS_` suites leaves TLS 1.3 its default ones, as in nginx and HAProxy',
        }),
      unknown_sni: z
        .enum(['default', 'reject'])
        .default(d.unknownSni)
        .describe('`default`: answer with the first certificate when no certificate has the name, or no name is sent; `reject`: fail the handshake'),
      session_tickets: z.boolean().default(d.sessionTickets).describe('session resumption with tickets'),
      session_timeout: converted((v) => {
        const s = parseSeconds(v, 7 * 86_400);
        if (s === 0) throw new Error('a session timeout of 0 would make every session expire at once: give a time such as "5m", or set `session_tickets: false`');
        return s;
      }, seconds(7 * 86_400))
        .default(d.sessionTimeoutS)
        .describe('lifetime of a resumable session'),
      handshake_timeout: positiveDuration('a handshake timeout of 0 would close every connection at once')
        .default(d.handshakeTimeoutMs)
        .describe('a handshake not done by then is closed'),
    })
    .meta({ title: 'Listener TLS', description: 'HTTPS: TLS termination on a mode-`http` listener (absent: plain HTTP)' })
    .transform(
      (t): ListenerTlsConfig => ({
        certificates: t.certificates,
        minVersion: t.min_version,
        ciphers: t.ciphers ?? null,
        unknownSni: t.unknown_sni,
        sessionTickets: t.session_tickets,
        sessionTimeoutS: t.session_timeout,
        handshakeTimeoutMs: t.handshake_timeout,
      }),
    );
}

/** Listener `http2`. Which listeners may set which keys is checked by checks.ts. */
export function http2Schema() {
  const d = TLS_DEFAULTS.http2;
  return z
    .strictObject({
      enabled: z.boolean().default(d.enabled).describe('offer `h2` by ALPN (with `tls`)'),
      h2c: z.boolean().default(d.h2c).describe('plain listeners: HTTP/2 with prior knowledge beside HTTP/1.1'),
      max_concurrent_streams: intRange(1, 10_000).default(d.maxConcurrentStreams).describe('streams at once per connection'),
      // RFC 9113 section 6.5.2: 2^31-1 at most; 16 KiB at least keeps one full frame in flight
      initial_stream_window: sizeRange(16_384, 2 ** 31 - 1).default(d.initialStreamWindow).describe('SETTINGS_INITIAL_WINDOW_SIZE: flow-control window of each stream'),
      initial_connection_window: sizeRange(65_535, 2 ** 31 - 1).default(d.initialConnectionWindow).describe('flow-control window of the connection'),
      max_header_list_size: sizeRange(1024, 1 << 24)
        .optional()
        .meta({ defaultText: '`limits.header_size`', description: 'SETTINGS_MAX_HEADER_LIST_SIZE' }),
    })
    .meta({ title: 'Listener HTTP/2', description: 'HTTP/2 on a mode-`http` listener' })
    .transform(
      (h): Http2Config => ({
        enabled: h.enabled,
        h2c: h.h2c,
        maxConcurrentStreams: h.max_concurrent_streams,
        initialStreamWindow: h.initial_stream_window,
        initialConnectionWindow: h.initial_connection_window,
        maxHeaderListSize: h.max_header_list_size ?? null,
      }),
    );
}

/** Listener `https_redirect`. */
export function httpsRedirectSchema() {
  const d = TLS_DEFAULTS.httpsRedirect;
  return z
    .strictObject({
      status: converted((v): 301 | 308 => {
        if (v !== 301 && v !== 308) throw new Error(`expected 301 or 308 (a permanent move: browsers remember it; 308 keeps the method and body), got ${describeValue(v)}`);
        return v;
      }, { type: '`301` | `308`', input: { enum: [301, 308] } })
        .default(d.status)
        .describe('the redirect status: a permanent move; 308 keeps the method and body'),
      port: intRange(1, 65535).default(d.port).describe('the HTTPS port redirected to'),
    })
    .describe('on a plain mode-`http` listener: answer every request with a redirect to the same URL over HTTPS (no `routes` needed)')
    .transform((r): HttpsRedirectConfig => ({ status: r.status, port: r.port }));
}

/** Listener `hsts`. */
export function hstsSchema() {
  const d = TLS_DEFAULTS.hsts;
  return z
    .strictObject({
      max_age: converted((v) => parseSeconds(v, 2 ** 31 - 1), seconds(2 ** 31 - 1)).default(d.maxAgeS).describe('how long browsers remember to use HTTPS only'),
      include_subdomains: z.boolean().default(d.includeSubdomains).describe('the same for every name below the host'),
      preload: z.boolean().default(d.preload).describe('ask to be put on the browsers\' preload lists'),
    })
    .describe('with `tls`: send a `Strict-Transport-Security` header')
    .transform((h): HstsConfig => ({ maxAgeS: h.max_age, includeSubdomains: h.include_subdomains, preload: h.preload }));
}

/** The fields of a pool's `tls` mapping, as written (checks.ts reads them one by one). */
export function poolTlsFields() {
  const d = TLS_DEFAULTS.pool;
  return z
    .strictObject({
      sni: converted((v) => {
        const s = requireString('a server name', '"www.example.com"')(v).toLowerCase();
        if (isIP(s) !== 0 || !isHostname(s)) throw new Error(`${JSON.stringify(v)} is not a host name: SNI carries a DNS name (RFC 6066), never an address or a port`);
        return s;
      }, text('host name'))
        .optional()
        .meta({ defaultText: 'the server\'s host, when a name', description: 'the server name sent (SNI) and verified' }),
      verify: z.boolean().default(d.verify).describe('verify the server\'s certificate'),
      ca: pemPath('"/etc/ssl/certs/ca-certificates.crt"').optional().meta({ defaultText: 'the system\'s CAs', description: 'the CA certificates to verify against, a PEM file' }),
      cert: pemPath('"/etc/fulcrum/client.pem"').optional().describe('a client certificate to present, a PEM file (with `key`)'),
      key: pemPath('"/etc/fulcrum/client.key"').optional().describe('the client certificate\'s private key, a PEM file'),
      min_version: tlsVersion().default(d.minVersion).describe('the oldest TLS version accepted'),
    })
    .meta({ title: 'Pool TLS' });
}

/** Pool `tls`: a mapping, or `true` for every default. */
export function poolTlsSchema() {
  const mapping = poolTlsFields()
    .transform(
      (t): PoolTlsConfig => ({
        sni: t.sni ?? null,
        verify: t.verify,
        ca: t.ca ?? null,
        cert: t.cert ?? null,
        key: t.key ?? null,
        minVersion: t.min_version,
      }),
    );
  // `tls: true` is `tls: {}`: every default
  return z
    .preprocess((v) => (v === true ? {} : v), mapping)
    .meta({ input: { const: true }, description: 'TLS to the servers: `true` for every default, or a mapping (absent: plain)' });
}
