import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { checkCommand, type CheckOutput } from '../../src/cli/check.js';

function capture(): CheckOutput & { out: string; err: string } {
  const c = {
    out: '',
    err: '',
    stdout: (t: string) => void (c.out += t),
    stderr: (t: string) => void (c.err += t),
  };
  return c;
}

const VALID = `listeners:
  - {name: www, bind: ":8080", routes: [{pool: web}]}
pools:
  web: {servers: [{address: "192.0.2.11:80"}, {address: "192.0.2.12:80"}]}
  api: {servers: [{address: "192.0.2.13:80"}]}
`;

describe('fulcrum check', () => {
  it('prints a summary and exits 0 for a valid file', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'fulcrum-check-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, 'ok.yaml');
    await writeFile(file, VALID);
    for (const args of [['-c', file], ['--config', file], [`--config=${file}`]]) {
      const io = capture();
      assert.equal(await checkCommand(args, io), 0);
      assert.equal(io.out, `${file}: configuration OK (1 listener, 2 pools)\n`);
      assert.equal(io.err, '');
    }
  });

  it('prints every issue on stderr and exits 1', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'fulcrum-check-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, 'bad.yaml');
    await writeFile(file, VALID.replace('{pool: web}', '{pool: wbe}').replace('192.0.2.13:80', '192.0.2.13'));
    const io = capture();
    assert.equal(await checkCommand(['-c', file], io), 1);
    assert.equal(io.out, '');
    assert.deepEqual(io.err.trimEnd().split('\n'), [
      `${file}:2:48: listeners[0].routes[0].pool: no pool named \`wbe\`; did you mean \`web\`?`,
      `${file}:5:29: pools.api.servers[0].address: "192.0.2.13": missing port; write HOST:PORT, e.g. "192.0.2.11:80"`,
    ]);
  });

  it('refuses a hash key a tcp listener cannot provide (issue 3 item 8)', async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'fulcrum-check-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, 'tcp.yaml');
    await writeFile(
      file,
      `listeners:
  - {name: db, bind: "127.0.0.1:5432", mode: tcp, routes: [{pool: db}]}
pools:
  db:
    balance: maglev
    hash: {header: X-Tenant}
    servers: [{address: "192.0.2.13:5432"}]
`,
    );
    const io = capture();
    assert.equal(await checkCommand(['-c', file], io), 1);
    assert.equal(io.out, '');
    assert.equal(
      io.err,
      `${file}:6:11: pools.db.hash: this pool's maglev hashes the header X-Tenant, a hash key listener \`db\` (mode: tcp, listeners[0].routes[0]) cannot provide, since it relays bytes without reading HTTP: hash by \`ip\` (the default), or route that listener to another pool\n`,
    );
  });

  it('exits 1 for a missing file', async () => {
    const io = capture();
    assert.equal(await checkCommand(['-c', '/nonexistent/lb.yaml'], io), 1);
    assert.equal(io.err, '/nonexistent/lb.yaml: cannot read the configuration file: no such file\n');
  });

  it('exits 2 on usage errors', async () => {
    // a file may also be given without -c (fulcrum check lb.yaml), but only one
    for (const args of [[], ['a.yaml', 'b.yaml'], ['--bogus'], ['-c'], ['-c', 'a', '-c', 'b'], ['-c', 'a', 'b']]) {
      const io = capture();
      assert.equal(await checkCommand(args, io), 2, JSON.stringify(args));
      assert.match(io.err, /^fulcrum check: .*\nRun "fulcrum check --help" for usage\.\n$/);
      assert.equal(io.out, '');
    }
  });

  it('prints usage on --help and exits 0', async () => {
    for (const args of [['--help'], ['-h']]) {
      const io = capture();
      assert.equal(await checkCommand(args, io), 0);
      assert.match(io.out, /^Usage: fulcrum check -c FILE   \(or: fulcrum check FILE\)\n/);
    }
  });
});
