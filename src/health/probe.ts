/**
 * The Probe seam: one check of one server, answered as pass or fail with a short
 * reason. Thresholds (rise/fall) live in the tracker, scheduling in the checker; a probe
 * only talks to the server once. Implementations live in `probes/`, one per check type.
 */
import type { HealthConfig, PoolConfig } from '../config/types.js';
import { H2Probe } from './probes/h2.js';
import { HttpProbe } from './probes/http.js';
import { TcpProbe } from './probes/tcp.js';
import { upstreamTlsFor, type UpstreamTls } from '../tls/upstream-tls.js';

/** Where a probe connects: the server's check address. */
export interface ProbeTarget {
  host: string;
  port: number;
}

/** One check's answer. */
export interface ProbeResult {
  /** The check passed. */
  ok: boolean;
  /**
   * Why, in a few words, for logs and status output: "connected", "status 200",
   * "connect ECONNREFUSED", "status 503 not in 200-399", "timeout after 1000 ms
   * (waiting for status line)", "body does not contain \"ready\"".
   */
  detail: string;
}

/**
 * Checks one server once. Contract for every implementation: `check` never rejects
 * (every failure is a `{ok: false}` result), settles within about `timeoutMs` of the
 * call, and leaves nothing behind when it settles (sockets destroyed, timers cleared).
 * One probe object may run checks for many targets concurrently.
 */
export interface Probe {
  check(target: ProbeTarget, timeoutMs: number): Promise<ProbeResult>;
}

/**
 * The probe for a pool's `health` section: TCP connect, or an HTTP request checked by
 * status (and body, if `bodyMatch` is set), over HTTP/2 when the pool's servers speak it,
 * or gRPC's health protocol. Called once per pool at start-up; cheap.
 */
export function createProbe(cfg: HealthConfig, pool?: PoolConfig): Probe {
  if (cfg.type === 'tcp') return new TcpProbe();
  if (pool !== undefined && (cfg.type === 'grpc' || pool.protocol !== 'http1')) return new H2Probe(cfg, pool);
  return new HttpProbe(cfg.http, pool === undefined ? null : checkTls(cfg, pool));
}

/** The TLS of a pool's `type: http` checks (health.tls; by default the pool's own, unless checks go to another port), or null. */
function checkTls(cfg: HealthConfig, pool: PoolConfig): UpstreamTls | null {
  const on = cfg.tls ?? (pool.tls !== null && pool.servers.every((s) => s.checkHost === s.host && s.checkPort === s.port));
  return on ? upstreamTlsFor(pool) : null;
}
