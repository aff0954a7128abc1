/** The defaults of the `dns:` section, filled in by schema.ts and parse.ts. */
import type { DnsPoolNameConfig } from '../types.js';

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
