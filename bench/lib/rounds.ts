import { log } from './benchmark.js';
import { throwIfShuttingDown } from './cleanup.js';

/**
 * The A B A B schedule every benchmark uses: one warm-up run per contestant (round 0),
 * then `rounds` rounds in which each contestant that has not failed runs once, in turn.
 * Each record is logged with `describe` as it arrives; Ctrl-C stops between runs.
 */
export async function warmUpAndRounds<C extends { failure?: string }, R>(
  contestants: readonly C[],
  rounds: number,
  measure: (c: C, round: number) => Promise<R>,
  describe: (r: R) => string,
): Promise<{ warmups: R[]; runs: R[] }> {
  const warmups: R[] = [];
  const runs: R[] = [];
  for (const c of contestants) {
    const r = await measure(c, 0);
    throwIfShuttingDown();
    warmups.push(r);
    log(describe(r));
  }
  for (let round = 1; round <= rounds; round++) {
    for (const c of contestants) {
      if (c.failure) continue;
      const r = await measure(c, round);
      throwIfShuttingDown();
      runs.push(r);
      log(describe(r));
    }
  }
  return { warmups, runs };
}
