/**
 * Where things are. This file compiles to dist/bench/lib/paths.js, so the repository
 * root is three levels up from it; results go to the source tree (bench/results/),
 * not to dist/.
 */
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/** The repository root (the folder holding package.json). */
export const repoRoot = resolve(here, '..', '..', '..');

/** bench/results/ in the source tree: JSON results are written here. */
export const resultsDir = resolve(repoRoot, 'bench', 'results');

/** The compiled Fulcrum CLI. */
export const fulcrumCli = resolve(repoRoot, 'dist', 'src', 'cli', 'main.js');

/** A compiled Node peer under dist/bench/peers/. */
export function peerScript(name: string): string {
  return resolve(repoRoot, 'dist', 'bench', 'peers', `${name}.js`);
}
