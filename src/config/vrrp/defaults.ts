/** Defaults of a VRRP instance (keepalived's where it has one), filled in by schema.ts. */
export const DEFAULT_VRRP = Object.freeze({
  priority: 100,
  advertIntervalMs: 1000,
  preempt: true,
  preemptDelayMs: 0,
  trackIntervalMs: 1000,
  garp: Object.freeze({ count: 5, intervalMs: 10, repeatAfterMs: 5000, refreshMs: 0 }),
});
