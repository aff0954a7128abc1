/**
 * A listener's per-client connection limits (`max_connections_per_client`,
 * `new_connections_per_client`), counted across every worker in the shared table: the
 * one admission check of HTTP and TCP listeners alike. A refused connection is closed at
 * accept, before a byte is read, as HAProxy's `tcp-request connection reject` does.
 */
import type { ListenerConfig } from '../config/types.js';
import { limitId, limitTable, type LimitTable } from './table.js';

/** What a listener's `limited` counts, in order (the metric's `limit` label). */
export const LIMIT_KINDS = ['connections', 'new_connections', 'requests'] as const;

export class ClientConnectionLimits {
  private readonly table: LimitTable;
  private readonly concurrentId: number;
  private readonly rateId: number;
  private readonly max: number;
  private readonly intervalNs: number;
  private readonly toleranceNs: number;
  /** Connections refused: at most, too fast. */
  refusedMax = 0;
  refusedRate = 0;

  private constructor(cfg: ListenerConfig) {
    this.table = limitTable();
    this.concurrentId = limitId(`connections ${cfg.name}`);
    this.rateId = limitId(`new connections ${cfg.name}`);
    this.max = cfg.maxConnectionsPerClient ?? 0;
    const perSecond = cfg.newConnectionsPerClient ?? 0;
    this.intervalNs = perSecond > 0 ? Math.round(1e9 / perSecond) : 0;
    this.toleranceNs = this.intervalNs * (Math.max(1, Math.ceil(perSecond)) - 1);
  }

  /** The listener's limits, or null when it has none. */
  static of(cfg: ListenerConfig): ClientConnectionLimits | null {
    return cfg.maxConnectionsPerClient === null && cfg.newConnectionsPerClient === null ? null : new ClientConnectionLimits(cfg);
  }

  /** Whether a new connection from `address` may open; if so it is counted until release(). */
  admit(address: string): boolean {
    const ip = unmapped(address);
    if (this.intervalNs > 0 && this.table.take(this.rateId, ip, this.intervalNs, this.toleranceNs) > 0) {
      this.refusedRate++;
      return false;
    }
    if (this.max > 0 && !this.table.acquire(this.concurrentId, ip, this.max)) {
      this.refusedMax++;
      return false;
    }
    return true;
  }

  /** A connection admit() let in has closed. */
  release(address: string): void {
    if (this.max > 0) this.table.release(this.concurrentId, unmapped(address));
  }
}

function unmapped(ip: string): string {
  return ip.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}
