import type { Pool } from '../../backend/pool.js';
import type { Server } from '../../backend/server.js';
import type { ForwardedConfig, Limits, ListenerConfig, Timeouts } from '../../config/types.js';
import type { AccessLog } from '../access-log.js';
import type { RequestHead } from '../http/head.js';
import type { RequestIds } from '../http/request-id.js';
import type { ClientFacts } from '../http/rewrite.js';
import type { UpstreamPool } from '../http/upstream.js';
import type { AddedFields } from './added-fields.js';
import type { ErrorPage } from './error-pages.js';
import type { HttpRoute } from '../http/http-route.js';

/** What an exchange needs from its listener (HttpFrontend): settings, routing, server connections, logs. */
export interface ExchangeListener {
  readonly name: string;
  readonly config: ListenerConfig;
  readonly timeouts: Timeouts;
  readonly limits: Limits;
  readonly forwarded: ForwardedConfig;
  readonly noRoute: { status: number; body: string };
  /** One line per request, or null. */
  readonly accessLog: AccessLog | null;
  /** Request IDs, or null when the listener has none. */
  readonly requestIds: RequestIds | null;
  /** Answers by status class: index 0 counts 1xx, ..., index 4 counts 5xx (metrics). */
  readonly statusClasses: Float64Array;
  /** The fields this listener adds to responses. */
  readonly added: AddedFields;
  /** The route of a request from client address `ip`, or undefined when none matches. */
  /** The route of a request from `ip` (the TLS server name is asked of `tls` when a route tests it). */
  route(req: RequestHead, ip: string, tls: { serverName(): string }): HttpRoute | undefined;
  /** Whether the listener's `access` lists let a client at `ip` in. */
  admits(ip: string): boolean;
  /** The connections to one server. */
  upstreamFor(server: Server): UpstreamPool;
  /** The facts header rewriting needs about a client address. */
  clientFacts(address: string): ClientFacts;
  /** Logs why a server or pool failed a request (502, 503, 504; rate limited). */
  logUpstreamError(pool: Pool, status: number, detail: string): void;
  /** The listener's own page for an error status (`error_pages`), if any. */
  errorPage(status: number): ErrorPage | undefined;
}
