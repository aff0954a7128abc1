import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { hashBody, httpBackend } from '../helpers/backends.js';
import { simpleYaml, startProxy } from '../helpers/proxies.js';

const run = promisify(execFile);

async function haveCurl(): Promise<boolean> {
  try {
    await run('curl', ['--version']);
    return true;
  } catch {
    return false;
  }
}

const skip = (await haveCurl()) ? false : 'curl is not installed (Debian package curl; .ci/run installs it)';

/** A backend that answers with the sha256 and length of what it received, and its name. */
async function hashingBackend(name: string) {
  return httpBackend((req, res) => hashBody(req, (n, sha256) => res.end(`${name} ${n} ${sha256}\n`)));
}

test('curl, a real client: keep-alive reuse, and the seed\'s 1 MB upload with Expect: 100-continue', { skip }, async (t) => {
  const s1 = await hashingBackend('S1');
  const s2 = await hashingBackend('S2');
  const proxy = await startProxy(simpleYaml([s1.port, s2.port]));
  const dir = mkdtempSync(join(tmpdir(), 'fulcrum-curl-'));
  t.after(async () => {
    rmSync(dir, { recursive: true, force: true });
    await proxy.stop();
    await s1.close();
    await s2.close();
  });
  const url = `http://127.0.0.1:${proxy.port}/`;

  // Two URLs in one curl run share a connection when the proxy keeps it alive.
  const two = await run('curl', ['-sv', url, url], { encoding: 'utf8' });
  assert.match(two.stdout, /^S1 0 [0-9a-f]{64}\nS2 0 [0-9a-f]{64}\n$/);
  assert.match(two.stderr, /Re-using existing connection|Reusing existing connection/);

  // 1 MB upload: curl sends Expect: 100-continue for a body this large and waits for 100.
  const file = join(dir, 'upload.bin');
  const data = randomBytes(1 << 20);
  writeFileSync(file, data);
  const want = createHash('sha256').update(data).digest('hex');
  const up = await run('curl', ['-sv', '--fail', '-H', 'Expect: 100-continue', '--data-binary', `@${file}`, url], { encoding: 'utf8' });
  assert.match(up.stdout, new RegExp(`^S[12] ${1 << 20} ${want}\\n$`));
  assert.match(up.stderr, /HTTP\/1\.1 100 Continue/);
});
