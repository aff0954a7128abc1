/**
 * Defaults of the `bgp:` section, filled in by schema.ts: the hold time routers commonly
 * use for fast failover without BFD (9 s, keepalives every 3 s), the standard port, and
 * 5 s of graceful shutdown (RFC 8326) before a planned stop withdraws the routes.
 */
export const DEFAULT_BGP = Object.freeze({
  port: 179,
  holdTimeS: 9,
  gracefulShutdownMs: 5000,
  minUsable: 1,
  bfdIntervalMs: 100,
  bfdMultiplier: 3,
});
