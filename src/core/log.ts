/**
 * The process log, with pino: JSON lines on stderr, or human-readable lines when stderr
 * is a terminal (or `logging.format: pretty`). stdout is left to access logs.
 *
 * pino is loaded when the first line is logged, not before: a worker that has nothing
 * to say never pays the ~9 MB of RSS its modules cost (10,000 idle connections must fit
 * in 100 MB). Until `setupLogging` runs, the settings are level info, format auto.
 */
import { createRequire } from 'node:module';
import type pino from 'pino';
import type { LoggingConfig } from '../config/types.js';

export type Logger = pino.Logger;

const require = createRequire(import.meta.url);

let current: Logger | null = null;
let settings: { cfg: LoggingConfig; bindings: Record<string, unknown> } = { cfg: { level: 'info', format: 'auto' }, bindings: {} };

/** The process logger (made, and pino loaded, on first use). */
export function log(): Logger {
  return (current ??= makeLogger(settings.cfg, settings.bindings));
}

/**
 * Sets how the process logs from now on: `cfg`, with `bindings` on every line
 * (`{worker: 1}` in workers). A logger already made is replaced.
 */
export function setupLogging(cfg: LoggingConfig, bindings: Record<string, unknown> = {}): void {
  settings = { cfg, bindings };
  if (current !== null) current = makeLogger(cfg, bindings);
}

function makeLogger(cfg: LoggingConfig, bindings: Record<string, unknown>): Logger {
  const pinoFn = require('pino') as typeof pino;
  const pretty = cfg.format === 'pretty' || (cfg.format === 'auto' && process.stderr.isTTY === true);
  const options: pino.LoggerOptions = { level: cfg.level, base: { pid: process.pid, ...bindings } };
  if (!pretty) return pinoFn(options, pinoFn.destination({ dest: 2, sync: true }));
  // loaded only for people at a terminal
  const prettyStream = require('pino-pretty') as typeof import('pino-pretty');
  const tty = process.stderr.isTTY === true;
  return pinoFn(options, prettyStream({ destination: 2, sync: true, colorize: tty, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' }));
}
