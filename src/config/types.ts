/**
 * The configuration's types, the one place other code imports them from. Where a
 * section's zod output is exactly what the runtime reads, its type is derived from the
 * schema (z.output); the others are written out here, because load.ts or a build step
 * turns the schema's output into them (names added, global timeouts and limits merged,
 * DNS names resolved against their zone, ...).
 */
import type { z } from 'zod';
import type { bgp as bgpSchema } from './bgp/schema.js';
import type { forwarded, route } from './listeners/schema.js';
import type { logging } from './logging/schema.js';
import type { health, httpCheck, outlier } from './pools/schema.js';
import type { runtime } from './runtime/schema.js';
import type { VirtualServiceConfig } from './services/parse.js';
import type { CompressionConfig } from './listeners/compression.js';

export type { VirtualServiceConfig };
import type { HstsConfig, Http2Config, HttpsRedirectConfig, ListenerTlsConfig, PoolTlsConfig } from './tls/types.js';

/**
 * The validated, normalised configuration: what `loadConfig` returns and what the
 * runtime consumes. Every default is filled in, durations are milliseconds and sizes are
 * bytes, so nothing downstream re-parses or re-defaults. The YAML spelling of each field
 * (snake_case) is documented in docs/reference/configuration.md and examples/.
 */
export interface Config {
  /** Where the configuration came from (a path, or "<embedded quickstart>"). */
  source: string;
  listeners: ListenerConfig[];
  /** Pools by name, in file order. */
  pools: Map<string, PoolConfig>;
  timeouts: Timeouts;
  limits: Limits;
  /** The authoritative DNS server, or null. */
  dns: DnsConfig | null;
  /** Processes, reload and shutdown (YAML `runtime`). */
  runtime: RuntimeConfig;
  /** The process log (YAML `logging`). */
  logging: LoggingConfig;
  /** Virtual IPs by VRRP, or null (a Config built by hand may leave it out). */
  vrrp?: VrrpConfig | null;
  /** Virtual services of the kernel data plane (nftables NAT and DSR); empty when none. */
  services: VirtualServiceConfig[];
  /** The admin listener (runtime API, dashboard, metrics), or null: none. */
  admin: AdminConfig | null;
  /** BGP announcements (YAML `bgp:`), or null (a Config built by hand may leave it out). */
  bgp?: BgpConfig | null;
}

/**
 * YAML `admin`: the admin listener. Written out: load.ts makes the token file's path
 * absolute (relative to the configuration file).
 */
export interface AdminConfig {
  /** Host part of `listen`, without brackets ("127.0.0.1", "::1"). */
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** Absolute path of the access token file, or null: state-changing calls need no token. */
  tokenFile: string | null;
  /** Serve the live dashboard at `/`. */
  dashboard: boolean;
  /** Serve the Prometheus metrics at `/metrics`. */
  metrics: boolean;
}

/** YAML `bgp:`: Fulcrum's AS, its peers and what it announces. */
export type BgpConfig = z.output<typeof bgpSchema>;
export type BgpAnnouncement = BgpConfig['announce'][number];

/** YAML `runtime`: how many worker processes, how long draining may take, the control socket. */
export type RuntimeConfig = z.output<typeof runtime>;

export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

/** YAML `logging`: the process log (pino): JSON, or human-readable lines on a terminal (auto: pretty on a terminal). */
export type LoggingConfig = z.output<typeof logging>;

/**
 * A listener's access log: one line per request (http, redirect) or per connection (tcp).
 * Written out: the schema's output is a union of its two spellings (a path alone, or a
 * mapping), which says no more than this.
 */
export interface AccessLogConfig {
  /** "stdout", or a file (appended to; reopened on SIGUSR1 for logrotate). */
  path: string;
  /** json; or common / combined (the Common and Combined Log Formats) / custom (http and redirect only). */
  format: 'json' | 'common' | 'combined' | 'custom';
  /** format custom: the line's template (config/listeners/log-template.ts); else null. */
  template: string | null;
}

/** A listener's request IDs (proxy/http/request-id.ts). */
export interface RequestIdConfig {
  /** The header field carrying the ID, as written ("X-Request-ID"). */
  header: string;
  /** Make an ID when the request has none we keep. */
  generate: boolean;
  /** Return the ID on the response. */
  response: boolean;
}

/**
 * http: the HTTP/1.1 reverse proxy; redirect: HTTP, answering each request with a redirect
 * to the chosen server's own URL; tcp: relays connections (TLS passes through, routed by
 * SNI); udp: relays datagrams.
 */
export type ListenerMode = 'http' | 'redirect' | 'tcp' | 'udp';

export interface ListenerConfig {
  name: string;
  /** Host part of `bind`, without brackets ("127.0.0.1", "::1", "0.0.0.0"). */
  host: string;
  port: number;
  mode: ListenerMode;
  /** Ordered; the first route whose host and path both match wins. */
  routes: RouteConfig[];
  forwarded: ForwardedConfig;
  /** Answer when no route matches. */
  noRoute: { status: number; body: string };
  /** Who may use the listener (HTTP): CIDRs, or null for no list. */
  access: { allow: string[] | null; deny: string[] | null };
  /** Listener-level overrides merged over the global timeouts. */
  timeouts: Timeouts;
  limits: Limits;
  /** Most client connections at once; more are closed at accept. 0: no limit. */
  maxConnections: number;
  /** Connections one client address may hold at once, across workers; null: no limit. */
  maxConnectionsPerClient: number | null;
  /** New connections per second one client address may open, across workers; null: no limit. */
  newConnectionsPerClient: number | null;
  /**
   * Accept a PROXY protocol (v1 or v2) header from downstream balancers (tcp, http): only
   * from `trusted` sources (CIDRs, normalised with a prefix length); a connection from
   * anywhere else, or with a malformed header, is closed. Null: off.
   */
  proxyProtocol: { trusted: string[] } | null;
  /** One line per request (http, redirect) or per connection (tcp), or null for none. */
  accessLog: AccessLogConfig | null;
  /** Request IDs (http, redirect), or null for none. */
  requestId: RequestIdConfig | null;
  /** redirect mode: the status of the answer. */
  redirect: { status: 301 | 302 | 303 | 307 | 308 };
  /** tcp mode. */
  tcp: {
    /** Close a connection pair after this long without a byte either way. */
    idleMs: number;
    /** How long to wait for a TLS ClientHello when routes name SNI hosts. */
    helloTimeoutMs: number;
  };
  /** udp mode. */
  udp: {
    /** A client's session (its server choice and upstream socket) ends after this long without a datagram. */
    sessionIdleMs: number;
    maxSessions: number;
    /** No sessions: every datagram is balanced on its own (DNS, syslog); replies still come back. */
    perPacket: boolean;
  };
  /** TLS termination (http and redirect modes); null: plain HTTP. */
  tls: ListenerTlsConfig | null;
  /** HTTP/2 to clients (mode http): by ALPN with `tls`, with prior knowledge when `h2c`. */
  http2: Http2Config;
  /** Plain HTTP: requests no route matches are redirected to HTTPS; null: off. */
  httpsRedirect: HttpsRedirectConfig | null;
  /** Strict-Transport-Security on responses over HTTPS; null: none. */
  hsts: HstsConfig | null;
  /** Files answered instead of Fulcrum's own text for 502, 503 and 504 (absolute paths). */
  errorPages: ErrorPages;
  /** Response compression (http mode), or null: off. Routes may replace it. */
  compression: CompressionConfig | null;
}

/** A listener's `error_pages`: a file per status. */
export type ErrorPages = Partial<Record<502 | 503 | 504, string>>;

export type RouteConfig = z.output<typeof route>;

export type ForwardedConfig = z.output<typeof forwarded>;

export type { BalanceAlgorithm } from '../balance/algorithms.js';
import type { BalanceAlgorithm } from '../balance/algorithms.js';

/** Where a hashing balancer (maglev) takes its key from, per request or connection. */
export type HashKey =
  | { source: 'ip' }
  /** `name` lower-cased. */
  | { source: 'header'; name: string }
  | { source: 'cookie'; name: string }
  | { source: 'path' }
  | { source: 'query'; name: string };

export interface PoolConfig {
  name: string;
  balance: BalanceAlgorithm;
  /** maglev only: the key (YAML `hash`, default source IP). */
  hash: HashKey;
  /** sticky only: the cookie naming the server, and the algorithm used when it names no usable server. */
  sticky: { cookie: string; fallback: 'round-robin' | 'random' | 'least-conn' };
  servers: ServerConfig[];
  /** Upstream keep-alive pool, per server. */
  keepalive: { maxIdle: number; idleTimeoutMs: number };
  /** Active health checks; null: none (servers count as up unless passive checks eject them). */
  health: HealthConfig | null;
  /** Passive health (outlier detection); null: off. */
  outlier: OutlierConfig | null;
  /** A server coming back ramps its weight from ~0 to full over this time; 0: off. */
  slowStartMs: number;
  /** Extra tries on another server after a failed connect (and for idempotent requests, a reset before any response byte). */
  retries: number;
  /** Requests waiting when every usable server is at max_conn; size 0 answers 503 at once. */
  queue: { size: number; timeoutMs: number };
  /** Send a PROXY protocol header with the client's address to the servers (tcp and http). */
  sendProxy: 'v1' | 'v2' | null;
  /** TLS to the servers (re-encryption); null: plain TCP. */
  tls: PoolTlsConfig | null;
  /** What the servers speak: HTTP/1.1, HTTP/2 with prior knowledge (h2c), or HTTP/2 over TLS (h2). */
  protocol: 'http1' | 'h2c' | 'h2';
  /** HTTP/2 connections to the servers (protocol h2 or h2c). */
  http2: { maxStreams: number; pingIntervalMs: number };
}

export interface ServerConfig {
  name: string;
  host: string;
  port: number;
  /** 0..256; 0 drains the server. */
  weight: number;
  /** Used only while no primary (non-backup) server is usable. */
  backup: boolean;
  /** Most requests (HTTP) or connections (TCP) at once; 0: no limit. */
  maxConn: number;
  /** Where health checks go (default: the server's own host and port). */
  checkHost: string;
  checkPort: number;
  /** The server's own public URL, for redirect mode (default http://HOST:PORT). No trailing slash. */
  url: string;
}

export type HealthConfig = z.output<typeof health>;

export type HttpCheckConfig = z.output<typeof httpCheck>;

export type OutlierConfig = z.output<typeof outlier>;

export interface Timeouts {
  /** Whole request head must arrive within this (408 otherwise): slowloris guard. */
  headerMs: number;
  /** Idle time allowed between requests on a client keep-alive connection. */
  keepAliveMs: number;
  /** Connecting to a server. */
  connectMs: number;
  /** Server inactivity while a response is awaited or streams (504 before the head). */
  serverMs: number;
  /** Client inactivity while a request body or response is in flight. */
  clientMs: number;
  /**
   * A request body must arrive within this from the end of its head, plus one second for
   * every `Limits.bodyMinRate` bytes received (408 otherwise): slow-POST guard. 0: none.
   */
  bodyMs: number;
}

export interface Limits {
  /** Largest request or response head (request line + headers) in bytes (431 over it). */
  headerBytes: number;
  /** Longest request target in bytes (414 over it). */
  urlBytes: number;
  /** Most header fields in one head (431 over it). */
  headerCount: number;
  /** Bytes per second a request body must keep up on average, beyond `Timeouts.bodyMs` (0: the body gets `bodyMs` in all). */
  bodyMinRate: number;
}

/** One problem found while loading or validating a configuration. */
export interface ConfigIssue {
  file: string;
  /** 1-based; 0 when the problem has no position (e.g. an empty file). */
  line: number;
  column: number;
  /** Key path such as "listeners[0].routes[1].pool". */
  path: string;
  message: string;
}

/**
 * The authoritative DNS server (YAML `dns:`); null in Config when absent. It answers for
 * its zones from static records and from pools: a pool-backed name answers with the
 * addresses of the pool's usable servers (their `host` must be an IP address).
 */
export interface DnsConfig {
  /** Addresses to serve on, each over UDP and TCP. */
  listen: Array<{ host: string; port: number }>;
  /** Idle time allowed on a TCP connection between queries (from the last answer, not the last byte). */
  tcpIdleMs: number;
  /** Time a TCP message may take to arrive whole once its first byte has come. */
  tcpMessageMs: number;
  /** TCP connections at once per listen address; at the cap, the least recently useful one is closed for a new one. */
  tcpMaxConnections: number;
  /** TCP connections at once from one client address; over it, that client's least recently useful one is closed. */
  tcpMaxPerClient: number;
  zones: ZoneConfig[];
}

export interface ZoneConfig {
  /** Lower-case, absolute, with the trailing dot: "example.com.". */
  origin: string;
  soa: {
    /** Absolute names. */
    mname: string;
    rname: string;
    serial: number;
    refresh: number;
    retry: number;
    expire: number;
    /** Negative-caching TTL (RFC 2308): the SOA MINIMUM field. */
    minimum: number;
    ttl: number;
  };
  /** Static records (NS included), names absolute and lower-case; the SOA is `soa`. */
  records: DnsRecordConfig[];
  /** Pool-backed names. */
  pools: DnsPoolNameConfig[];
  /** Allow AXFR over TCP (from anyone; default false: NOTIMP). */
  transfer: boolean;
}

export type DnsRecordType = 'A' | 'AAAA' | 'CNAME' | 'TXT' | 'MX' | 'SRV' | 'CAA' | 'NS';

export interface DnsRecordConfig {
  /** Absolute, lower-case: "www.example.com.". */
  name: string;
  type: DnsRecordType;
  ttl: number;
  /**
   * Type-specific data: A/AAAA an address; CNAME/NS an absolute name; TXT an array of
   * strings; MX {preference, exchange}; SRV {priority, weight, port, target}; CAA {flags, tag, value}.
   */
  data: unknown;
}

export interface DnsPoolNameConfig {
  /** Absolute, lower-case. */
  name: string;
  /** The pool whose usable servers answer (A for IPv4 hosts, AAAA for IPv6 hosts). */
  pool: string;
  ttl: number;
  /**
   * all: every usable server; subset: `subsetSize` per answer (rotated, or weighted-random);
   * weighted: one server per answer chosen by weight; failover: `groups` in order, the first
   * with a usable server answers.
   */
  policy: 'all' | 'subset' | 'weighted' | 'failover';
  subsetSize: number;
  subsetMode: 'rotate' | 'weighted-random';
  /** failover: ordered groups of server names of the pool. */
  groups: string[][];
  /** Answer when no server is usable: every server (like PowerDNS and gdnsd) or none (NODATA). */
  whenNoneUsable: 'all' | 'none';
  /**
   * Steering by client network: CIDR -> pool, most specific prefix wins, matched on EDNS
   * Client Subnet when present, else the resolver's address. Inline entries plus an
   * optional file (one "CIDR POOL" per line, # comments) reloaded when it changes.
   */
  steering: Array<{ cidr: string; pool: string }>;
  steeringFile: string | null;
  /** Optional MaxMind database: country / continent code -> pool; the CIDR table wins. */
  geoip: { database: string; countries: Record<string, string>; continents: Record<string, string> } | null;
}

/**
 * Virtual IPs kept alive by VRRPv3 (YAML `vrrp:`); null in Config when absent. Each
 * instance is one virtual router (RFC 5798) on one interface, holding its addresses while
 * master.
 */
export interface VrrpConfig {
  instances: VrrpInstanceConfig[];
}

export interface VrrpInstanceConfig {
  name: string;
  /** The network interface the addresses live on and advertisements go out of. */
  interface: string;
  /** Virtual router id, 1..255; the same on every node of the pair. */
  vrid: number;
  /** 1..254, or 255 for the address owner (master at once, never lowered). */
  priority: number;
  /** Advertisement_Interval in centiseconds (1..4095). */
  advertIntervalCs: number;
  /** Addresses taken while master; `prefix` 32 when the file gives none. */
  virtualIps: Array<{ address: string; prefix: number }>;
  /** Take over from a lower-priority master (RFC 5798 default), after `preemptDelayMs` from start-up. */
  preempt: boolean;
  preemptDelayMs: number;
  /** Source of advertisements; null: the interface's first IPv4 address. */
  source: string | null;
  /** Peers to advertise to by unicast; empty: multicast to 224.0.0.18. */
  unicastPeers: string[];
  /** Gratuitous ARP on taking over: `count` packets `intervalMs` apart, again after `repeatAfterMs`, then every `refreshMs` (0: never). */
  garp: { count: number; intervalMs: number; repeatAfterMs: number; refreshMs: number };
  /** What lowers the priority by `weight`, or (weight null) puts the instance in fault. */
  track: Array<{ kind: 'listener' | 'pool'; name: string; weight: number | null }>;
  /** How often tracked listeners are probed. */
  trackIntervalMs: number;
  /** Command run on every state change with arguments INSTANCE NAME STATE PRIORITY (as keepalived's notify); null: none. */
  notify: string[] | null;
}
