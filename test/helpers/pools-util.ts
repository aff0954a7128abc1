/**
 * Helpers for the pool integration tests (test/integration/pools-*.test.ts): backends
 * that tell health checks from real traffic, count and optionally hold requests, a
 * recorder for the 'fulcrum:server:state' and 'fulcrum:pool' diagnostics channels, a
 * YAML builder for one pool behind one listener, a small HTTP client (keep-alive agent
 * and local address supported) and bounded polling.
 */
import diagnostics_channel from 'node:diagnostics_channel';
import http from 'node:http';
import type { TestContext } from 'node:test';
import type { PoolEvent, ServerStateEvent } from '../../src/core/events.js';
import { httpBackend, LOOPBACK, startProxy, WAIT_MS, type Backend, type RunningProxy } from './proxy-http.js';

export const HEALTH_UA = 'fulcrum-health';

/** A request Fulcrum's HTTP health probe sent (it identifies itself by User-Agent). */
export function isHealthCheck(req: http.IncomingMessage): boolean {
  return req.headers['user-agent'] === HEALTH_UA;
}

export interface Held {
  path: string;
  method: string;
  res: http.ServerResponse;
}

export interface PoolBackend {
  name: string;
  port: number;
  backend: Backend<http.Server>;
  /** Paths of real (non health-check) requests, in arrival order. */
  seen: string[];
  /** Health-check requests received. */
  checks: number;
  /** Health-check requests received per answered status. */
  checksByStatus: Map<number, number>;
  /** Status answered to health checks (change it at any time). */
  healthStatus: number;
  /** Status answered to real requests (change it at any time). */
  status: number;
  /** Hold real requests until release() (change it at any time). */
  hold: boolean;
  /** Real requests held, oldest first. */
  held: Held[];
  /** Real requests in progress (arrived, not answered yet) and the most at once. */
  inFlight: number;
  maxInFlight: number;
  /** Answers the `n` oldest held requests; returns how many it answered. */
  release(n?: number): number;
  /** Answers every held request, then closes the listener and every socket. */
  close(): Promise<void>;
}

/**
 * A node:http backend named `name`: health checks get `healthStatus` with body "ok";
 * real requests get `status` with body `name`, headers X-Served-By and X-Path, after
 * the request body has arrived (and, with `hold`, only once released).
 */
export async function poolBackend(name: string, opts: { hold?: boolean; status?: number; healthStatus?: number } = {}): Promise<PoolBackend> {
  const pb: PoolBackend = {
    name,
    port: 0,
    backend: undefined as unknown as Backend<http.Server>,
    seen: [],
    checks: 0,
    checksByStatus: new Map(),
    healthStatus: opts.healthStatus ?? 200,
    status: opts.status ?? 200,
    hold: opts.hold ?? false,
    held: [],
    inFlight: 0,
    maxInFlight: 0,
    release(n = 1) {
      let done = 0;
      while (done < n && pb.held.length > 0) {
        const h = pb.held.shift()!;
        answer(h.res, h.path);
        done++;
      }
      return done;
    },
    async close() {
      pb.release(pb.held.length);
      await pb.backend.close();
    },
  };
  const answer = (res: http.ServerResponse, path: string) => {
    pb.inFlight--;
    if (res.destroyed || res.writableEnded) return;
    res.writeHead(pb.status, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(name), 'X-Served-By': name, 'X-Path': path });
    res.end(name);
  };
  pb.backend = await httpBackend((req, res) => {
    if (isHealthCheck(req)) {
      req.resume();
      pb.checks++;
      const st = pb.healthStatus;
      pb.checksByStatus.set(st, (pb.checksByStatus.get(st) ?? 0) + 1);
      res.writeHead(st, { 'Content-Type': 'text/plain', 'Content-Length': 2 });
      res.end('ok');
      return;
    }
    const path = req.url ?? '';
    pb.seen.push(path);
    pb.inFlight++;
    pb.maxInFlight = Math.max(pb.maxInFlight, pb.inFlight);
    req.resume();
    req.on('end', () => {
      if (pb.hold) pb.held.push({ path, method: req.method ?? '', res });
      else answer(res, path);
    });
  });
  pb.port = pb.backend.port;
  return pb;
}

/** Starts backends named `names`, closed in t.after. */
export async function poolBackends(t: TestContext, names: string[], opts: { hold?: boolean; status?: number; healthStatus?: number } = {}): Promise<PoolBackend[]> {
  const list: PoolBackend[] = [];
  t.after(() => Promise.all(list.map((b) => b.close())));
  for (const n of names) list.push(await poolBackend(n, opts));
  return list;
}

// ---- configuration -------------------------------------------------------------------

export interface ServerSpec {
  name: string;
  port: number;
  /** Extra flow-mapping entries, e.g. "weight: 0, backup: true". */
  extra?: string;
}

/**
 * One listener on 127.0.0.1:0 routing everything to pool `pool` over `servers`; `pool`
 * lines are added under the pool (indented by the caller with 4 spaces), `listener`
 * lines under the listener, `top` lines at the top level.
 */
export function poolYaml(o: { pool: string; balance?: string; servers: ServerSpec[]; poolLines?: string[]; listenerLines?: string[]; top?: string[] }): string {
  return [
    'listeners:',
    '  - name: test',
    '    bind: 127.0.0.1:0',
    `    routes: [{ pool: ${o.pool} }]`,
    ...(o.listenerLines ?? []),
    'pools:',
    `  ${o.pool}:`,
    `    balance: ${o.balance ?? 'round-robin'}`,
    '    servers:',
    ...o.servers.map((s) => `      - { name: ${s.name}, address: "127.0.0.1:${s.port}"${s.extra ? `, ${s.extra}` : ''} }`),
    ...(o.poolLines ?? []),
    ...(o.top ?? []),
    '',
  ].join('\n');
}

/** startProxy, stopped in t.after. */
export async function proxyFor(t: TestContext, yaml: string): Promise<RunningProxy> {
  const p = await startProxy(yaml);
  t.after(() => p.stop());
  return p;
}

// ---- events ----------------------------------------------------------------------------

export interface EventLog {
  states: ServerStateEvent[];
  pools: PoolEvent[];
  /** State events of `server` (and `state`, when given). */
  of(server: string, state?: ServerStateEvent['state']): ServerStateEvent[];
  /** Pool events named `event`. */
  poolEvents(event: PoolEvent['event']): PoolEvent[];
  /** Waits (bounded) for the n-th (1-based) `state` event of `server`. */
  waitState(server: string, state: ServerStateEvent['state'], timeoutMs?: number, nth?: number): Promise<ServerStateEvent>;
  waitPool(event: PoolEvent['event'], timeoutMs?: number): Promise<PoolEvent>;
  /** Called synchronously on every state event of the pool (to snapshot counters at that moment). */
  onState: ((e: ServerStateEvent) => void) | null;
}

/** Records the events of pool `pool` from now until the end of the test. */
export function recordEvents(t: TestContext, pool: string): EventLog {
  const log: EventLog = {
    onState: null,
    states: [],
    pools: [],
    of: (server, state) => log.states.filter((e) => e.server === server && (state === undefined || e.state === state)),
    poolEvents: (event) => log.pools.filter((e) => e.event === event),
    async waitState(server, state, timeoutMs = WAIT_MS, nth = 1) {
      await waitFor(() => log.of(server, state).length >= nth, timeoutMs, `event ${state} #${nth} of ${pool}/${server}; events so far: ${JSON.stringify(log.states)}`);
      return log.of(server, state)[nth - 1]!;
    },
    async waitPool(event, timeoutMs = WAIT_MS) {
      await waitFor(() => log.poolEvents(event).length > 0, timeoutMs, `pool event ${event} of ${pool}; events so far: ${JSON.stringify(log.pools)}`);
      return log.poolEvents(event)[0]!;
    },
  };
  const onState = (m: unknown) => {
    const e = m as ServerStateEvent;
    if (e.pool !== pool) return;
    log.states.push(e);
    log.onState?.(e);
  };
  const onPool = (m: unknown) => {
    const e = m as PoolEvent;
    if (e.pool === pool) log.pools.push(e);
  };
  diagnostics_channel.subscribe('fulcrum:server:state', onState);
  diagnostics_channel.subscribe('fulcrum:pool', onPool);
  t.after(() => {
    diagnostics_channel.unsubscribe('fulcrum:server:state', onState);
    diagnostics_channel.unsubscribe('fulcrum:pool', onPool);
  });
  return log;
}

// ---- waiting -------------------------------------------------------------------------

/** Polls `cond` every 5 ms until true; throws `what` after `timeoutMs`. */
export async function waitFor(cond: () => boolean, timeoutMs: number, what: string | (() => string)): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'string' ? what : what()}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

// ---- client ----------------------------------------------------------------------------

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** X-Served-By, or '' for answers of the proxy itself. */
  by: string;
}

/** One request through node:http, bounded; `localAddress` picks the client's source IP. */
export function send(
  port: number,
  opts: { method?: string; path?: string; headers?: http.OutgoingHttpHeaders; body?: string | Buffer; agent?: http.Agent; localAddress?: string; timeoutMs?: number } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: LOOPBACK,
        port,
        method: opts.method ?? 'GET',
        path: opts.path ?? '/',
        headers: opts.headers,
        agent: opts.agent ?? false,
        localAddress: opts.localAddress,
        signal: AbortSignal.timeout(opts.timeoutMs ?? WAIT_MS),
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body, by: String(res.headers['x-served-by'] ?? '') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** A keep-alive agent destroyed in t.after. */
export function keepAliveAgent(t: TestContext, maxSockets = 4): http.Agent {
  const agent = new http.Agent({ keepAlive: true, maxSockets });
  t.after(() => agent.destroy());
  return agent;
}

/** Counts of each value. */
export function tally(values: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[v] = (out[v] ?? 0) + 1;
  return out;
}
