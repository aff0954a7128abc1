/** The zod schema of the `logging:` section. */
import { z } from 'zod';
import { DEFAULT_LOGGING } from './defaults.js';
import type { LogLevel } from '../types.js';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const satisfies readonly LogLevel[];

/** The `logging:` section; its output is LoggingConfig (types.ts). */
export const logging = z.strictObject({
  level: z.enum(LOG_LEVELS).default(DEFAULT_LOGGING.level).describe('the least severe messages logged'),
  format: z.enum(['auto', 'json', 'pretty']).default(DEFAULT_LOGGING.format).describe('`auto`: readable on a terminal, else JSON'),
}).describe('the process log, on stderr');
