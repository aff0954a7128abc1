/**
 * A short run of every fuzz target (targets.ts) on each `npm test`, with a seed that
 * changes from run to run (printed on failure, so the case can be replayed), and every
 * input of the corpus replayed first. `npm run fuzz` runs the same targets for minutes.
 */
import fc from 'fast-check';
import { describe, it } from 'node:test';
import { readCorpus } from './corpus.js';
import { TARGETS } from './targets.js';

/** Inputs per target per test run: enough to catch a regression in seconds. */
const RUNS = Number(process.env.FULCRUM_FUZZ_RUNS ?? 400);

describe('fuzz targets (short run; npm run fuzz runs them long)', () => {
  for (const target of TARGETS) {
    it(`${target.name}: the corpus replays clean`, () => {
      for (const input of readCorpus(target.name)) target.check(input);
    });
    it(`${target.name}: ${RUNS} generated inputs`, () => {
      fc.assert(
        fc.property(target.arbitrary, (input) => target.check(input)),
        { numRuns: RUNS },
      );
    });
  }
});
