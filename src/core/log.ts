/**
 * The process log, with pino: JSON lines on stderr, or human-readable lines when stderr
 * is a terminal (or `logging.format: pretty`). stdout is left to access logs. Until
 * `setupLogging` runs (after the configuration is read) a plain JSON logger at level
 * info is in place, so modules can log from the start.
 */
import { createRequire } from 'node:module';
import pino from 'pino';
import type { LoggingConfig } from '../config/types.js';

export type Logger = pino.Logger;

let current: Logger | null = null;

/** The process logger. */
export function log(): Logger {
  return (current ??= makeLogger({ level: 'info', format: 'auto' }, {}));
}

/**
 * Replaces the process logger by one following `cfg`, with `bindings` on every line
 * (`{worker: 1}` in workers). Pretty output loads pino-pretty on demand.
 */
export function setupLogging(cfg: LoggingConfig, bindings: Record<string, unknown> = {}): Logger {
  current = makeLogger(cfg, bindings);
  return current;
}

function makeLogger(cfg: LoggingConfig, bindings: Record<string, unknown>): Logger {
  const pretty = cfg.format === 'pretty' || (cfg.format === 'auto' && process.stderr.isTTY === true);
  const options: pino.LoggerOptions = { level: cfg.level, base: { pid: process.pid, ...bindings } };
  if (!pretty) return pino(options, pino.destination({ dest: 2, sync: true }));
  // loaded only for people at a terminal
  const prettyStream = createRequire(import.meta.url)('pino-pretty') as typeof import('pino-pretty');
  const tty = process.stderr.isTTY === true;
  return pino(options, prettyStream({ destination: 2, sync: true, colorize: tty, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' }));
}
