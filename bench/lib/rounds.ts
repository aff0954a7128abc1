import { envInt, log } from './benchmark.js';
import { throwIfShuttingDown } from './cleanup.js';

/**
 * BENCH_RESTART=1: every contestant is restarted before each round after the first, and
 * warmed up again. A Node process can settle into a slower state for its whole life
 * (V8's heap and code decisions are made once, early), so rounds on one process are not
 * independent samples; rounds on fresh processes are.
 */
export function restartEachRound(): boolean {
  return envInt('BENCH_RESTART', 0, 0, 1) === 1;
}

/**
 * The A B A B schedule every benchmark uses: one warm-up run per contestant (round 0),
 * then `rounds` rounds in which each contestant that has not failed runs once, in turn.
 * Each record is logged with `describe` as it arrives; Ctrl-C stops between runs.
 * With `restart` (a benchmark that supports BENCH_RESTART and has it set), each
 * contestant is restarted before its run in rounds 2 and later, and warmed up again
 * (round 0 again, among the warm-ups); a contestant that fails to restart is marked
 * failed and skipped from then on.
 */
export async function warmUpAndRounds<C extends { failure?: string }, R>(
  contestants: readonly C[],
  rounds: number,
  measure: (c: C, round: number) => Promise<R>,
  describe: (r: R) => string,
  restart?: (c: C) => Promise<void>,
): Promise<{ warmups: R[]; runs: R[] }> {
  const warmups: R[] = [];
  const runs: R[] = [];
  const warmUp = async (c: C) => {
    const r = await measure(c, 0);
    throwIfShuttingDown();
    warmups.push(r);
    log(describe(r));
  };
  for (const c of contestants) await warmUp(c);
  for (let round = 1; round <= rounds; round++) {
    for (const c of contestants) {
      if (c.failure) continue;
      if (restart !== undefined && round > 1) {
        try {
          await restart(c);
        } catch (err) {
          c.failure = `restart before round ${round}: ${(err as Error).message}`;
          log(c.failure);
          continue;
        }
        throwIfShuttingDown();
        await warmUp(c);
      }
      const r = await measure(c, round);
      throwIfShuttingDown();
      runs.push(r);
      log(describe(r));
    }
  }
  return { warmups, runs };
}
