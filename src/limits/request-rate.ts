/**
 * A route's `rate_limit`: requests per key (client address, a header's value, or the
 * whole route) as a GCRA over the balancer's shared table, so every worker counts
 * against the same bucket. The exchange asks once per request and answers 429 with
 * Retry-After when the bucket is empty.
 */
import type { RateKey } from '../config/listeners/route.js';
import type { RequestHead } from '../proxy/http/head.js';
import { headerValue } from '../proxy/http/request-keys.js';
import { limitId, limitTable, type LimitTable } from './table.js';

export interface RateLimitConfig {
  perSecond: number;
  burst: number;
  key: RateKey;
}

export class RequestRateLimit {
  private readonly id: number;
  private readonly intervalNs: number;
  private readonly toleranceNs: number;
  private readonly table: LimitTable;
  /** Requests refused (429) so far. */
  limited = 0;

  /** `name` says which limit this is ("listener www route api"): the same name keeps its buckets across reloads. */
  constructor(
    private readonly cfg: RateLimitConfig,
    name: string,
  ) {
    this.id = limitId(`rate ${name} ${cfg.key.kind} ${cfg.key.kind === 'header' ? cfg.key.name : ''}`);
    this.intervalNs = Math.round(1e9 / cfg.perSecond);
    this.toleranceNs = this.intervalNs * (cfg.burst - 1);
    this.table = limitTable();
  }

  /** 0 when the request may pass (it is counted), else the seconds until one would (for Retry-After, at least 1). */
  retryAfter(req: RequestHead, clientIp: string): number {
    const k = this.cfg.key;
    const key = k.kind === 'header' ? (headerValue(req, k.name) ?? '') : k.kind === 'client' ? clientIp : '';
    const waitMs = this.table.take(this.id, key, this.intervalNs, this.toleranceNs);
    if (waitMs <= 0) return 0;
    this.limited++;
    return Math.max(1, Math.ceil(waitMs / 1000));
  }
}
