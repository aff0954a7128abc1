/**
 * The process log, with pino: JSON lines on stderr, or human-readable lines when stderr
 * is a terminal (or `logging.format: pretty`). stdout is left to access logs. A JSON
 * line says its level by name and its time in ISO 8601, UTC:
 * `{"level":"info","time":"2026-12-07T06:28:35.509Z","pid":7,"msg":"..."}`.
 *
 * pino is loaded when the first line is logged, not before: a worker that has nothing
 * to say never pays the ~9 MB of RSS its modules cost (10,000 idle connections must fit
 * in 100 MB). Until `setupLogging` runs, the settings are level info, format auto.
 *
 * Loading a module opens files, so a process out of descriptors cannot load pino: its
 * lines then go out as pino would write them (one JSON object per line, on fd 2) by a
 * small fallback, and pino is tried again on the next line.
 */
import { writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import type pino from 'pino';
import type { LoggingConfig } from '../config/types.js';

export type Logger = pino.Logger;

const require = createRequire(import.meta.url);

let current: Logger | null = null;
let settings: { cfg: LoggingConfig; bindings: Record<string, unknown> } = { cfg: { level: 'info', format: 'auto' }, bindings: {} };

/** The process logger (made, and pino loaded, on first use). */
export function log(): Logger {
  if (current !== null) return current;
  try {
    current = makeLogger(settings.cfg, settings.bindings);
    return current;
  } catch {
    return fallbackLogger();
  }
}

const LEVELS: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 };
const LEVEL_NAMES: Record<number, string> = { 10: 'trace', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'fatal' };

/** pino's JSON lines without pino: for when it cannot be loaded (EMFILE). */
function fallbackLogger(): Logger {
  const threshold = LEVELS[settings.cfg.level] ?? Number.POSITIVE_INFINITY;
  const at = (level: number) => (first: unknown, message?: string) => {
    if (level < threshold) return;
    const line: Record<string, unknown> = { level: LEVEL_NAMES[level], time: new Date().toISOString(), pid: process.pid, ...settings.bindings };
    if (typeof first === 'object' && first !== null) {
      for (const [k, v] of Object.entries(first)) line[k] = v instanceof Error ? { type: v.name, message: v.message, stack: v.stack } : v;
    }
    line.msg = typeof first === 'string' ? first : (message ?? '');
    try {
      writeSync(2, `${JSON.stringify(line)}\n`);
    } catch {
      // stderr is gone: nothing to log to
    }
  };
  return { trace: at(10), debug: at(20), info: at(30), warn: at(40), error: at(50), fatal: at(60) } as unknown as Logger;
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
  if (!pretty) {
    options.timestamp = pinoFn.stdTimeFunctions.isoTime;
    options.formatters = { level: (label) => ({ level: label }) };
    return pinoFn(options, pinoFn.destination({ dest: 2, sync: true }));
  }
  // loaded only for people at a terminal
  const prettyStream = require('pino-pretty') as typeof import('pino-pretty');
  const tty = process.stderr.isTTY === true;
  return pinoFn(options, prettyStream({ destination: 2, sync: true, colorize: tty, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' }));
}
