/**
 * Builders of normalised DNS and pool configuration objects in code, with the same
 * defaults as the YAML loader: for tests, benchmarks and programs that embed a DnsServer
 * without a configuration file.
 */
import { DEFAULT_DNS_TCP_IDLE_MS, DEFAULT_DNS_TCP_MAX_CONNECTIONS, DEFAULT_DNS_TCP_MAX_PER_CLIENT, DEFAULT_DNS_TCP_MESSAGE_MS } from '../config/dns/defaults.js';
import { DEFAULT_HASH, DEFAULT_HTTP2, DEFAULT_KEEPALIVE, DEFAULT_QUEUE, DEFAULT_STICKY } from '../config/pools/defaults.js';
import type { DnsConfig, DnsPoolNameConfig, HealthConfig, PoolConfig, ZoneConfig } from '../config/types.js';

/** SOA timers used when a zone built here sets none (seconds). */
const SOA_TIMERS = { serial: 1, refresh: 3_600, retry: 600, expire: 604_800, minimum: 60, ttl: 3_600 };

/** A pool of servers given as IP addresses (port 80 unless given), round robin, no health checks unless `health` is set. */
export function poolConfig(
  name: string,
  servers: ReadonlyArray<{ name: string; host: string; port?: number; weight?: number; backup?: boolean }>,
  health: HealthConfig | null = null,
): PoolConfig {
  return {
    name,
    balance: 'round-robin',
    hash: { ...DEFAULT_HASH } as PoolConfig['hash'],
    sticky: { ...DEFAULT_STICKY },
    servers: servers.map((s) => ({
      name: s.name,
      host: s.host,
      port: s.port ?? 80,
      weight: s.weight ?? 1,
      backup: s.backup ?? false,
      maxConn: 0,
      checkHost: s.host,
      checkPort: s.port ?? 80,
      url: `http://${s.host}:${s.port ?? 80}`,
    })),
    keepalive: { ...DEFAULT_KEEPALIVE },
    health,
    outlier: null,
    slowStartMs: 0,
    retries: 0,
    queue: { ...DEFAULT_QUEUE },
    sendProxy: null,
    tls: null,
    protocol: 'http1',
    http2: { ...DEFAULT_HTTP2 },
  };
}

/** A zone with the default SOA (mname ns1.ORIGIN, rname hostmaster.ORIGIN); `over` replaces any field. */
export function zoneConfig(origin: string, over: Partial<Omit<ZoneConfig, 'soa'>> & { soa?: Partial<ZoneConfig['soa']> } = {}): ZoneConfig {
  const o = origin.endsWith('.') ? origin : `${origin}.`;
  return {
    origin: o,
    soa: { mname: `ns1.${o}`, rname: `hostmaster.${o}`, ...SOA_TIMERS, ...over.soa },
    records: over.records ?? [],
    pools: over.pools ?? [],
    transfer: over.transfer ?? false,
  };
}

/** A pool-backed name with the default policy (all usable servers, TTL 30, all when none usable); `over` replaces any field. */
export function poolName(name: string, pool: string, over: Partial<DnsPoolNameConfig> = {}): DnsPoolNameConfig {
  return {
    name: name.endsWith('.') ? name : `${name}.`,
    pool,
    ttl: 30,
    policy: 'all',
    subsetSize: 1,
    subsetMode: 'rotate',
    whenNoneUsable: 'all',
    groups: [],
    steering: [],
    steeringFile: null,
    geoip: null,
    ...over,
  };
}

/** A DnsConfig listening on each address given (TCP idle timeout 10 s unless given; the other TCP limits at their defaults). */
export function dnsConfig(listen: Array<{ host: string; port: number }>, zones: ZoneConfig[], tcpIdleMs = DEFAULT_DNS_TCP_IDLE_MS): DnsConfig {
  return {
    listen,
    tcpIdleMs,
    tcpMessageMs: DEFAULT_DNS_TCP_MESSAGE_MS,
    tcpMaxConnections: DEFAULT_DNS_TCP_MAX_CONNECTIONS,
    tcpMaxPerClient: DEFAULT_DNS_TCP_MAX_PER_CLIENT,
    zones,
  };
}
