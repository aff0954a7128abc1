import os from 'node:os';
import { FulcrumError } from '../core/errors.js';

/** `--workers N|auto` for run and proxy (undefined when absent: the configuration decides). */
export function parseWorkersFlag(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (v === 'auto') return os.availableParallelism();
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 256) throw new FulcrumError('FULCRUM_ERR_USAGE', `--workers ${v}: expected a count from 1 to 256, or auto`);
  return n;
}
