/**
 * The admin listener on a real instance (`fulcrum run`, two workers, real backends on
 * 127.0.0.1): every endpoint; drain through the API keeps new requests off a server
 * (counted at the backend) until ready brings it back; maint, weight, check now, add and
 * remove; bad input refused without harm; with a token file, the refusals (401, 403, 415)
 * and a reload that reads a new token; an unreadable token file stops the start.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { adminCall, adminTestConfig, startAdminInstance } from '../helpers/admin.js';
import { poolBackends, spread } from '../helpers/backends.js';
import { tempDir } from '../helpers/files.js';
import { rawExchange } from '../helpers/http-client.js';
import { logMessages, runCli } from '../helpers/spawn.js';
import { waitForAsync } from '../helpers/wait.js';

test('admin API on a real instance: every endpoint, drain and ready, maint, weight, check, add, remove', { timeout: 60_000 }, async (t) => {
  const { cli, port, s1, s2, dir } = await startAdminInstance(t, { prefix: 'fulcrum-admin-api-', admin: '  listen: 127.0.0.1:0' });
  const [s3] = await poolBackends(t, ['s3']);
  const file = dir.file('fulcrum.yaml');
  assert.match(logMessages(cli.stderr()), new RegExp(`^admin listening on http://127\\.0\\.0\\.1:${port} \\(dashboard /, metrics /metrics\\)$`, 'm'));
  // Checks of /health every minute (the first within a minute): a check now (POST .../check) stands out.
  const web = [s1, s2];
  const S2 = '/api/pools/web/servers/s2';

  // the dashboard and its files
  const page = await adminCall(port, 'GET', '/');
  assert.equal(page.status, 200);
  assert.match(page.body, /<title>Fulcrum<\/title>/);
  assert.equal((await adminCall(port, 'GET', '/dashboard.js')).status, 200);
  assert.equal((await adminCall(port, 'GET', '/dashboard.css')).status, 200);

  // metrics: Prometheus text, or OpenMetrics when asked (503 with the reason while the build has none)
  const metrics = await adminCall(port, 'GET', '/metrics');
  if (metrics.status === 200) {
    assert.match(String(metrics.headers['content-type']), /^text\/plain/);
    assert.match(metrics.body, /^# (HELP|TYPE) fulcrum_/m);
    const om = await adminCall(port, 'GET', '/metrics', { headers: { Accept: 'application/openmetrics-text' } });
    assert.match(String(om.headers['content-type']), /^application\/openmetrics-text/);
    assert.match(om.body, /# EOF\n$/);
  } else {
    assert.equal(metrics.status, 503, metrics.body);
    assert.match(metrics.json!.message, /^no metrics: /);
  }

  // reads
  const status = await adminCall(port, 'GET', '/api/status');
  assert.equal(status.status, 200);
  assert.equal(status.json!.data.source, file);
  assert.deepEqual(status.json!.data.listeners.map((l: { name: string; port: number }) => [l.name, l.port]), [['www', cli.port]]);
  assert.equal(status.json!.data.workers.length, 2);
  const pools = await adminCall(port, 'GET', '/api/pools');
  assert.deepEqual(pools.json!.data.map((p: { name: string }) => p.name), ['web']);
  const pool = await adminCall(port, 'GET', '/api/pools/web');
  assert.deepEqual(pool.json!.data.servers.map((s: { name: string }) => s.name), ['s1', 's2']);
  const first = (await adminCall(port, 'GET', S2)).json!.data;
  assert.deepEqual([first.address, first.state, first.healthy], [`127.0.0.1:${s2.port}`, 'ready', true]);
  for (const path of ['/api/pools/nope', '/api/pools/web/servers/nope', '/api/nope']) assert.equal((await adminCall(port, 'GET', path)).status, 404, path);

  // drain: no new request reaches s2 through either worker; ready brings it back
  assert.ok((await spread(cli.port, web, 20))[1]! > 0, 's2 takes traffic before the drain');
  let r = await adminCall(port, 'PUT', `${S2}/state`, { body: { state: 'drain' } });
  assert.equal(r.status, 200, r.body);
  assert.equal(r.json!.ok, true);
  assert.deepEqual(await spread(cli.port, web, 30), [30, 0]);
  assert.equal((await adminCall(port, 'GET', S2)).json!.data.state, 'drain');
  assert.deepEqual((await adminCall(port, 'GET', '/api/status')).json!.data.overrides, [{ pool: 'web', server: 's2', state: 'drain' }]);
  r = await adminCall(port, 'PUT', `${S2}/state`, { body: { state: 'ready' } });
  assert.equal(r.status, 200, r.body);
  assert.ok((await spread(cli.port, web, 20))[1]! > 0, 's2 takes traffic again');
  assert.deepEqual((await adminCall(port, 'GET', '/api/status')).json!.data.overrides, []);

  // maint: out too
  assert.equal((await adminCall(port, 'PUT', '/api/pools/web/servers/s1/state', { body: { state: 'maint' } })).status, 200);
  assert.deepEqual(await spread(cli.port, web, 10), [0, 10]);
  assert.equal((await adminCall(port, 'PUT', '/api/pools/web/servers/s1/state', { body: { state: 'ready' } })).status, 200);

  // weight
  r = await adminCall(port, 'PUT', `${S2}/weight`, { body: { weight: 3 } });
  assert.equal(r.status, 200, r.body);
  assert.equal((await adminCall(port, 'GET', S2)).json!.data.weight, 3);
  assert.equal((await adminCall(port, 'PUT', `${S2}/weight`, { body: { weight: 1 } })).status, 200);
  assert.equal((await adminCall(port, 'PUT', `${S2}/weight`, { body: { weight: -1 } })).status, 400);

  // check now: a check reaches s2 and its result is the latest one
  const checksBefore = s2.checks;
  const asked = Date.now();
  r = await adminCall(port, 'POST', `${S2}/check`);
  assert.equal(r.status, 200, r.body);
  assert.ok(s2.checks > checksBefore, 'the check reached s2 before the answer');
  const checked = (await adminCall(port, 'GET', S2)).json!.data;
  assert.ok(checked.lastCheck.ok && checked.lastCheck.at >= asked, JSON.stringify(checked.lastCheck));

  // add and remove
  r = await adminCall(port, 'POST', '/api/pools/web/servers', { body: { name: 's3', host: '127.0.0.1', port: s3.port } });
  assert.equal(r.status, 200, r.body);
  await waitForAsync(async () => (await spread(cli.port, [s3], 6))[0]! > 0, 10_000, 's3 to take traffic');
  assert.equal((await adminCall(port, 'POST', '/api/pools/web/servers', { body: { name: 's1', host: '127.0.0.1', port: s3.port } })).status, 409);
  r = await adminCall(port, 'DELETE', '/api/pools/web/servers/s3');
  assert.equal(r.status, 200, r.body);
  await waitForAsync(async () => (await adminCall(port, 'GET', '/api/pools/web/servers/s3')).status === 404, 10_000, 's3 to be gone');
  assert.deepEqual(await spread(cli.port, [s3], 10), [0]);

  // bad input is refused, and nothing breaks
  assert.equal((await adminCall(port, 'PUT', `${S2}/state`, { body: { state: 'off' } })).status, 400);
  assert.equal((await adminCall(port, 'PUT', `${S2}/state`, { raw: '{' })).status, 400);
  assert.equal((await adminCall(port, 'PUT', `${S2}/state`, { raw: 'x'.repeat(70_000) })).status, 413);
  assert.equal((await adminCall(port, 'DELETE', '/api/pools/web')).status, 405);
  assert.equal((await rawExchange(port, 'GET / HTTP/1.1\r\nBad\r\n\r\n')).status, 400);
  assert.equal((await adminCall(port, 'GET', '/api/status')).status, 200);
  assert.equal(cli.child.exitCode, null, 'fulcrum still runs');
});

test('admin API with a token file: 401, 403, 415; reads open; a reload reads a new token', { timeout: 60_000 }, async (t) => {
  // the token file's path is relative to the configuration file, whatever the working directory
  const { cli, port, s1, s2, dir, sock } = await startAdminInstance(t, { prefix: 'fulcrum-admin-auth-', admin: '  listen: 127.0.0.1:0\n  token_file: admin.token', token: 'first-token\n', cwd: '/' });
  assert.match(logMessages(cli.stderr()), /admin listening on http:\/\/127\.0\.0\.1:\d+ \(dashboard \/, metrics \/metrics, token required to change state\)/);
  const S2 = '/api/pools/web/servers/s2';
  const drain = { body: { state: 'drain' } };

  const none = await adminCall(port, 'PUT', `${S2}/state`, drain);
  assert.equal(none.status, 401);
  assert.equal(none.headers['www-authenticate'], 'Bearer realm="fulcrum admin"');
  const wrong = await adminCall(port, 'PUT', `${S2}/state`, { ...drain, token: 'second-token' });
  assert.equal(wrong.status, 401);
  assert.match(String(wrong.headers['www-authenticate']), /error="invalid_token"/);
  for (const [method, path] of [['PUT', `${S2}/weight`], ['POST', `${S2}/check`], ['POST', '/api/pools/web/servers'], ['DELETE', S2]] as const) {
    assert.equal((await adminCall(port, method, path, { body: {} })).status, 401, `${method} ${path}`);
  }
  const cross = await adminCall(port, 'PUT', `${S2}/state`, { ...drain, token: 'first-token', headers: { Origin: 'http://evil.example' } });
  assert.equal(cross.status, 403);
  const form = await adminCall(port, 'PUT', `${S2}/state`, { raw: 'state=drain', token: 'first-token', headers: { 'Content-Type': 'application/x-www-form-urlencoded' } });
  assert.equal(form.status, 415);
  assert.equal((await adminCall(port, 'GET', S2)).json!.data.state, 'ready', 'no refused call changed anything');
  assert.deepEqual(await spread(cli.port, [s1, s2], 10).then((c) => c[1]! > 0), true);

  // reads need no token
  for (const path of ['/', '/api/status', '/api/pools', '/api/pools/web', S2]) assert.equal((await adminCall(port, 'GET', path)).status, 200, path);

  assert.equal((await adminCall(port, 'PUT', `${S2}/state`, { ...drain, token: 'first-token' })).status, 200);
  assert.deepEqual(await spread(cli.port, [s1, s2], 10), [10, 0]);

  // a new token in the file takes effect on reload; the listener keeps its port; the drain stays
  dir.write('admin.token', 'second-token\n');
  const reload = await runCli(['reload', '-s', sock]);
  assert.equal(reload.code, 0, reload.stderr);
  assert.equal((await adminCall(port, 'PUT', `${S2}/state`, { body: { state: 'ready' }, token: 'first-token' })).status, 401);
  assert.deepEqual(await spread(cli.port, [s1, s2], 10), [10, 0], 'the drain survives the reload');
  assert.equal((await adminCall(port, 'PUT', `${S2}/state`, { body: { state: 'ready' }, token: 'second-token' })).status, 200);

  // an empty token file: the reload says so, and the running token stays
  dir.write('admin.token', '\n');
  const bad = await runCli(['reload', '-s', sock]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr + bad.stdout, /the token file .*admin\.token is empty/);
  assert.equal((await adminCall(port, 'POST', `${S2}/check`, { token: 'second-token' })).status, 200);
});

test('fulcrum run refuses to start without a readable token file', { timeout: 30_000 }, async (t) => {
  const dir = tempDir('fulcrum-admin-notoken-', t);
  const file = dir.write('fulcrum.yaml', adminTestConfig([9], dir.file('ctl.sock'), '  listen: 127.0.0.1:0\n  token_file: missing.token'));
  const r = await runCli(['run', '-c', file]);
  assert.equal(r.code, 1);
  assert.match(logMessages(r.stderr), new RegExp(`admin: cannot read the token file ${dir.dir}/missing\\.token: no such file`));
  assert.doesNotMatch(logMessages(r.stderr), /^listening on/m);
});
