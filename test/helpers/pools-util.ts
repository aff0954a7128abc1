/**
 * Helpers for the pool integration tests (test/integration/pools-*.test.ts): a recorder
 * for the 'fulcrum:server:state' and 'fulcrum:pool' diagnostics channels, and a tally.
 * Their backends are poolBackend(s) in backends.ts.
 */
import diagnostics_channel from 'node:diagnostics_channel';
import type { TestContext } from 'node:test';
import type { PoolEvent, ServerStateEvent, UpstreamErrorEvent } from '../../src/core/events.js';
import { WAIT_MS, waitFor } from './wait.js';

// ---- events ----------------------------------------------------------------------------

/** The events recorded by recordEvents, and waits on them. */
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

/** Counts of each value. */
export function tally(values: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[v] = (out[v] ?? 0) + 1;
  return out;
}

/** What the 'fulcrum:http:upstream-error' channel carries: the causes of 502, 503 and 504 that clients are not told. */
export interface UpstreamErrors {
  events: UpstreamErrorEvent[];
  /** The detail of the latest event (status `status` when given); fails when there is none. */
  last(status?: number): string;
}

/** Records upstream errors from now until the end of the test (or `t` undefined: until stop()). */
export function recordUpstreamErrors(t?: TestContext): UpstreamErrors & { stop(): void } {
  const events: UpstreamErrorEvent[] = [];
  const onEvent = (m: unknown) => events.push(m as UpstreamErrorEvent);
  diagnostics_channel.subscribe('fulcrum:http:upstream-error', onEvent);
  const stop = () => diagnostics_channel.unsubscribe('fulcrum:http:upstream-error', onEvent);
  t?.after(stop);
  return {
    events,
    stop,
    last(status) {
      const e = events.filter((x) => status === undefined || x.status === status).at(-1);
      if (e === undefined) throw new Error(`no upstream error${status === undefined ? '' : ` ${status}`} recorded (${JSON.stringify(events)})`);
      return e.detail;
    },
  };
}
