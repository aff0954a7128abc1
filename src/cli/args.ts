import { parseArgs, type ParseArgsConfig } from 'node:util';
import { closest } from '../config/common/suggest.js';

/**
 * node:util's parseArgs, with a "did you mean" for an unknown option (`--jsno`: did you
 * mean --json?). The error keeps parseArgs' code, so callers treat it as a usage error
 * as before.
 */
export function parseCommandArgs<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code !== 'ERR_PARSE_ARGS_UNKNOWN_OPTION') throw err;
    const given = /'(-[^']*)'/.exec(e.message)?.[1] ?? '';
    const known = Object.keys(config.options ?? {}).map((long) => `--${long}`);
    const hint = given.startsWith('--') ? closest(given, known) : undefined;
    const better = new Error(`unknown option ${given}${hint === undefined ? '' : `; did you mean ${hint}?`}`) as NodeJS.ErrnoException;
    better.code = e.code;
    throw better;
  }
}
