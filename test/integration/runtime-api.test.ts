/**
 * The runtime API through `fulcrum server ...` on a real instance with two workers:
 * drain, maint, ready and weight reach every worker and the DNS answers at once, survive
 * a reload, and are listed as overrides; servers are added and removed; a check runs now;
 * bad requests are refused with the reason.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { poolBackends, spread } from '../helpers/backends.js';
import { tempDir } from '../helpers/files.js';
import { request } from '../helpers/http-client.js';
import { dig, missing, runCli, spawnCli } from '../helpers/spawn.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';
import { controlRequest } from '../../src/runtime/control.js';
import type { StatusReport } from '../../src/runtime/primary.js';

const DIG = missing('dig', 'Debian package dnsutils');

/** A listener on 127.0.0.1 over pool web (s1, s2, HTTP checks every `interval`), then `more` lines. */
function webYaml(s1: number, s2: number, interval: string, more: string): string {
  return `listeners:
  - name: www
    bind: 127.0.0.1:0
    routes: [{ pool: web }]
pools:
  web:
    health: { type: http, interval: ${interval}, timeout: 200ms, jitter: 0, http: { path: /health } }
    servers:
      - { name: s1, address: "127.0.0.1:${s1}" }
      - { name: s2, address: "127.0.0.1:${s2}" }
${more}`;
}

test('fulcrum server: drain, maint, weight, add, remove and check, across two workers, DNS and a reload', { timeout: 60_000, skip: DIG }, async (t) => {
  const [s1, s2, s3] = await poolBackends(t, ['s1', 's2', 's3']);
  const dir = tempDir('fulcrum-runtime-api-', t);
  // Below the ephemeral range: the DNS server binds TCP too, where an outgoing connection may hold an ephemeral port.
  const dnsPort = await freePort();
  const sock = dir.file('ctl.sock');
  const file = dir.write(
    'fulcrum.yaml',
    webYaml(
      s1!.port,
      s2!.port,
      '300ms',
      `  names:
    servers:
      - { name: a, address: "127.0.0.11:80" }
      - { name: b, address: "127.0.0.12:80" }
dns:
  listen: [127.0.0.1:${dnsPort}]
  zones:
    - origin: example.com
      pools:
        - { name: www, pool: names, ttl: 1 }
runtime: { workers: 2, control_socket: ${sock} }
`,
    ),
  );
  const cli = await spawnCli(['run', '-c', file]);
  t.after(() => cli.stop());
  const server = (...words: string[]) => runCli(['server', ...words, '-s', sock]);
  const status = async () => (await controlRequest(sock, 'status')).data as StatusReport;
  const answers = async () => (await dig(dnsPort, '+short', 'www.example.com', 'A').catch((e: Error) => assert.fail(`${e.message}\n${cli.stderr()}`))).trim().split('\n').filter(Boolean).sort();
  const webBackends = [s1!, s2!];

  assert.deepEqual(await answers(), ['127.0.0.11', '127.0.0.12']);
  const first = await spread(cli.port, webBackends, 20);
  assert.ok(first[1]! > 0, 's2 takes traffic before the drain');
  // status asks the workers: their counts as they are now, not as of their last report
  const totals = (await status()).pools.find((p) => p.name === 'web')!.servers.map((s) => s.total);
  assert.deepEqual(totals, first);

  // drain: no new request reaches s2 through either worker, at once
  let r = await server('drain', 'web/s2');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /web\/s2 is draining/);
  assert.deepEqual(await spread(cli.port, webBackends, 30), [30, 0]);

  // maint on a DNS pool's server: the next answer leaves it out
  r = await server('maint', 'names/b');
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(await answers(), ['127.0.0.11']);

  // the overrides survive a reload and are listed
  r = await runCli(['reload', '-s', sock]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(await spread(cli.port, webBackends, 20), [20, 0], 'still drained after the reload');
  assert.deepEqual(await answers(), ['127.0.0.11']);
  r = await runCli(['status', '-s', sock]);
  assert.match(r.stdout, /s2 +127\.0\.0\.1:\d+ +up, draining/);
  assert.match(r.stdout, /overrides \(runtime API[^\n]*\n {2}web\/s2 {2}state drain\n {2}names\/b {2}state maint/);

  // back to ready: s2 takes traffic again and the override is gone
  assert.equal((await server('ready', 'web/s2')).code, 0);
  assert.equal((await server('ready', 'names/b')).code, 0);
  assert.ok((await spread(cli.port, webBackends, 30))[1]! > 0, 's2 takes traffic again');
  assert.deepEqual(await answers(), ['127.0.0.11', '127.0.0.12']);
  assert.deepEqual((await status()).overrides, []);

  // weight 0 drains too; a weight is an override until set back to the file's
  assert.equal((await server('weight', 'web/s1', '0')).code, 0);
  assert.deepEqual(await spread(cli.port, webBackends, 10), [0, 10]);
  assert.deepEqual((await status()).overrides, [{ pool: 'web', server: 's1', weight: 0 }]);
  assert.equal((await server('weight', 'web/s1', '1')).code, 0);
  assert.deepEqual((await status()).overrides, []);

  // add a server: every worker sends to it; it survives a reload; remove it again
  r = await server('add', 'web', 's3', `127.0.0.1:${s3!.port}`, '--weight', '2');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /added web\/s3/);
  assert.ok((await spread(cli.port, [s1!, s2!, s3!], 40))[2]! > 0, 's3 takes traffic');
  assert.equal((await runCli(['reload', '-s', sock])).code, 0);
  let st = await status();
  assert.deepEqual(
    st.pools.find((p) => p.name === 'web')!.servers.map((s) => [s.name, s.weight]),
    [
      ['s1', 1],
      ['s2', 1],
      ['s3', 2],
    ],
  );
  assert.deepEqual(st.overrides, [{ pool: 'web', server: 's3', added: { host: '127.0.0.1', port: s3!.port }, weight: 2 }]);
  r = await server('check', 'web/s3');
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /web\/s3: check passed \(status 200\)/);
  r = await server('remove', 'web/s3');
  assert.equal(r.code, 0, r.stderr);
  const seen3 = s3!.seen.length;
  await spread(cli.port, webBackends, 20);
  assert.equal(s3!.seen.length, seen3, 'a removed server gets nothing');
  st = await status();
  assert.deepEqual(st.overrides, []);
  assert.deepEqual(st.pools.find((p) => p.name === 'web')!.servers.map((s) => s.name), ['s1', 's2']);
  // the history of active checks
  assert.ok(st.pools.find((p) => p.name === 'web')!.servers[0]!.history.length > 0);

  // refusals: what is wrong, and nothing changed
  const refusals: Array<[string[], RegExp]> = [
    [['drain', 'nope/s1'], /no pool "nope"/],
    [['drain', 'web/s9'], /pool web has no server "s9"; did you mean s1\?/],
    [['weight', 'web/s1', '300'], /weight: expected an integer from 0 to 256, got 300/],
    [['add', 'web', 's1', '127.0.0.1:1'], /pool web already has a server s1/],
    [['add', 'web', 'bad name', '127.0.0.1:1'], /name: /],
    [['check', 'names/a'], /pool names has no health checks/],
  ];
  for (const [words, why] of refusals) {
    r = await server(...words);
    assert.equal(r.code, 1, `${words.join(' ')}: ${r.stdout}`);
    assert.match(r.stderr, why);
  }
  r = await server('remove', 'web/s1');
  assert.equal(r.code, 0, r.stderr);
  r = await server('remove', 'web/s2');
  assert.equal(r.code, 1);
  assert.match(r.stderr, /last server of pool web/);
  r = await server('add', 'web', 's1', `127.0.0.1:${s1!.port}`);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /added web\/s1 back/);
  assert.deepEqual((await status()).overrides, []);
  r = await runCli(['server', 'drain', '-s', sock]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /give the server as POOL\/SERVER/);
});

test('a drained server finishes the requests it has; maint too, while its checks go on', { timeout: 30_000 }, async (t) => {
  const [s1, s2] = await poolBackends(t, ['s1', 's2']);
  const dir = tempDir('fulcrum-runtime-drain-', t);
  const sock = dir.file('ctl.sock');
  const file = dir.write(
    'fulcrum.yaml',
    webYaml(s1!.port, s2!.port, '200ms', `runtime: { workers: 1, control_socket: ${sock} }\n`),
  );
  const cli = await spawnCli(['run', '-c', file]);
  t.after(() => cli.stop());
  s1!.hold = s2!.hold = true;
  const held = request(cli.port, { path: '/slow' });
  const busy = await waitFor(() => [s1!, s2!].find((b) => b.held.length === 1), 3000, 'a server holds the request');
  const other = busy === s1 ? s2! : s1!;
  s1!.hold = s2!.hold = false;
  const r = await runCli(['server', 'drain', `web/${busy.name}`, '-s', sock]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /1 request\(s\) or connection\(s\) in flight finish on it/);
  for (let i = 0; i < 4; i++) assert.equal((await request(cli.port, { path: `/next${i}` })).body.toString(), other.name, 'new requests go elsewhere');
  busy.release();
  const done = await held;
  assert.equal(done.status, 200);
  assert.equal(done.body.toString(), busy.name, 'the request in flight finished on the drained server');

  assert.equal((await runCli(['server', 'maint', `web/${busy.name}`, '-s', sock])).code, 0);
  const checks = busy.checks;
  await waitFor(() => busy.checks >= checks + 2, 3000, 'active checks go on in maintenance');
  assert.equal((await request(cli.port, { path: '/m' })).body.toString(), other.name);
});
