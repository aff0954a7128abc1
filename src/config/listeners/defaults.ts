/**
 * The defaults of a listener and of the global `timeouts` and `limits`, in normalised
 * units (milliseconds, bytes): the schema (schema.ts) and load.ts fill them in.
 */
import type { AccessLogConfig, Limits, ListenerConfig, ListenerMode, RequestIdConfig, Timeouts } from '../types.js';

/** Global timeouts used when the file has no `timeouts` section or leaves a key out. */
export const DEFAULT_TIMEOUTS: Readonly<Timeouts> = Object.freeze({
  headerMs: 10_000,
  keepAliveMs: 60_000,
  connectMs: 5_000,
  serverMs: 60_000,
  clientMs: 60_000,
  // Apache's mod_reqtimeout has body=20,MinRate=500; a phone on a 2G link sends ~6 KB/s
  bodyMs: 30_000,
});

/** Global limits used when the file has no `limits` section or leaves a key out. */
export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  headerBytes: 16 * 1024,
  urlBytes: 8 * 1024,
  headerCount: 100,
  bodyMinRate: 500,
});

/** The answer given when no route matches, unless a listener sets `no_route`. */
export const DEFAULT_NO_ROUTE: Readonly<{ status: number; body: string }> = Object.freeze({
  status: 404,
  body: 'no route for this host and path\n',
});

/** Client-address headers: X-Forwarded-*, nobody trusted, with a Via header. */
export const DEFAULT_FORWARDED = Object.freeze({
  headers: 'x-forwarded' as const,
  trusted: [] as readonly string[],
  via: true,
});

/** Mode of a listener that does not name one: the HTTP reverse proxy. */
export const DEFAULT_MODE: ListenerMode = 'http';

/**
 * Redirect mode's answer: 307 Temporary Redirect, which (unlike 301 and 302) keeps the
 * method and body of the request, and (unlike 301 and 308) is not cached by browsers, so
 * the next visit comes back to the balancer and may go to another server.
 */
export const DEFAULT_REDIRECT: Readonly<ListenerConfig['redirect']> = Object.freeze({ status: 307 });

/**
 * TCP mode: a connection pair idle for 5 minutes is closed (long enough for interactive
 * protocols, short enough to reclaim connections whose peer vanished); a TLS ClientHello
 * must arrive within 5 seconds of the connection when routes choose by server name.
 */
export const DEFAULT_TCP: Readonly<ListenerConfig['tcp']> = Object.freeze({
  idleMs: 300_000,
  helloTimeoutMs: 5_000,
});

/**
 * UDP mode: a client's session ends after 30 seconds without a datagram (Linux conntrack
 * keeps an unreplied UDP flow 30 s); at most 10,000 sessions at once, each holding one
 * upstream socket; sessions rather than per-packet balancing.
 */
export const DEFAULT_UDP: Readonly<ListenerConfig['udp']> = Object.freeze({
  sessionIdleMs: 30_000,
  maxSessions: 10_000,
  perPacket: false,
});

/** An access log named without a format writes the Combined Log Format (as nginx does). */
export const DEFAULT_ACCESS_LOG_FORMAT: AccessLogConfig['format'] = 'combined';

/**
 * Request IDs are on: as Envoy's x-request-id, each request gets one (kept from trusted
 * clients), sent to the server and returned to the client in X-Request-ID.
 */
export const DEFAULT_REQUEST_ID: Readonly<RequestIdConfig> = Object.freeze({ header: 'X-Request-ID', generate: true, response: true });
