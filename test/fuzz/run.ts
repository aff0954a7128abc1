/**
 * `npm run fuzz [-- --minutes N] [TARGET...]`: runs each fuzz target (targets.ts) for N
 * minutes (default 10), one after the other, printing how many inputs each checked.
 * Each failure is shrunk by fast-check, kept in test/fuzz/corpus/TARGET.json, and the
 * run goes on with a new seed until the time is up (or 5 findings). Exits 1 when
 * anything was found.
 */
import fc from 'fast-check';
import { addToCorpus } from './corpus.js';
import { TARGETS } from './targets.js';

const args = process.argv.slice(2);
const at = args.indexOf('--minutes');
const minutes = at >= 0 ? Number(args[at + 1]) : 10;
const names = args.filter((a, i) => !a.startsWith('--') && (at < 0 || i !== at + 1));
const chosen = names.length === 0 ? TARGETS : TARGETS.filter((t) => names.includes(t.name));
if (!(minutes > 0) || chosen.length === 0) {
  console.error(`usage: npm run fuzz -- [--minutes N] [${TARGETS.map((t) => t.name).join(' | ')} ...]`);
  process.exit(2);
}

let found = 0;
for (const target of chosen) {
  const end = Date.now() + minutes * 60_000;
  let runs = 0;
  let findings = 0;
  // a few findings per target are plenty: the same bug would be found again and again
  while (Date.now() < end && findings < 5) {
    const seed = (Math.random() * 2 ** 31) | 0;
    const details = fc.check(
      fc.property(target.arbitrary, (input) => target.check(input)),
      { numRuns: Number.MAX_SAFE_INTEGER, interruptAfterTimeLimit: end - Date.now(), seed },
    );
    runs += details.numRuns;
    if (!details.failed) break;
    findings++;
    const input = details.counterexample![0];
    addToCorpus(target.name, input);
    console.log(`${target.name}: FOUND (seed ${seed}): ${details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance)}`);
  }
  found += findings;
  console.log(`${target.name}: ${runs.toLocaleString('en')} inputs in ${minutes} min, ${findings} finding(s)${findings > 0 ? ' (kept in test/fuzz/corpus)' : ''}`);
}
process.exit(found > 0 ? 1 : 0);
