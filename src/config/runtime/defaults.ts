/** The defaults of the `runtime:` section, filled in by schema.ts. */
/**
 * Runtime: one worker per core; after a reload, old workers may keep long-lived
 * connections for 5 minutes; a stop lets in-flight requests run 10 seconds; the control
 * socket at its default path (see runtime/control-path.ts).
 */
export const DEFAULT_RUNTIME = Object.freeze({
  workers: 'auto' as number | 'auto',
  drainMs: 300_000,
  shutdownMs: 10_000,
  controlSocket: null,
  user: null,
});
