/**
 * An access log that cannot be opened or written (a directory, a directory removed) costs log
 * lines, never the process or a request.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { namedBackend } from '../helpers/backends.js';
import { watchUncaught } from '../helpers/corpus-harness.js';
import { tempDir } from '../helpers/files.js';
import { request } from '../helpers/http-client.js';
import { proxyFor, simpleYaml } from '../helpers/proxies.js';
import { sleep } from '../helpers/wait.js';

test('access log: a path that cannot be opened (a directory) loses lines, not the process', async (t) => {
  const uncaught = watchUncaught();
  t.after(() => uncaught.stop());
  const dir = tempDir('fulcrum-gone-', t);
  const b = await namedBackend('S1');
  t.after(() => b.close());
  // the file is opened asynchronously and fails (EISDIR): as when its directory goes away
  const p = await proxyFor(t, simpleYaml([b.port], { listener: `    access_log: { path: "${dir.dir}", format: json }` }));
  for (let i = 0; i < 5; i++) assert.equal((await request(p.port, { path: `/${i}` })).status, 200);
  await sleep(1200); // the periodic flush writes to the broken destination too
  assert.equal((await request(p.port)).status, 200);
  assert.deepEqual(uncaught.take(), []);
});
