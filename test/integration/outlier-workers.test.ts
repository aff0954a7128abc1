/**
 * Passive health runs in the workers, active checks in the primary: a passing active
 * check of a server some worker has ejected reaches that worker and ends the ejection
 * (outlier.uneject_on_active_pass), across processes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { poolBackends } from '../helpers/backends.js';
import { closedPort } from '../helpers/ports.js';
import { tempDir } from '../helpers/files.js';
import { request } from '../helpers/http-client.js';
import { runCli, spawnCli } from '../helpers/spawn.js';
import { waitFor } from '../helpers/wait.js';

test('two workers: a worker\'s ejection ends at the primary\'s next passing active check; status shows the last check', { timeout: 30_000 }, async (t) => {
  const [s1, s2] = await poolBackends(t, ['s1', 's2']);
  s1!.status = 500; // real requests fail, health checks pass
  const dir = tempDir('fulcrum-outlier-', t);
  const file = dir.write(
    'fulcrum.yaml',
    `listeners:
  - name: www
    bind: 127.0.0.1:0
    routes: [{ pool: web }]
pools:
  web:
    outlier: { consecutive_errors: 2, base_ejection: 60s, max_ejection_percent: 50 }
    health: { type: http, interval: 300ms, timeout: 200ms, jitter: 0, http: { path: /health } }
    servers:
      - { name: s1, address: "127.0.0.1:${s1!.port}" }
      - { name: s2, address: "127.0.0.1:${s2!.port}" }
      - { name: s3, address: "127.0.0.1:${await closedPort()}" }
runtime: { workers: 2, control_socket: ${dir.file('ctl.sock')} }
`,
  );
  const cli = await spawnCli(['run', '-c', file]);
  t.after(() => cli.stop());
  const ejected = /server s1 is ejected/;
  // new connections land on either worker: enough requests for one of them to see two 500s in a row from s1
  for (let i = 0; i < 40 && !ejected.test(cli.stderr()); i++) await request(cli.port, { path: `/r${i}`, headers: { connection: 'close' } });
  await waitFor(() => ejected.test(cli.stderr()), 3000, () => `a worker ejects s1; stderr:\n${cli.stderr()}`);
  await waitFor(() => /server s1 is returned \(an active health check passed/.test(cli.stderr()), 3000, () => `the worker restores s1 at a passing check, well before base_ejection (60 s); stderr:\n${cli.stderr()}`);
  // the other servers serve meanwhile (s1 may have been ejected before s2's turn came: s3's
  // refused connections are retried, possibly on s1 again)
  for (let i = 0; i < 20 && s2!.seen.length === 0; i++) await request(cli.port, { path: `/after${i}`, headers: { connection: 'close' } });
  assert.ok(s2!.seen.length > 0, 's2 serves');

  // status: each server's latest active check, as the primary ran it (s3 is down after `fall` failed checks)
  let st = await runCli(['status', '-s', dir.file('ctl.sock')]);
  for (let i = 0; i < 20 && !/s3 +127\.0\.0\.1:\d+ +DOWN/.test(st.stdout); i++) {
    await new Promise((r) => setTimeout(r, 200));
    st = await runCli(['status', '-s', dir.file('ctl.sock')]);
  }
  assert.equal(st.code, 0, st.stderr);
  assert.match(st.stdout, /s3 +127\.0\.0\.1:\d+ +DOWN .*\n +\d checks failed: connect ECONNREFUSED; last check \d+\.\d s ago: failed \(connect ECONNREFUSED\)/);
  assert.match(st.stdout, /s1 +127\.0\.0\.1:\d+ +up .*\n +last check \d+\.\d s ago: passed \(status 200\)/);
});
