/**
 * What a process counts per server beyond `Server.active` and `Server.total`: errors by
 * kind, retries, and the response-time histogram. Plain numbers in typed arrays, indexed
 * by the server's process-unique `id`, so the hot path does an array read and an
 * increment, never a metrics-library call; the worker reads them into a snapshot when
 * the primary asks (snapshot.ts).
 */
import type { Server } from '../backend/server.js';

/** Upper bounds (seconds) of `fulcrum_server_response_seconds` buckets; one more bucket counts the rest (+Inf). */
export const RESPONSE_BUCKETS: readonly number[] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Indexes of `ServerStats.errors`: what the server did. */
export const ERROR_KINDS = ['connect', 'reset', 'timeout', '5xx'] as const;
export const ERR_CONNECT = 0;
export const ERR_RESET = 1;
export const ERR_TIMEOUT = 2;
export const ERR_5XX = 3;

/** One server's counters in this process. */
export class ServerStats {
  /** By ERROR_KINDS index. */
  readonly errors = new Float64Array(ERROR_KINDS.length);
  /** Requests or connections tried again after a failure of this server. */
  retries = 0;
  /** Response times: count per bucket (not cumulative), the last one above the highest bound. */
  readonly buckets = new Float64Array(RESPONSE_BUCKETS.length + 1);
  /** Sum of the response times observed, in seconds. */
  sum = 0;
}

const table: Array<ServerStats | undefined> = [];

/** The server's stats in this process (made at first use). */
export function statsOf(server: Server): ServerStats {
  return (table[server.id] ??= new ServerStats());
}

/** Counts one response that took `ms` milliseconds, from the request's dispatch to its last byte. */
export function observeResponse(server: Server, ms: number): void {
  const st = statsOf(server);
  const seconds = ms > 0 ? ms / 1000 : 0;
  st.sum += seconds;
  st.buckets[bucketOf(seconds)]!++;
}

/** The index of the first bucket whose bound is at least `seconds` (the +Inf bucket when none). */
export function bucketOf(seconds: number): number {
  const b = RESPONSE_BUCKETS;
  let i = 0;
  while (i < b.length && seconds > b[i]!) i++;
  return i;
}
