/**
 * HTTP and HTTPS listeners on the addon's streams when the worker runs out of file
 * descriptors (prlimit on the worker): accept failures are logged by name, the listener
 * rests instead of spinning on a socket it cannot accept from, and both serve again once
 * descriptors are free. tcp-cli.test.ts checks the same for tcp listeners.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import tls from 'node:tls';
import { nativeRelayMissing } from '../../src/io/native-relay.js';
import { NO_OPENSSL, TestPki } from '../helpers/certs.js';
import { httpBackend } from '../helpers/backends.js';
import { spawnCli, cpuTicks } from '../helpers/spawn.js';
import { tempDir } from '../helpers/files.js';

const PRLIMIT = ['/usr/bin/prlimit', '/bin/prlimit'].find((p) => existsSync(p));
const skip =
  PRLIMIT === undefined
    ? 'prlimit (util-linux) is not installed'
    : process.platform !== 'linux'
      ? 'Linux /proc only'
      : NO_OPENSSL || (nativeRelayMissing() !== '' ? `no native sockets: ${nativeRelayMissing()}` : false);

/** CPU time (user + system, clock ticks) a process has used. */

/** One GET on a new connection (TLS when `secure`): whether it was answered 200 within 1.5 s. The socket stays open. */
function get(port: number, secure: boolean, keep: net.Socket[]): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = secure ? tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, servername: 'www.example.com', ALPNProtocols: ['http/1.1'] }) : net.connect(port, '127.0.0.1');
    keep.push(sock);
    let got = '';
    const timer = setTimeout(() => resolve(false), 1500);
    sock.on('error', () => {});
    sock.on(secure ? 'secureConnect' : 'connect', () => sock.write('GET / HTTP/1.1\r\nHost: www.example.com\r\n\r\n'));
    sock.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      if (got.startsWith('HTTP/1.1 200') && got.endsWith('ok')) {
        clearTimeout(timer);
        resolve(true);
      }
    });
    sock.on('close', () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
}

test(
  'HTTP and HTTPS listeners out of descriptors: EMFILE is logged, the worker rests instead of spinning, and both serve again once descriptors are free',
  { timeout: 60_000, skip },
  async (t) => {
    const pki = new TestPki(t);
    const leaf = pki.leaf(['www.example.com']);
    const backend = await httpBackend((req, res) => {
      req.resume();
      res.end('ok');
    });
    t.after(() => backend.close());
    const dir = tempDir('fulcrum-http-fds-', t).dir;
    const file = join(dir, 'fulcrum.yaml');
    writeFileSync(
      file,
      [
        'listeners:',
        '  - name: plain',
        '    bind: 127.0.0.1:0',
        '    routes: [{ pool: web }]',
        '  - name: secure',
        '    bind: 127.0.0.1:0',
        `    tls: { certificates: [{ cert: "${leaf.cert}", key: "${leaf.key}" }] }`,
        '    routes: [{ pool: web }]',
        'pools:',
        '  web:',
        '    retries: 0',
        `    servers: [{ address: "127.0.0.1:${backend.port}" }]`,
        'runtime:',
        '  workers: 1',
        '',
      ].join('\n'),
    );
    const cli = await spawnCli(['run', '-c', file], { listeners: 2 });
    t.after(() => cli.stop());
    const [plain, secure] = [cli.listeners.find((l) => l.name === 'plain')!.port, cli.listeners.find((l) => l.name === 'secure')!.port];
    const clients: net.Socket[] = [];
    t.after(() => clients.forEach((c) => c.destroy()));
    // one of each first, so the pool holds a server connection
    assert.equal(await get(plain, false, clients), true);
    assert.equal(await get(secure, true, clients), true);
    const worker = cli.workerPids[0]!;
    const fds = readdirSync(`/proc/${worker}/fd`).length;
    // room for a few connections only
    const r = spawnSync(PRLIMIT!, ['--pid', String(worker), `--nofile=${fds + 4}:`]);
    assert.equal(r.status, 0, `prlimit: ${r.stderr}`);
    const results = await Promise.all([...Array.from({ length: 8 }, () => get(plain, false, clients)), ...Array.from({ length: 8 }, () => get(secure, true, clients))]);
    const served = results.filter(Boolean).length;
    assert.ok(served < results.length, `with 4 descriptors left, not all 16 connections are served (${served} were)`);
    // the worker keeps running and does not spin on listening sockets it cannot accept from
    const before = cpuTicks(worker);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const used = cpuTicks(worker) - before;
    assert.ok(used < 30, `the worker used ${used} clock ticks in 1 s with accepts failing`);
    const logDeadline = Date.now() + 5000;
    while (!/accept failed: EMFILE/.test(cli.stderr()) && Date.now() < logDeadline) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.match(cli.stderr(), /accept failed: EMFILE/);
    // descriptors back: both listeners serve new connections again
    for (const c of clients.splice(0)) c.destroy();
    for (const [port, tlsOn] of [
      [plain, false],
      [secure, true],
    ] as const) {
      const deadline = Date.now() + 10_000;
      let ok = false;
      while (!ok && Date.now() < deadline) ok = await get(port, tlsOn, clients);
      assert.ok(ok, `a new ${tlsOn ? 'HTTPS' : 'HTTP'} request is answered once descriptors are free`);
    }
    assert.doesNotMatch(cli.stderr(), /internal error|uncaught/i);
    const exit = await cli.stop();
    assert.equal(exit.code, 0);
  },
);
