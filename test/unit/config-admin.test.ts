/**
 * The `admin:` section: absent means no admin listener; defaults; the address forms; the
 * token file resolved against the configuration file; a listen address off loopback
 * without a token file refused with its file, line and key path (also by `fulcrum check`);
 * a clash with a listener; unknown keys.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { formatIssue, loadConfigFile, loadConfigText } from '../../src/config/load.js';
import { isLoopback } from '../../src/config/admin/checks.js';
import { capabilityName, primaryCapabilities } from '../../src/runtime/privileges.js';
import { runCli } from '../helpers/spawn.js';
import { tempDir } from '../helpers/files.js';

/** Lines 1-4: a listener and a pool; `admin:` starts on line 5. */
const HEAD = `listeners:
  - {name: www, bind: "127.0.0.1:8080", routes: [{pool: web}]}
pools:
  web: {servers: [{name: s1, address: 127.0.0.1:9001}]}
`;

function load(admin: string, file = '/etc/fulcrum/lb.yaml') {
  return loadConfigText(HEAD + admin, file);
}

function issues(admin: string): string[] {
  return load(admin).issues.map(formatIssue);
}

describe('admin: section', () => {
  it('absent: no admin listener', () => {
    assert.equal(load('').config!.admin, null);
  });

  it('empty mapping: every default', () => {
    assert.deepEqual(load('admin: {}\n').config!.admin, { host: '127.0.0.1', port: 9090, tokenFile: null, dashboard: true, metrics: true });
  });

  it('every key, the token file relative to the configuration file', () => {
    const a = load('admin:\n  listen: "[::1]:9191"\n  token_file: secrets/admin.token\n  dashboard: false\n  metrics: false\n').config!.admin;
    assert.deepEqual(a, { host: '::1', port: 9191, tokenFile: '/etc/fulcrum/secrets/admin.token', dashboard: false, metrics: false });
    assert.equal(load('admin: {token_file: /run/t}\n').config!.admin!.tokenFile, '/run/t');
  });

  it('a listen address off loopback needs token_file: file, line, column and key path', () => {
    assert.deepEqual(issues('admin:\n  listen: "0.0.0.0:9090"\n'), [
      'lb.yaml:6:11: admin.listen: 0.0.0.0:9090 is reachable from other machines, and the admin API changes server states: give `token_file` (a file with a secret token), or listen on loopback such as "127.0.0.1:9090"',
    ].map((l) => `/etc/fulcrum/${l}`));
    assert.equal(issues('admin:\n  listen: ":9090"\n').length, 1);
    assert.equal(issues('admin:\n  listen: "[::]:9090"\n').length, 1);
    assert.equal(issues('admin:\n  listen: "192.0.2.1:9090"\n').length, 1);
    assert.deepEqual(issues('admin:\n  listen: "0.0.0.0:9090"\n  token_file: admin.token\n'), []);
    assert.deepEqual(issues('admin:\n  listen: "localhost:9090"\n'), []);
    assert.deepEqual(issues('admin:\n  listen: "127.0.0.2:9090"\n'), []);
  });

  it('bad values and unknown keys are refused with their position', () => {
    assert.match(issues('admin:\n  listen: "127.0.0.1"\n').join('\n'), /lb\.yaml:6:11: admin\.listen: "127\.0\.0\.1": missing port/);
    assert.match(issues('admin:\n  listen: "::1:9090"\n').join('\n'), /admin\.listen: .*brackets/);
    assert.match(issues('admin:\n  token_file: ""\n').join('\n'), /lb\.yaml:6:15: admin\.token_file: expected a file path/);
    assert.match(issues('admin:\n  dashbord: false\n').join('\n'), /lb\.yaml:6:3: admin.*dashbord.*did you mean `dashboard`/);
  });

  it('may not take a listener\'s address', () => {
    assert.deepEqual(issues('admin:\n  listen: 127.0.0.1:8080\n'), [
      '/etc/fulcrum/lb.yaml:6:11: admin.listen: 127.0.0.1:8080 is already used by listeners[0] (127.0.0.1:8080): give the admin listener another port',
    ]);
  });

  it('an admin port below 1024 keeps CAP_NET_BIND_SERVICE for the primary (a reload may bind it again)', () => {
    assert.deepEqual(primaryCapabilities(load('admin: {listen: "127.0.0.1:81"}\n').config!).map(capabilityName), ['CAP_NET_BIND_SERVICE']);
    assert.deepEqual(primaryCapabilities(load('admin: {}\n').config!), []);
  });

  it('loopback addresses', () => {
    for (const h of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1', 'localhost']) assert.ok(isLoopback(h), h);
    for (const h of ['0.0.0.0', '::', '192.0.2.1', '::ffff:192.0.2.1', 'example.com', '128.0.0.1']) assert.ok(!isLoopback(h), h);
  });

  it('fulcrum check reports it and prints nothing else new', async (t) => {
    const tmp = tempDir('fulcrum-admin-check-', t);
    const bad = tmp.write('bad.yaml', `${HEAD}admin:\n  listen: "0.0.0.0:9090"\n`);
    const r = await runCli(['check', bad]);
    assert.equal(r.code, 1);
    assert.match(r.stdout + r.stderr, /bad\.yaml:6:11: admin\.listen: 0\.0\.0\.0:9090 is reachable from other machines/);
    const good = tmp.write('good.yaml', `${HEAD}admin: {}\n`);
    const plain = tmp.write('plain.yaml', HEAD);
    const [a, b] = [await runCli(['check', good]), await runCli(['check', plain])];
    assert.equal(a.code, 0, a.stderr);
    assert.equal(a.stdout.replaceAll(good, 'F'), b.stdout.replaceAll(plain, 'F'));
    assert.equal(a.stderr.replaceAll(good, 'F'), b.stderr.replaceAll(plain, 'F'));
  });

  it('examples/admin.yaml: web (s1, s2 with HTTP checks) behind 127.0.0.1:8080, two workers, the admin listener on 127.0.0.1:9090', async () => {
    const { config, issues } = await loadConfigFile(fileURLToPath(new URL('../../../examples/admin.yaml', import.meta.url)));
    assert.deepEqual(issues.map(formatIssue), []);
    const web = config!.pools.get('web')!;
    assert.deepEqual(web.servers.map((s) => `${s.name}=${s.host}:${s.port}`), ['s1=127.0.0.1:9001', 's2=127.0.0.1:9002']);
    assert.equal(web.health?.type, 'http');
    assert.deepEqual([config!.listeners[0]!.host, config!.listeners[0]!.port], ['127.0.0.1', 8080]);
    assert.equal(config!.runtime.workers, 2);
    assert.deepEqual(config!.admin, { host: '127.0.0.1', port: 9090, tokenFile: null, dashboard: true, metrics: true });
  });
});
