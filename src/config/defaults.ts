/**
 * Every default of the configuration, in normalised units (milliseconds, bytes), in one
 * place. The schema fills these in, so a loaded Config never has a missing field.
 */
import type { AccessLogConfig, LoggingConfig, RuntimeConfig, BalanceAlgorithm, DnsPoolNameConfig, ForwardedConfig, HashKey, HealthConfig, HttpCheckConfig, Limits, ListenerConfig, ListenerMode, OutlierConfig, PoolConfig, Timeouts } from './types.js';

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
export const DEFAULT_FORWARDED: Readonly<ForwardedConfig> = Object.freeze({
  headers: 'x-forwarded',
  trusted: [],
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

/** Balancing algorithm of a pool that does not name one. */
export const DEFAULT_BALANCE: BalanceAlgorithm = 'round-robin';

/** Weight of a server that does not set one. */
export const DEFAULT_WEIGHT = 1;

/**
 * Upstream keep-alive per server. The idle timeout is kept shorter than common server
 * keep-alive timeouts (nginx 75s, Apache 5s) so that Fulcrum, not the server, closes an
 * idle connection first, avoiding the race where a request is sent on a closing socket.
 */
export const DEFAULT_KEEPALIVE: Readonly<{ maxIdle: number; idleTimeoutMs: number }> = Object.freeze({
  maxIdle: 64,
  idleTimeoutMs: 4_000,
});

/** Name of the server at `index` (0-based) in a pool when it sets none: "s1", "s2", ... */
export function defaultServerName(index: number): string {
  return `s${index + 1}`;
}

/** The name a server goes by: its own `name`, or the default for its position. */
export function serverName(name: string | undefined, index: number): string {
  return name ?? defaultServerName(index);
}

/**
 * The public URL of a server that does not set `url` (redirect mode sends clients there):
 * http://HOST:PORT, an IPv6 address in brackets and lower-case.
 */
export function defaultServerUrl(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host.toLowerCase()}]` : host}:${port}`;
}

/** The key maglev hashes when a pool does not set `hash`: the client's IP address. */
export const DEFAULT_HASH: Readonly<HashKey> = Object.freeze({ source: 'ip' });

/** Cookie and fallback of `balance: sticky` when the pool does not set `sticky`. */
export const DEFAULT_STICKY: Readonly<PoolConfig['sticky']> = Object.freeze({
  cookie: 'FULCRUM_SERVER',
  fallback: 'round-robin',
});

/** Extra tries on another server after a failed connect. */
export const DEFAULT_RETRIES = 2;

/** No queue (503 at once when every server is at max_conn); 5s wait once a size is set. */
export const DEFAULT_QUEUE: Readonly<PoolConfig['queue']> = Object.freeze({ size: 0, timeoutMs: 5_000 });

/** Active health checks, once a pool has a `health` section. */
export const DEFAULT_HEALTH: Readonly<Omit<HealthConfig, 'fastIntervalMs' | 'http'>> = Object.freeze({
  type: 'http',
  intervalMs: 2_000,
  jitter: 0.1,
  timeoutMs: 1_000,
  rise: 2,
  fall: 3,
  initial: 'up',
});

/** The shortest default fast interval (the default is a quarter of the interval). */
export const MIN_DEFAULT_FAST_INTERVAL_MS = 100;

/**
 * The fast interval of a health check that does not set `fast_interval`: a quarter of
 * the interval, at least 100 ms, and never more than the interval itself.
 */
export function defaultFastInterval(intervalMs: number): number {
  return Math.min(intervalMs, Math.max(MIN_DEFAULT_FAST_INTERVAL_MS, Math.floor(intervalMs / 4)));
}

/** The HTTP check: `GET /`, any 2xx or 3xx passes. */
export const DEFAULT_HTTP_CHECK: Readonly<HttpCheckConfig> = Object.freeze<HttpCheckConfig>({
  method: 'GET',
  path: '/',
  host: null,
  expectStatus: [[200, 399]],
  bodyMatch: null,
});

/** Outlier detection (passive health), once a pool has an `outlier` section. */
export const DEFAULT_OUTLIER: Readonly<OutlierConfig> = Object.freeze({
  consecutiveErrors: 5,
  baseEjectionMs: 30_000,
  maxEjectionPercent: 50,
});

/** The DNS server's idle timeout for a TCP connection between queries (RFC 7766 suggests seconds). */
export const DEFAULT_DNS_TCP_IDLE_MS = 10_000;
/** How long a DNS message over TCP may take to arrive whole once its first byte has come. */
export const DEFAULT_DNS_TCP_MESSAGE_MS = 5_000;
/** TCP connections at once per DNS listen address (NSD's tcp-count is 100, BIND's tcp-clients 150). */
export const DEFAULT_DNS_TCP_MAX_CONNECTIONS = 1024;
/** TCP connections at once from one client address. */
export const DEFAULT_DNS_TCP_MAX_PER_CLIENT = 32;

/** The port of a DNS `listen` address written without one. */
export const DNS_PORT = 53;

/**
 * SOA fields a zone does not set, in seconds (serial aside): RIPE-203's recommendations
 * for refresh, retry and expire, a one-minute negative-caching TTL (RFC 2308) so that a
 * name added to the configuration is seen quickly, and an hour for the SOA record itself.
 */
export const DEFAULT_SOA = Object.freeze({
  serial: 1,
  refresh: 3_600,
  retry: 600,
  expire: 604_800,
  minimum: 60,
  ttl: 3_600,
});

/** The SOA MNAME (primary name server) of a zone that does not set one: ns1.ORIGIN. */
export function defaultMname(origin: string): string {
  return origin === '.' ? 'ns1.' : `ns1.${origin}`;
}

/** The SOA RNAME (the administrator's mailbox, hostmaster@ORIGIN) of a zone that does not set one. */
export function defaultRname(origin: string): string {
  return origin === '.' ? 'hostmaster.' : `hostmaster.${origin}`;
}

/** TTL of a static record that does not set one, in seconds. */
export const DEFAULT_RECORD_TTL = 3_600;

/**
 * A pool-backed name's defaults: a short TTL (30 s), so that resolvers come back soon
 * after a server goes down; every usable server in each answer; every server when none is
 * usable (what PowerDNS and gdnsd do: a possibly-down server beats no answer at all).
 */
export const DEFAULT_POOL_NAME: Readonly<Pick<DnsPoolNameConfig, 'ttl' | 'policy' | 'subsetSize' | 'subsetMode' | 'whenNoneUsable'>> = Object.freeze({
  ttl: 30,
  policy: 'all',
  subsetSize: 1,
  subsetMode: 'rotate',
  whenNoneUsable: 'all',
});

/**
 * Runtime: one worker per core; after a reload, old workers may keep long-lived
 * connections for 5 minutes; a stop lets in-flight requests run 10 seconds; the control
 * socket at its default path (see runtime/control-path.ts).
 */
export const DEFAULT_RUNTIME: Readonly<RuntimeConfig> = Object.freeze({
  workers: 'auto',
  drainMs: 300_000,
  shutdownMs: 10_000,
  controlSocket: null,
  user: null,
});

/** Logging: level info, pretty on a terminal and JSON otherwise. */
export const DEFAULT_LOGGING: Readonly<LoggingConfig> = Object.freeze({ level: 'info', format: 'auto' });

/** An access log named without a format writes the Combined Log Format (as nginx does). */
export const DEFAULT_ACCESS_LOG_FORMAT: AccessLogConfig['format'] = 'combined';
