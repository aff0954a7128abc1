/**
 * Hot reload with real processes: `fulcrum run` (a primary and two workers), reloaded
 * 20 times by SIGHUP and by `fulcrum reload` while a bounded keep-alive load runs and a
 * WebSocket stays open; a reload that removes a server lets its in-flight request
 * finish; a configuration with problems is refused and the old one stays in force.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { request, loadLoop } from '../helpers/http-client.js';
import { sleep } from '../helpers/wait.js';
import { freePort } from '../helpers/ports.js';
import { runCli, spawnCli, type SpawnedCli } from '../helpers/spawn.js';
import { runtimeBackend, type RuntimeBackend } from '../helpers/backends.js';
import { tempDir } from '../helpers/files.js';

const RELOADS = 20;

describe('hot reload', () => {
  let a: RuntimeBackend, b: RuntimeBackend, c: RuntimeBackend, d: RuntimeBackend;
  let tmp: ReturnType<typeof tempDir>;
  let port: number;
  let cli: SpawnedCli;
  let file: string;
  let socket: string;

  /** The configuration: pool web over A and B (weights vary), pool slow over `slow` (for /slow). */
  const yaml = (opts: { weightB?: number; slow: RuntimeBackend[] }) => `
listeners:
  - name: www
    bind: 127.0.0.1:${port}
    routes:
      - path: /slow
        pool: slow
      - pool: web
pools:
  web:
    servers:
      - {name: A, address: 127.0.0.1:${a.port}}
      - {name: B, address: 127.0.0.1:${b.port}, weight: ${opts.weightB ?? 1}}
  slow:
    servers:
${opts.slow.map((s) => `      - {name: ${s.name}, address: 127.0.0.1:${s.port}}`).join('\n')}
runtime:
  workers: 2
  shutdown_timeout: 2s
  control_socket: ${socket}
`;

  before(async () => {
    [a, b, c, d] = await Promise.all(['A', 'B', 'C', 'D'].map(runtimeBackend));
    tmp = tempDir('fulcrum-reload-');
    socket = tmp.file('control.sock');
    port = await freePort();
    file = tmp.write('lb.yaml', yaml({ slow: [c] }));
    cli = await spawnCli(['run', '-c', file]);
  });

  after(async () => {
    await cli?.stop(10_000);
    await Promise.all([a, b, c, d].map((s) => s?.close()));
    tmp?.cleanup();
  });

  /** Resolves once the log shows `n` reloads done. */
  async function reloadsLogged(n: number, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while ((cli.stderr().match(/reloaded /g) ?? []).length < n) {
      if (Date.now() > deadline) throw new Error(`${n} reloads not logged within ${timeoutMs} ms:\n${cli.stderr().slice(-3000)}`);
      await sleep(20);
    }
  }

  test(`${RELOADS} reloads under load: no failed request, the WebSocket survives`, { timeout: 120_000 }, async (t) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    let closed = false;
    ws.on('close', () => (closed = true));
    const echo = (text: string) =>
      new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no echo of ${text}`)), 3000);
        ws.once('message', (m) => {
          clearTimeout(timer);
          resolve(String(m));
        });
        ws.send(text);
      });
    const wsServer = (await echo('hello')).split(':')[0];

    const load = loadLoop(port, { concurrency: 4, maxMs: 90_000, maxRequests: 200_000 });
    const started = Date.now();
    for (let i = 1; i <= RELOADS; i++) {
      tmpRewrite(i);
      if (i % 2 === 1) {
        process.kill(cli.pid, 'SIGHUP');
        await reloadsLogged(i);
      } else {
        const r = await runCli(['reload', '-s', socket]);
        assert.equal(r.code, 0, `fulcrum reload: ${r.stderr}`);
        assert.match(r.stdout, /reloaded/);
        await reloadsLogged(i);
      }
      assert.equal(await echo(`after reload ${i}`), `${wsServer}:after reload ${i}`, 'the WebSocket still answers');
    }
    const result = await load.stop();
    t.diagnostic(`${RELOADS} reloads in ${Date.now() - started} ms; ${result.ok} requests answered 200, ${result.failed} failed ${JSON.stringify(result.errors)}`);
    assert.ok(result.ok > 100, `the load ran (${result.ok} requests)`);
    assert.equal(result.failed, 0, `failed requests: ${JSON.stringify(result.errors)}`);
    assert.equal(closed, false, 'the WebSocket was not closed');
    ws.close();

    function tmpRewrite(i: number) {
      tmp.write('lb.yaml', yaml({ weightB: 1 + (i % 3), slow: [c] }));
    }
  });

  test('counters survive a reload: the old workers\' counts stay in the totals', { timeout: 30_000 }, async () => {
    /** A's and B's totals and the listener's accepted count, as fulcrum status --json gives them. */
    const totals = async () => {
      const r = await runCli(['status', '-s', socket, '--json']);
      assert.equal(r.code, 0, r.stderr);
      const data = (JSON.parse(r.stdout) as { data: { workers: Array<{ draining: boolean }>; listeners: Array<{ accepted: number }>; pools: Array<{ name: string; servers: Array<{ total: number }> }> } }).data;
      const web = data.pools.find((p) => p.name === 'web')!;
      return { requests: web.servers.reduce((n, s) => n + s.total, 0), accepted: data.listeners[0]!.accepted, draining: data.workers.filter((w) => w.draining).length };
    };
    await sleep(1100); // counters are pushed every second
    const start = await totals();
    for (let i = 0; i < 20; i++) assert.equal((await request(port, { path: `/c${i}` })).status, 200);
    for (let i = 0; i < 30 && (await totals()).requests < start.requests + 20; i++) await sleep(100);
    const before = (cli.stderr().match(/reloaded /g) ?? []).length;
    tmp.write('lb.yaml', yaml({ weightB: 3, slow: [c] })); // a changed configuration: new workers
    const r = await runCli(['reload', '-s', socket]);
    assert.equal(r.code, 0, r.stderr);
    await reloadsLogged(before + 1);
    // the old workers drain and exit; the new ones report
    for (let i = 0; i < 50 && (await totals()).draining > 0; i++) await sleep(100);
    await sleep(1100);
    const after = await totals();
    assert.equal(after.draining, 0, 'the old workers are gone');
    assert.ok(after.requests >= start.requests + 20, `totals kept after the reload: ${JSON.stringify({ start, after })}`);
    assert.ok(after.accepted >= start.accepted + 20, `accepted kept after the reload: ${JSON.stringify({ start, after })}`);
  });

  test('a reload that removes a server lets its in-flight request finish', { timeout: 30_000 }, async () => {
    const before = (cli.stderr().match(/reloaded /g) ?? []).length;
    const inFlight = request(port, { path: '/slow?ms=1500', timeoutMs: 10_000 });
    await sleep(300); // the request is at C now
    tmp.write('lb.yaml', yaml({ slow: [d] }));
    const r = await runCli(['reload', '-s', socket]);
    assert.equal(r.code, 0, r.stderr);
    await reloadsLogged(before + 1);
    const next = await request(port, { path: '/slow?ms=10' });
    assert.equal(next.body.toString(), 'D', 'new requests go to the new server');
    const old = await inFlight;
    assert.equal(old.status, 200);
    assert.equal(old.body.toString(), 'C', 'the removed server finished its request');
  });

  test('stop right after a reload: idle keep-alive connections to the old workers do not hold it up', { timeout: 30_000 }, async () => {
    // a client keeps an idle keep-alive connection to a worker of the current generation
    const sock = await import('node:net').then((net) => net.connect(port, '127.0.0.1'));
    await new Promise((r) => sock.once('connect', r));
    sock.on('error', () => {});
    sock.write('GET / HTTP/1.1\r\nHost: www\r\n\r\n');
    await new Promise((r) => sock.once('data', r));
    // reload: that worker drains and keeps the idle connection until its next request or keep-alive timeout
    const r = await runCli(['reload', '-s', socket]);
    assert.equal(r.code, 0, r.stderr);
    const t0 = Date.now();
    const stopped = await cli.stop(10_000);
    const took = Date.now() - t0;
    sock.destroy();
    assert.equal(stopped.code, 0);
    assert.ok(took < 2000, `stopped in ${took} ms (shutdown_timeout 2s)`);
    // the next tests need a running instance
    cli = await spawnCli(['run', '-c', file]);
  });

  test('a configuration with problems is refused and the running one stays in force', { timeout: 30_000 }, async () => {
    tmp.write('lb.yaml', yaml({ slow: [d] }).replace('workers: 2', 'workers: 2\n  bogus_key: 1').replace('weight: 1', 'weight: 999'));
    const r = await runCli(['reload', '-s', socket]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /lb\.yaml:\d+:\d+: runtime\.bogus_key: unknown key/);
    assert.match(r.stderr, /lb\.yaml:\d+:\d+: pools\.web\.servers\[1\]\.weight: must be an integer from 0 to 256, got 999/);
    assert.match(r.stderr, /reload refused: 2 problem\(s\)/);
    assert.match(cli.stderr(), /reload refused/);
    // still the last good configuration: /slow goes to D
    assert.equal((await request(port, { path: '/slow?ms=1' })).body.toString(), 'D');
    assert.equal((await request(port, { path: '/' })).status, 200);
  });
});
