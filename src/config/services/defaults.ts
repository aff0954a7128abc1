/** The defaults of a virtual service (`services[]`), filled in by schema.ts. */

/** Default of `drain_time`: time for a flapping server to come back before its TCP flows are cut. */
export const DEFAULT_DRAIN_MS = 10_000;
/** What picks the server when a service does not say: the whole flow. */
export const DEFAULT_HASH = 'flow' as const;
