import diagnostics_channel from 'node:diagnostics_channel';

/** What happened to a server, once per change. */
export type ServerState = 'up' | 'down' | 'ejected' | 'returned' | 'drained' | 'slow-start-done' | 'ready' | 'drain' | 'maint' | 'weight';

/** A server state change, published on {@link serverStateChannel}. */
export interface ServerStateEvent {
  pool: string;
  server: string;
  state: ServerState;
  /** Why, in words: "3 checks failed: connect ECONNREFUSED". */
  reason: string;
  /** ms since epoch */
  at: number;
}

/** A pool-level situation worth a log line (nothing usable, backups in use). */
export interface PoolEvent {
  pool: string;
  event: 'no-server' | 'backup-active' | 'primary-back';
  reason: string;
  at: number;
}

/**
 * An error Fulcrum answered because a server or a pool failed (502, 503, 504), with what
 * the client is not told: the server, the pool, the cause. Logged, at most once a second
 * per pool.
 */
export interface UpstreamErrorEvent {
  listener: string;
  pool: string;
  status: number;
  detail: string;
  at: number;
}

/**
 * diagnostics_channel names (as undici does): logs, metrics and the dashboard subscribe;
 * publishing with no subscriber costs a branch.
 */
export const serverStateChannel = diagnostics_channel.channel('fulcrum:server:state');
export const poolChannel = diagnostics_channel.channel('fulcrum:pool');

/** Publishes a server state change. */
export function publishServerState(e: Omit<ServerStateEvent, 'at'>): void {
  if (serverStateChannel.hasSubscribers) serverStateChannel.publish({ ...e, at: Date.now() });
}

/** Publishes a pool event. */
export function publishPoolEvent(e: Omit<PoolEvent, 'at'>): void {
  if (poolChannel.hasSubscribers) poolChannel.publish({ ...e, at: Date.now() });
}
export const upstreamErrorChannel = diagnostics_channel.channel('fulcrum:http:upstream-error');

/** One completed active health check (published by the checker, counted by the primary's metrics). */
export interface HealthCheckEvent {
  pool: string;
  server: string;
  ok: boolean;
  /** How long the probe took. */
  seconds: number;
}

export const healthCheckChannel = diagnostics_channel.channel('fulcrum:health:check');
