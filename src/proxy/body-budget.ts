import type { Limits, Timeouts } from '../config/types.js';

/**
 * The time one request body may take, for HTTP/1.1 and HTTP/2 alike: `timeouts.body`
 * from the end of the request head, plus one second for every `limits.body_min_rate`
 * bytes received (the MinRate rule of Apache's mod_reqtimeout). A client that keeps up
 * the rate on average is never cut; one sending a byte a second is, once the fixed part
 * is spent, where the client timeout alone (restarted by every byte) never would. Time
 * the proxy itself holds the client back (a slow server, a full buffer) is not counted.
 */
export class BodyBudget {
  private start = 0;
  private received = 0;
  private pausedAt = 0;

  constructor(
    private readonly bodyMs: number,
    private readonly minRate: number,
  ) {}

  static of(timeouts: Timeouts, limits: Limits): BodyBudget {
    return new BodyBudget(timeouts.bodyMs, limits.bodyMinRate);
  }

  /** The request head has arrived and a body is to come. */
  begin(now: number): void {
    this.start = now;
    this.received = 0;
    this.pausedAt = 0;
  }

  /** `n` body bytes arrived. */
  add(n: number): void {
    this.received += n;
  }

  /** The proxy stopped reading the client (its time does not count). */
  pause(now: number): void {
    if (this.pausedAt === 0) this.pausedAt = now;
  }

  /** The proxy reads the client again. */
  resume(now: number): void {
    if (this.pausedAt === 0) return;
    this.start += now - this.pausedAt;
    this.pausedAt = 0;
  }

  /** When the body is out of time (Infinity without `timeouts.body`). */
  get end(): number {
    if (this.bodyMs === 0) return Infinity;
    return this.start + this.bodyMs + (this.minRate > 0 ? (this.received * 1000) / this.minRate : 0);
  }

  /** The client-side deadline while the body arrives: the client timeout from now, or the budget's end if sooner. */
  deadline(now: number, clientMs: number): number {
    return Math.min(now + clientMs, this.end);
  }

  /** Why a body that ran out of time was cut, for the 408's log line. */
  reason(now: number): string {
    if (this.bodyMs === 0 || now < this.end) return 'the request body did not arrive in time';
    return this.minRate > 0 ? `the request body came slower than ${this.minRate} bytes/s after the first ${this.bodyMs / 1000} s` : `the request body took longer than ${this.bodyMs / 1000} s`;
  }
}
