/** `npm run docs:reference`: writes the configuration reference files (see index.ts). */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { REFERENCE_FILES, renderReference } from './index.js';

// dist/src/config/reference/main.js -> the package root
const root = join(dirname(fileURLToPath(import.meta.url)), '../../../..');
const text = renderReference();
for (const [kind, file] of Object.entries(REFERENCE_FILES) as Array<[keyof typeof REFERENCE_FILES, string]>) {
  const path = join(root, file);
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text[kind]);
  console.log(`wrote ${file}`);
}
