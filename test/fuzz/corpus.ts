/**
 * The fuzz corpus: every input that once failed a target, kept in
 * test/fuzz/corpus/TARGET.json (bytes written as {"hex": "..."}), replayed by every
 * `npm test`. The source folder is used from the compiled tests too.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** test/fuzz/corpus in the source tree (this file runs from dist/test/fuzz). */
export const CORPUS_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'test', 'fuzz', 'corpus');

function encode(_key: string, v: unknown): unknown {
  return v instanceof Uint8Array ? { hex: Buffer.from(v).toString('hex') } : v;
}

function decode(_key: string, v: unknown): unknown {
  if (v !== null && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 1 && typeof (v as { hex?: unknown }).hex === 'string') {
    return Uint8Array.from(Buffer.from((v as { hex: string }).hex, 'hex'));
  }
  return v;
}

/** The kept inputs of `target` (none yet: empty). */
export function readCorpus(target: string): unknown[] {
  const file = join(CORPUS_DIR, `${target}.json`);
  if (!existsSync(file)) return [];
  return JSON.parse(readFileSync(file, 'utf8'), decode) as unknown[];
}

/** Keeps `input` in the corpus of `target` (once). */
export function addToCorpus(target: string, input: unknown): void {
  const all = readCorpus(target);
  const text = JSON.stringify(input, encode);
  if (all.some((x) => JSON.stringify(x, encode) === text)) return;
  all.push(input);
  mkdirSync(CORPUS_DIR, { recursive: true });
  writeFileSync(join(CORPUS_DIR, `${target}.json`), `${JSON.stringify(all, encode, 1)}\n`);
}
