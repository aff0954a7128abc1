import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { NODE_FLAGS } from '../../src/cli/node-flags.js';

const root = new URL('../../../', import.meta.url);

test('the bin shebang and npm start run node with NODE_FLAGS', () => {
  const shebang = readFileSync(new URL('src/cli/main.ts', root), 'utf8').split('\n')[0]!;
  assert.equal(shebang, `#!/usr/bin/env -S node ${NODE_FLAGS.join(' ')}`);
  const pkg = JSON.parse(readFileSync(new URL('package.json', root), 'utf8')) as { scripts: Record<string, string> };
  assert.equal(pkg.scripts.start, `node ${NODE_FLAGS.join(' ')} dist/src/cli/main.js demo`);
});
