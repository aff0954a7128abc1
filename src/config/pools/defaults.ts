/**
 * The defaults of a pool (`pools.NAME`), in normalised units (milliseconds): the schema
 * (schema.ts) fills them in, so a loaded pool never has a missing field.
 */
import type { BalanceAlgorithm, HashKey, PoolConfig } from '../types.js';

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

/** HTTP/2 to the servers (`protocol: h2` or `h2c`): streams per connection (nginx's and HAProxy's servers allow 100 or 128) and the keep-alive PING. */
export const DEFAULT_HTTP2: Readonly<{ maxStreams: number; pingIntervalMs: number }> = Object.freeze({
  maxStreams: 100,
  pingIntervalMs: 30_000,
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
export const DEFAULT_HEALTH = Object.freeze({
  type: 'http' as const,
  intervalMs: 2_000,
  jitter: 0.1,
  timeoutMs: 1_000,
  rise: 2,
  fall: 3,
  initial: 'up' as const,
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
export const DEFAULT_HTTP_CHECK = Object.freeze({
  method: 'GET',
  path: '/',
  host: null as string | null,
  expectStatus: [[200, 399]] as Array<[number, number]>,
  bodyMatch: null as string | null,
});

/** Outlier detection (passive health), once a pool has an `outlier` section. */
export const DEFAULT_OUTLIER = Object.freeze({
  consecutiveErrors: 5,
  baseEjectionMs: 30_000,
  maxEjectionPercent: 50,
  unejectOnActivePass: true,
});
