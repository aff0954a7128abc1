/**
 * The data plane's per-server counters (render.ts: one named counter per server of each
 * service). Every apply rebuilds Fulcrum's tables, and their counters start again at
 * zero: the counts read just before a successful apply are carried here, so the totals
 * only grow, across applies, reloads (the next data plane's first apply carries the
 * tables it replaces) and stops.
 */
import type { DesiredState } from './state.js';
import { counterName } from './render.js';

/** A named counter as nft lists it. */
export interface LiveCounter {
  name: string;
  packets: number;
  bytes: number;
}

/** Packets and bytes the data plane sent a server for a service, since the primary started. */
export interface ServerCounter {
  service: string;
  server: string;
  packets: number;
  bytes: number;
}

export class CounterTotals {
  /** By counter name. */
  private readonly totals = new Map<string, ServerCounter>();
  /** Counter names of every state applied, to their service and server. */
  private readonly names = new Map<string, { service: string; server: string }>();

  /** A state was applied: its counters' names are known from now on. */
  register(state: DesiredState): void {
    for (const s of state.services) for (const b of s.backends) this.names.set(counterName(s.name, b.name), { service: s.name, server: b.name });
  }

  /** Counts read from tables that have just been replaced or removed. */
  carry(live: readonly LiveCounter[]): void {
    this.add(this.totals, live);
  }

  /** The totals with the live tables' counts added. */
  with(live: readonly LiveCounter[]): ServerCounter[] {
    const out = new Map([...this.totals].map(([name, t]) => [name, { ...t }]));
    this.add(out, live);
    return [...out.values()];
  }

  private add(into: Map<string, ServerCounter>, live: readonly LiveCounter[]): void {
    for (const c of live) {
      const who = this.names.get(c.name);
      if (who === undefined) continue;
      const t = into.get(c.name);
      if (t === undefined) into.set(c.name, { ...who, packets: c.packets, bytes: c.bytes });
      else {
        t.packets += c.packets;
        t.bytes += c.bytes;
      }
    }
  }
}
