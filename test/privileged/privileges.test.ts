/**
 * runtime.user/group (root only): started as root with a listener on a port below 1024,
 * the primary and its workers become nobody:nogroup once everything listens, the primary
 * keeping only CAP_NET_BIND_SERVICE (ambient, for what it starts later) and the workers
 * nothing, as /proc shows. A worker killed afterwards is replaced and serves, a reload
 * binds the port again, and the instance stops cleanly.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { nativeRelayMissing } from '../../src/io/native-relay.js';
import { httpBackend } from '../helpers/backends.js';
import { CLI_PATH, spawnCli } from '../helpers/spawn.js';
import { sleep } from '../helpers/wait.js';

const skip =
  process.getuid?.() !== 0 ? 'needs root (it changes user and capabilities)' : nativeRelayMissing() !== '' ? `needs the native addon: ${nativeRelayMissing()}` : false;

/** Uid, Gid and capability sets of a process, from /proc. */
function creds(pid: number): { uid: string; gid: string; eff: bigint; amb: bigint; prm: bigint } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const f = (k: string) => new RegExp(`^${k}:\\s+(.*)$`, 'm').exec(s)![1]!;
  return { uid: f('Uid'), gid: f('Gid'), eff: BigInt(`0x${f('CapEff')}`), amb: BigInt(`0x${f('CapAmb')}`), prm: BigInt(`0x${f('CapPrm')}`) };
}

/** A free port below 1024 on 127.0.0.1. */
async function lowPort(): Promise<number> {
  for (let p = 900; p < 1000; p++) {
    const free = await new Promise<boolean>((resolve) => {
      const s = net.createServer();
      s.once('error', () => resolve(false));
      s.listen(p, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (free) return p;
  }
  throw new Error('no free port between 900 and 999');
}

/** Whether a user other than the owner can read `file` (every directory above it searchable). */
function readableByOthers(file: string): boolean {
  if ((statSync(file).mode & 0o004) === 0) return false;
  for (let d = dirname(file); ; d = dirname(d)) {
    if ((statSync(d).mode & 0o001) === 0) return false;
    if (d === dirname(d)) return true;
  }
}


test('runtime.user: primary and workers run as nobody, the primary keeping CAP_NET_BIND_SERVICE only', { skip, timeout: 60_000 }, async (t) => {
  const backend = await httpBackend((req, res) => {
    req.resume();
    res.end('ok');
  });
  t.after(() => backend.close());
  const port = await lowPort();
  const dir = mkdtempSync(join(tmpdir(), 'fulcrum-user-'));
  chmodSync(dir, 0o755); // nobody reads the file again on reload
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'lb.yaml');
  writeFileSync(
    file,
    [
      `listeners: [{ name: www, bind: "127.0.0.1:${port}", routes: [{ pool: web }] }]`,
      `pools: { web: { servers: [{ address: "127.0.0.1:${backend.port}" }] } }`,
      `runtime: { workers: 2, user: nobody, group: nogroup, control_socket: "${join(dir, 'fulcrum.sock')}" }`,
      '',
    ].join('\n'),
  );
  chmodSync(file, 0o644);
  const cli = await spawnCli(['run', '-c', file]);
  t.after(() => cli.stop());
  const get = async () => (await fetch(`http://127.0.0.1:${port}/`)).text();
  assert.equal(await get(), 'ok');
  const NET_BIND_SERVICE = 1n << 10n;
  const p = creds(cli.pid);
  assert.equal(p.uid, '65534\t65534\t65534\t65534');
  assert.equal(p.gid, '65534\t65534\t65534\t65534');
  assert.equal(p.eff, NET_BIND_SERVICE, 'the primary keeps CAP_NET_BIND_SERVICE only');
  assert.equal(p.amb, NET_BIND_SERVICE, '... as an ambient capability, for the workers it starts later');
  for (const w of cli.workerPids) {
    const c = creds(w);
    assert.equal(c.uid, '65534\t65534\t65534\t65534', `worker ${w}`);
    assert.equal(c.eff | c.prm | c.amb, 0n, `worker ${w} has no capability`);
  }
  assert.match(cli.stderr(), /the primary runs as uid 65534 gid 65534, keeping CAP_NET_BIND_SERVICE/);
  // Workers started from now on run the code as nobody: that needs the checkout to be
  // readable by others (an installed package is; a clone under a 0700 directory is not)
  if (!readableByOthers(CLI_PATH)) {
    t.diagnostic(`${CLI_PATH} is not readable by other users here: the replaced-worker and reload checks are left out`);
    assert.match(cli.stderr(), /runtime\.user: uid 65534 cannot read .*worker-main\.js: a replaced worker or a reload will fail/);
    const exit = await cli.stop(15_000);
    assert.equal(exit.code, 0);
    return;
  }
  // a replaced worker starts as nobody and serves
  const victim = cli.workerPids[0]!;
  process.kill(victim, 'SIGKILL');
  const deadline = Date.now() + 15_000;
  while (!/replaced worker \d+/.test(cli.stderr()) && Date.now() < deadline) await sleep(100);
  assert.match(cli.stderr(), /replaced worker \d+/);
  for (let i = 0; i < 6; i++) assert.equal(await get(), 'ok');
  // a reload: new workers bind the low port again as nobody (with the ambient capability)
  process.kill(cli.pid, 'SIGHUP');
  const reloaded = Date.now() + 15_000;
  while (!/generation 2\) listening/.test(cli.stderr()) && Date.now() < reloaded) await sleep(100);
  assert.match(cli.stderr(), /generation 2\) listening/);
  assert.equal(await get(), 'ok');
  const t0 = Date.now();
  const exit = await cli.stop(15_000);
  assert.equal(exit.code, 0, cli.stderr().split('\n').slice(-12).join('\n'));
  t.diagnostic(`stopped in ${Date.now() - t0} ms`);
});
