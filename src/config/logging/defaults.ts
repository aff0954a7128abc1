/** The defaults of the `logging:` section, filled in by schema.ts. */
import type { LoggingConfig } from '../types.js';

/** Logging: level info, pretty on a terminal and JSON otherwise. */
export const DEFAULT_LOGGING: Readonly<LoggingConfig> = Object.freeze({ level: 'info', format: 'auto' });
