import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { freePort } from '../helpers/runtime.js';
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

/** Connects, writes `text`, half-closes and resolves with everything read until the server's FIN. */
function roundTrip(port: number, text: string): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const c = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    let data = '';
    const timer = setTimeout(() => {
      c.destroy();
      reject(new Error(`no answer to ${text} within 5000 ms (got ${JSON.stringify(data)})`));
    }, 5000);
    c.setEncoding('utf8');
    c.on('data', (d: string) => (data += d));
    c.on('end', () => {
      clearTimeout(timer);
      c.end();
      resolve(data);
    });
    c.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    c.end(text);
  });
}

test('reloads with two workers: each new generation accepts on the same tcp port, a pair open across reloads keeps relaying', { timeout: 60_000 }, async (t) => {
  const named = async (name: string) => {
    const open = new Set<net.Socket>();
    const s = net.createServer({ allowHalfOpen: true }, (sock) => {
      open.add(sock);
      sock.on('close', () => open.delete(sock));
      let got = '';
      sock.setEncoding('utf8');
      sock.on('data', (d: string) => {
        got += d;
        if (got.endsWith('\n')) sock.write(`${name}:${got}`); // a line: answer, stay open
      });
      sock.on('end', () => sock.end(`${name}:${got}`));
      sock.on('error', () => {});
    });
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    t.after(() => {
      for (const sock of open) sock.destroy();
      return new Promise((r) => s.close(r));
    });
    return (s.address() as net.AddressInfo).port;
  };
  const ports = { A: await named('A'), B: await named('B') };
  const dir = mkdtempSync(join(tmpdir(), 'fulcrum-tcp-reload-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'tcp.yaml');
  const yaml = (server: 'A' | 'B', port: number) => `listeners:
  - name: echo
    bind: 127.0.0.1:${port}
    mode: tcp
    routes: [{pool: p}]
pools:
  p:
    servers: [{name: ${server}, address: "127.0.0.1:${ports[server]}"}]
runtime:
  workers: 2
  shutdown_timeout: 10s
`;
  const port = await freePort();
  writeFileSync(file, yaml('A', port));
  const cli = await spawnCli(['run', '-c', file]);
  t.after(() => cli.stop());
  const long = net.connect({ port, host: '127.0.0.1' });
  long.setEncoding('utf8');
  let longData = '';
  long.on('data', (d: string) => (longData += d));
  long.on('error', () => {});
  t.after(() => long.destroy());
  const line = async (text: string) => {
    const want = longData.length + `A:`.length;
    long.write(`${text}\n`);
    const deadline = Date.now() + 5000;
    while (!longData.includes(`${text}\n`) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.ok(longData.length > want && longData.includes(`${text}\n`), `the open pair relays ${text}: ${JSON.stringify(longData)}`);
  };
  await line('before');
  for (let i = 1; i <= 4; i++) {
    const server = i % 2 === 1 ? 'B' : 'A';
    writeFileSync(file, yaml(server, port));
    process.kill(cli.pid, 'SIGHUP');
    const deadline = Date.now() + 10_000;
    while ((cli.stderr().match(/reloaded /g) ?? []).length < i) {
      assert.ok(Date.now() < deadline, `reload ${i} not logged:\n${cli.stderr().slice(-2000)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    // New connections go to the new generation's server: its workers accept on the port.
    for (let k = 0; k < 4; k++) assert.equal(await roundTrip(port, `r${i}.${k}`), `${server}:r${i}.${k}`);
    await line(`after reload ${i}`);
  }
  assert.doesNotMatch(cli.stderr(), /EADDRINUSE|uncaught/);
  long.end();
  const exit = await cli.stop();
  assert.equal(exit.code, 0);
});
