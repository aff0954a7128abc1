/**
 * The HAProxy peer for the HTTP benchmarks (http, https): `mode http`, round robin over
 * S1 and S2 on loopback, server connections reused (`http-reuse always`), as Fulcrum's
 * pools reuse theirs.
 */
import { LOOPBACK } from './net.js';

export interface HaproxyHttpOptions {
  readonly port: number;
  readonly s1: number;
  readonly s2: number;
  /** wrk's connections: maxconn allows for a client and a server fd each. */
  readonly connections: number;
  readonly threads: number;
  /** Appended to the `bind` line, e.g. `ssl crt FILE alpn h2,http/1.1`. */
  readonly bindOptions?: string;
}

export function haproxyHttpConfig(o: HaproxyHttpOptions): string {
  // Each connection costs a client and a server fd: stay well under common FD limits.
  const maxconn = Math.min(8000, Math.max(1024, o.connections * 2));
  return `global
  nbthread ${o.threads}
  maxconn ${maxconn}

defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  timeout http-keep-alive 30s
  http-reuse always

frontend fe
  bind ${LOOPBACK}:${o.port}${o.bindOptions === undefined ? '' : ` ${o.bindOptions}`}
  default_backend be

backend be
  balance roundrobin
  server s1 ${LOOPBACK}:${o.s1}
  server s2 ${LOOPBACK}:${o.s2}
`;
}
