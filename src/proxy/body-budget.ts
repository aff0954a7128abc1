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
    /** timeouts.client: the body may not go silent for longer either. */
    private readonly clientMs: number,
  ) {}

  static of(timeouts: Timeouts, limits: Limits): BodyBudget {
    return new BodyBudget(timeouts.bodyMs, limits.bodyMinRate, timeouts.clientMs);
  }

  /** The request head has arrived and a body is to come: returns the client-side deadline. */
  begin(now: number): number {
    this.start = now;
    this.received = 0;
    this.pausedAt = 0;
    return this.deadline(now);
  }

  /** `n` body bytes arrived: returns the client-side deadline. */
  add(n: number, now: number): number {
    this.received += n;
    return this.deadline(now);
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
  private deadline(now: number): number {
    return Math.min(now + this.clientMs, this.end);
  }

  /** Why a body (of `budget`, if it has one) that ran out of time was cut, for the 408's log line. */
  static reason(budget: BodyBudget | null, now: number): string {
    if (budget === null || budget.bodyMs === 0 || now < budget.end) return 'the request body did not arrive in time';
    const { minRate, bodyMs } = budget;
    return minRate > 0 ? `the request body came slower than ${minRate} bytes/s after the first ${bodyMs / 1000} s` : `the request body took longer than ${bodyMs / 1000} s`;
  }
}
