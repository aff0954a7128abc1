/** The defaults of the `logging:` section, filled in by schema.ts. */
/** Logging: level info, pretty on a terminal and JSON otherwise. */
export const DEFAULT_LOGGING = Object.freeze({ level: 'info', format: 'auto' } as const);
