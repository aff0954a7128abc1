import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { freePort } from '../helpers/ports.js';
import { spawnCli, cpuTicks } from '../helpers/spawn.js';
import { serve } from '../helpers/backends.js';
import { tempDir } from '../helpers/files.js';
import { roundTrip } from '../helpers/http-client.js';

/** A server on 127.0.0.1 that runs `handler` per connection; its sockets are destroyed and it is closed after the test. Its port. */
async function backend(t: TestContext, handler: (sock: net.Socket) => void, opts: net.ServerOpts = {}): Promise<number> {
  const server = net.createServer(opts, (sock) => {
    sock.on('error', () => {});
    handler(sock);
  });
  return (await serve(server, { t })).port;
}

/** Writes `yaml` into a new temporary directory (removed after the test); the file's path. */
function configFile(t: TestContext, yaml: string): string {
  const dir = tempDir('fulcrum-tcp-cli-', t).dir;
  const file = join(dir, 'tcp.yaml');
  writeFileSync(file, yaml);
  return file;
}

/** A configuration with one tcp listener `echo` on 127.0.0.1:0 to 127.0.0.1:`port`; `extra` lines go under the pool. */
function echoYaml(port: number, extra = '', workers?: number): string {
  return `listeners:
  - name: echo
    bind: 127.0.0.1:0
    mode: tcp
    routes: [{pool: echo}]
pools:
  echo:${extra}
    servers: [{address: "127.0.0.1:${port}"}]
${workers === undefined ? '' : `runtime:\n  workers: ${workers}\n`}`;
}

test('fulcrum run with only a tcp listener: prints tcp://, relays bytes both ways, stops on SIGTERM', { timeout: 20_000 }, async (t) => {
  const echo = await backend(t, (s) => s.pipe(s));
  const cli = await spawnCli(['run', '-c', configFile(t, echoYaml(echo))]);
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


test('reloads with two workers: each new generation accepts on the same tcp port, a pair open across reloads keeps relaying', { timeout: 60_000 }, async (t) => {
  const named = (name: string) =>
    backend(
      t,
      (sock) => {
        let got = '';
        sock.setEncoding('utf8');
        sock.on('data', (d: string) => {
          got += d;
          if (got.endsWith('\n')) sock.write(`${name}:${got}`); // a line: answer, stay open
        });
        sock.on('end', () => sock.end(`${name}:${got}`));
      },
      { allowHalfOpen: true },
    );
  const ports = { A: await named('A'), B: await named('B') };
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
  const file = configFile(t, yaml('A', port));
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

/** CPU time (user + system, clock ticks) a process has used. */

const PRLIMIT = ['/usr/bin/prlimit', '/bin/prlimit'].find((p) => existsSync(p));

test(
  'out of descriptors: accept failures are logged, the listener rests instead of spinning, and accepts again once descriptors are free',
  { timeout: 60_000, skip: PRLIMIT === undefined ? 'prlimit (util-linux) is not installed' : process.platform !== 'linux' ? 'Linux /proc only' : false },
  async (t) => {
    const echo = await backend(t, (s) => s.pipe(s));
    const cli = await spawnCli(['run', '-c', configFile(t, echoYaml(echo, '\n    retries: 0', 1))]);
    t.after(() => cli.stop());
    const worker = cli.workerPids[0]!;
    const fds = readdirSync(`/proc/${worker}/fd`).length;
    // Room for a few pairs only (each takes two descriptors).
    const r = spawnSync(PRLIMIT!, ['--pid', String(worker), `--nofile=${fds + 6}:`]);
    assert.equal(r.status, 0, `prlimit: ${r.stderr}`);
    const clients: net.Socket[] = [];
    t.after(() => clients.forEach((c) => c.destroy()));
    const echoed = (c: net.Socket, text: string) =>
      new Promise<boolean>((resolve) => {
        let got = '';
        const timer = setTimeout(() => resolve(false), 1500);
        c.on('data', (d: Buffer) => {
          got += d.toString();
          if (got === text) {
            clearTimeout(timer);
            resolve(true);
          }
        });
        c.on('close', () => {
          clearTimeout(timer);
          resolve(false);
        });
        c.write(text);
      });
    for (let i = 0; i < 12; i++) {
      const c = net.connect(cli.port, '127.0.0.1');
      c.on('error', () => {});
      clients.push(c);
    }
    const results = await Promise.all(clients.map((c, i) => echoed(c, `c${i}`)));
    const served = results.filter(Boolean).length;
    assert.ok(served >= 1 && served < 12, `with a few descriptors left, some connections are served and the rest are not (${served} of 12)`);
    // The worker keeps running and does not spin on the listening socket it cannot accept from.
    const before = cpuTicks(worker);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const used = cpuTicks(worker) - before;
    assert.ok(used < 30, `the worker used ${used} clock ticks in 1 s with accepts failing`);
    const logDeadline = Date.now() + 5000;
    while (!/EMFILE/.test(cli.stderr()) && Date.now() < logDeadline) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.match(cli.stderr(), /EMFILE/);
    // Descriptors back: new connections work again.
    for (const c of clients) c.destroy();
    const deadline = Date.now() + 10_000;
    let ok = false;
    while (!ok && Date.now() < deadline) {
      const c = net.connect(cli.port, '127.0.0.1');
      c.on('error', () => {});
      ok = await echoed(c, 'again');
      c.destroy();
    }
    assert.ok(ok, 'a new connection is echoed once descriptors are free');
    const exit = await cli.stop();
    assert.equal(exit.code, 0);
  },
);
