/**
 * Every default of the configuration, in normalised units (milliseconds, bytes), in one
 * place. The schema fills these in, so a loaded Config never has a missing field.
 */
import type { BalanceAlgorithm, ForwardedConfig, Limits, Timeouts } from './types.js';

/** Global timeouts used when the file has no `timeouts` section or leaves a key out. */
export const DEFAULT_TIMEOUTS: Readonly<Timeouts> = Object.freeze({
  headerMs: 10_000,
  keepAliveMs: 60_000,
  connectMs: 5_000,
  serverMs: 60_000,
  clientMs: 60_000,
});

/** Global limits used when the file has no `limits` section or leaves a key out. */
export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  headerBytes: 16 * 1024,
  urlBytes: 8 * 1024,
  headerCount: 100,
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
