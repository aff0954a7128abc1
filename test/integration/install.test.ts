/**
 * Installing as a user would: `npm pack` this checkout, `npm install -g` the tarball into
 * a scratch prefix (dependencies from npm's cache when it has them), and run the
 * installed `fulcrum` from another directory: --version (which native parts were built),
 * check and a short run. Needs npm and, for dependencies not in the cache, the npm
 * registry.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { tempDir } from '../helpers/files.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const NPM = spawnSync('npm', ['--version'], { stdio: 'ignore' }).error === undefined ? false : 'npm is not installed';

test('npm pack, then npm install -g into a scratch prefix: fulcrum works from any directory', { skip: NPM, timeout: 300_000 }, (t) => {
  const dir = tempDir('fulcrum-install-', t).dir;
  const pack = spawnSync('npm', ['pack', ROOT, '--pack-destination', dir], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
  assert.equal(pack.status, 0, pack.stderr);
  const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz'))!;
  const prefix = join(dir, 'prefix');
  const install = spawnSync('npm', ['install', '-g', '--prefix', prefix, '--prefer-offline', '--no-audit', '--no-fund', join(dir, tarball)], { cwd: dir, encoding: 'utf8', timeout: 240_000 });
  assert.equal(install.status, 0, `${install.stdout}\n${install.stderr}`);
  const bin = join(prefix, 'bin', 'fulcrum');
  const elsewhere = mkdtempSync(join(tmpdir(), 'fulcrum-cwd-'));
  t.after(() => rmSync(elsewhere, { recursive: true, force: true }));
  const version = spawnSync(bin, ['--version'], { cwd: elsewhere, encoding: 'utf8' });
  assert.equal(version.status, 0, version.stderr);
  // built here (npm ci builds the same addon), so the installed copy must have built it too
  assert.match(version.stdout, /native streams, TLS and TCP relay: on; raw sockets for VRRP: on/);
  const file = join(elsewhere, 'lb.yaml');
  writeFileSync(file, ['listeners: [{ name: www, bind: "127.0.0.1:0", routes: [{ pool: web }] }]', 'pools: { web: { servers: [{ address: "127.0.0.1:9" }] } }', ''].join('\n'));
  const check = spawnSync(bin, ['check', file], { cwd: elsewhere, encoding: 'utf8' });
  assert.equal(check.status, 0, check.stderr);
  assert.match(check.stdout, /configuration OK/);
  // the packed files: what runs, and nothing of the tests or benchmarks
  const list = spawnSync('tar', ['tzf', join(dir, tarball)], { encoding: 'utf8' }).stdout.split('\n');
  assert.ok(list.includes('package/dist/src/cli/main.js'));
  assert.ok(list.includes('package/contrib/systemd/fulcrum.service'));
  // the man page, generated at pack time, is linked where man finds it
  assert.ok(list.includes('package/man/fulcrum.1'));
  const man = spawnSync('man', ['-w', 'fulcrum'], { encoding: 'utf8', env: { ...process.env, MANPATH: join(prefix, 'share', 'man') } });
  if (man.error === undefined) assert.match(man.stdout, /fulcrum\.1/);
  assert.ok(!list.some((f) => f.startsWith('package/dist/test/') || f.startsWith('package/bench/')), 'no tests or benchmarks in the package');
});
