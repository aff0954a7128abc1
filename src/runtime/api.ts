/**
 * The runtime API: what an operator can read and change while Fulcrum runs. One
 * interface, implemented once by the primary (`Primary`), used by the admin listener
 * (JSON over HTTP, `src/admin/`), the control socket (`fulcrum server ...`) and the
 * dashboard, so every entry point means the same thing.
 */

/**
 * An operator's state for a server:
 * - `ready`: takes traffic when healthy (the default);
 * - `drain`: no new requests or connections; in-flight ones finish;
 * - `maint`: out of service; active checks continue, so its health stays known.
 */
export type AdminState = 'ready' | 'drain' | 'maint';

export const ADMIN_STATES: readonly AdminState[] = ['ready', 'drain', 'maint'];

/** The outcome of one API call. `status` is the HTTP status the admin listener answers with. */
export interface ApiResult<T = unknown> {
  ok: boolean;
  /** 200 done; 400 bad input; 404 no such pool or server; 409 conflicts with the configuration (a name taken). */
  status: number;
  /** What happened, for people (one line). */
  message: string;
  data?: T;
}

/** A server to add at runtime. */
export interface ServerSpec {
  name: string;
  host: string;
  port: number;
  /** Default 1. */
  weight?: number;
}

/**
 * What the runtime changed, relative to the configuration file. Kept by the primary
 * across reloads until changed back.
 */
export interface ServerOverride {
  pool: string;
  server: string;
  /** Present when the operator set a state other than the configured one. */
  state?: AdminState;
  /** Present when the operator set a weight other than the configured one. */
  weight?: number;
  /** Added at runtime (not in the file): its address. */
  added?: { host: string; port: number };
  /** Removed at runtime (still in the file). */
  removed?: true;
}

/** One operation of `fulcrum server ...` and of the admin listener's API. */
export type ServerOperation =
  | { op: 'state'; pool: string; server: string; state: AdminState }
  | { op: 'weight'; pool: string; server: string; weight: number }
  | { op: 'add'; pool: string; spec: ServerSpec }
  | { op: 'remove'; pool: string; server: string }
  | { op: 'check'; pool: string; server: string };

export interface RuntimeApi {
  /** Everything `fulcrum status` shows (pools, servers with state, reason, checks, overrides). */
  status(): import('./primary.js').StatusReport;
  /** Carries out one operation; never throws (a failure is `ok: false` with its status). */
  operate(op: ServerOperation): Promise<ApiResult>;
  /** The metrics exposition, summed over every worker: Prometheus text, or OpenMetrics when asked. */
  metrics(openMetrics: boolean): Promise<{ contentType: string; body: string }>;
}
