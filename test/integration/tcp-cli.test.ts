import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { spawnCli } from '../helpers/spawn.js';

test('fulcrum run with only a tcp listener: prints tcp://, relays bytes both ways, stops on SIGTERM', { timeout: 20_000 }, async (t) => {
  const echo = net.createServer((s) => s.pipe(s));
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  t.after(() => new Promise((r) => echo.close(r)));
  const dir = mkdtempSync(join(tmpdir(), 'fulcrum-tcp-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'tcp.yaml');
  writeFileSync(
    file,
    `listeners:
  - name: echo
    bind: 127.0.0.1:0
    mode: tcp
    routes: [{pool: echo}]
pools:
  echo:
    servers: [{address: "127.0.0.1:${(echo.address() as net.AddressInfo).port}"}]
`,
  );
  const cli = await spawnCli(['run', '-c', file]);
  t.after(() => cli.stop());
  assert.match(cli.stderr(), /listening on tcp:\/\/127\.0\.0\.1:\d+ \(listener echo\)/);
  const got = await new Promise<string>((resolve, reject) => {
    const c = net.connect(cli.port, '127.0.0.1');
    let data = '';
    const timer = setTimeout(() => reject(new Error(`no echo: ${data}`)), 5000);
    c.setEncoding('utf8');
    c.on('data', (d: string) => {
      data += d;
      if (data === 'hello through fulcrum') c.end();
    });
    c.on('close', () => {
      clearTimeout(timer);
      resolve(data);
    });
    c.on('error', reject);
    c.write('hello through fulcrum');
  });
  assert.equal(got, 'hello through fulcrum');
  const exit = await cli.stop();
  assert.equal(exit.code, 0);
});
