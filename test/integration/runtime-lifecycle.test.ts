/**
 * The runtime's life cycle with real processes and signals: graceful stop (SIGTERM,
 * SIGINT, `fulcrum stop`) finishing in-flight requests and exiting 0; `fulcrum status`
 * over a 0600 control socket; a killed worker replaced while the other keeps serving;
 * access logs (combined and JSON, HTTP and TCP) reopened on SIGUSR1 after a logrotate
 * style rename.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, renameSync, statSync } from 'node:fs';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { request } from '../helpers/http-client.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { freePort } from '../helpers/ports.js';
import { runCli, spawnCli } from '../helpers/spawn.js';
import { runtimeBackend, type RuntimeBackend } from '../helpers/backends.js';
import { tempDir } from '../helpers/files.js';

let web: RuntimeBackend;
let tmp: ReturnType<typeof tempDir>;

before(async () => {
  web = await runtimeBackend('W');
  tmp = tempDir('fulcrum-life-');
});
after(async () => {
  await web?.close();
  tmp?.cleanup();
});

function config(name: string, extra = '', listenerExtra = ''): { file: string; socket: string } {
  const socket = tmp.file(`${name}.sock`);
  const file = tmp.write(
    `${name}.yaml`,
    `
listeners:
  - name: www
    bind: 127.0.0.1:0
    routes: [{pool: web}]
${listenerExtra}
pools:
  web:
    servers:
      - {name: W, address: 127.0.0.1:${web.port}}
runtime:
  workers: 2
  shutdown_timeout: 5s
  control_socket: ${socket}
${extra}`,
  );
  return { file, socket };
}


describe('graceful stop', () => {
  for (const how of ['SIGTERM', 'SIGINT', 'fulcrum stop'] as const) {
    test(`${how}: in-flight requests finish, new connections are refused, exit code 0`, { timeout: 30_000 }, async () => {
      const { file, socket } = config(`stop-${how.replace(' ', '-')}`);
      const cli = await spawnCli(['run', '-c', file]);
      try {
        const inFlight = request(cli.port, { path: '/slow?ms=1000', timeoutMs: 10_000 });
        await sleep(200);
        const t0 = Date.now();
        if (how === 'fulcrum stop') {
          const r = await runCli(['stop', '-s', socket]);
          assert.equal(r.code, 0, r.stderr);
        } else {
          process.kill(cli.pid, how);
        }
        await waitFor(() => /finishing in-flight requests/.test(cli.stderr()), 10_000, 'the stop to begin');
        await sleep(100);
        await assert.rejects(request(cli.port, { path: '/' , timeoutMs: 2000 }), 'a new connection is refused while stopping');
        const r = await inFlight;
        assert.equal(r.status, 200);
        assert.equal(r.body.toString(), 'W');
        const exit = await cli.exited;
        assert.deepEqual(exit, { code: 0, signal: null });
        assert.ok(Date.now() - t0 < 5000, 'stopped soon after the last request');
        assert.equal(existsSync(socket), false, 'the control socket is removed');
        for (const pid of cli.workerPids) assert.throws(() => process.kill(pid, 0), 'the workers are gone');
      } finally {
        await cli.stop();
      }
    });
  }
});

test('SIGTERM the moment the listening line is out stops gracefully (5 starts): no moment without a signal handler', { timeout: 60_000 }, async () => {
  const { file } = config('stop-at-once');
  for (let i = 0; i < 5; i++) {
    const cli = await spawnCli(['run', '-c', file]);
    try {
      process.kill(cli.pid, 'SIGTERM');
      // lost, it would wait for the helper's SIGKILL; default-handled, it would die of SIGTERM
      assert.deepEqual(await cli.stop(8000), { code: 0, signal: null }, `start ${i + 1}:\n${cli.stderr()}`);
      assert.match(cli.stderr(), /SIGTERM: finishing in-flight requests/);
    } finally {
      await cli.stop();
    }
  }
});

describe('stop during a reload drain', () => {
  test('a WebSocket kept by a draining generation is cut at shutdown_timeout, not drain_timeout', { timeout: 30_000 }, async () => {
    const { file, socket } = config('drain-stop', '', '');
    tmp.write('drain-stop.yaml', readFileSync(file, 'utf8').replace('shutdown_timeout: 5s', 'shutdown_timeout: 1s'));
    const cli = await spawnCli(['run', '-c', file]);
    try {
      const ws = new WebSocket(`ws://127.0.0.1:${cli.port}/ws`);
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
      });
      const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
      const r = await runCli(['reload', '-s', socket]);
      assert.equal(r.code, 0, r.stderr);
      const t0 = Date.now();
      process.kill(cli.pid, 'SIGTERM');
      const exit = await cli.exited;
      const took = Date.now() - t0;
      assert.deepEqual(exit, { code: 0, signal: null });
      assert.ok(took < 4000, `stopped in ${took} ms (shutdown_timeout 1s, drain_timeout 5m)`);
      await closed;
    } finally {
      await cli.stop();
    }
  });
});

describe('control socket and workers', () => {
  test('status lists workers, listeners and pools; the socket is 0600; a killed worker is replaced', { timeout: 30_000 }, async () => {
    const { file, socket } = config('status');
    const cli = await spawnCli(['run', '-c', file]);
    try {
      assert.equal(cli.workerPids.length, 2);
      assert.equal(statSync(socket).mode & 0o777, 0o600);
      for (let i = 0; i < 10; i++) assert.equal((await request(cli.port)).status, 200);
      await sleep(1200); // counters are pushed every second
      const s = await runCli(['status', '-s', socket]);
      assert.equal(s.code, 0, s.stderr);
      for (const pid of cli.workerPids) assert.match(s.stdout, new RegExp(`worker \\d +pid ${pid} +generation 1`));
      // each worker's memory, as reported with its counters
      assert.match(s.stdout, /worker \d +pid \d+ +generation 1 +active \d+ +rss \d+\.\d MiB +heap \d+\.\d MiB/);
      assert.match(s.stdout, new RegExp(`www +http://127\\.0\\.0\\.1:${cli.port} +active \\d+ +accepted 10`));
      assert.match(s.stdout, new RegExp(`W +127\\.0\\.0\\.1:${web.port} +up +weight 1 +active 0 +total 10`));

      // kill one worker: the other keeps accepting, and a new one takes the slot
      const victim = cli.workerPids[0]!;
      const victimId = Number(new RegExp(`worker (\\d+) \\(pid ${victim},`).exec(cli.stderr())![1]);
      process.kill(victim, 'SIGKILL');
      // a connection the victim accepted before it died dies with it: count from its death
      await waitFor(() => {
        try {
          process.kill(victim, 0);
          return false;
        } catch {
          return true;
        }
      }, 10_000, 'the killed worker to be gone');
      let failures = 0;
      for (let i = 0; i < 40; i++) {
        try {
          assert.equal((await request(cli.port, { timeoutMs: 3000 })).status, 200);
        } catch {
          failures++;
        }
        await sleep(10);
      }
      assert.equal(failures, 0, 'new connections kept being answered');
      await waitFor(() => new RegExp(`worker \\d+ \\(pid ${victim}\\) died \\(SIGKILL\\)`).test(cli.stderr()), 10_000, 'the crash to be logged');
      await waitFor(() => new RegExp(`replaced worker ${victimId}\\b`).test(cli.stderr()), 10_000, 'a replacement worker');
      const json = await runCli(['status', '-s', socket, '--json']);
      const report = JSON.parse(json.stdout) as { data: { memory: { rss: number }; workers: Array<{ pid: number; memory: { rss: number; heapUsed: number } | null }> } };
      assert.ok(report.data.memory.rss > 1e6, 'the primary reports its own memory');
      const pids = report.data.workers.map((w) => w.pid);
      assert.equal(pids.length, 2);
      assert.ok(!pids.includes(victim), 'the dead worker is not listed');
      assert.ok(pids.includes(cli.workerPids[1]!), 'the other worker still serves');
    } finally {
      await cli.stop();
    }
  });

  test('commands without a running instance fail clearly', async () => {
    const r = await runCli(['status', '-s', tmp.file('nobody.sock')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cannot reach the control socket .*nobody\.sock: no running instance answers there/);
  });

  test('reload and status with -c FILE that has problems report the problems, not a missing instance', async () => {
    const bad = tmp.write('bad.yaml', 'listeners:\n  - name: www\n    bind: 127.0.0.1:0\n    routes: [{ pool: nowhere }]\npools: {}\n');
    for (const command of ['reload', 'status']) {
      const r = await runCli([command, '-c', bad]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /bad\.yaml has problems, so its control socket is unknown/);
      assert.match(r.stderr, /bad\.yaml:\d+:\d+: /, 'each problem with file and line');
      assert.doesNotMatch(r.stderr, /no running instance/);
    }
  });
});

describe('access logs', () => {
  test('combined and JSON lines, HTTP and TCP; reopened on SIGUSR1 after a rename', { timeout: 30_000 }, async () => {
    const httpLog = tmp.file('access.log');
    const jsonLog = tmp.file('access.json');
    const tcpPort = await freePort();
    const { file } = config(
      'logs',
      '',
      `    access_log: {path: ${httpLog}, format: combined}
  - name: api
    bind: 127.0.0.1:0
    routes: [{pool: web}]
    access_log: {path: ${jsonLog}, format: json}
  - name: raw
    mode: tcp
    bind: 127.0.0.1:${tcpPort}
    routes: [{pool: web}]
    access_log: {path: ${jsonLog}, format: json}`,
    );
    const cli = await spawnCli(['run', '-c', file], { listeners: 3 });
    try {
      const www = cli.listeners.find((l) => l.name === 'www')!.port;
      const api = cli.listeners.find((l) => l.name === 'api')!.port;
      assert.equal((await request(www, { path: '/a?x=1', headers: { Referer: 'http://ref.example/', 'User-Agent': 'test-agent/1.0' } })).status, 200);
      assert.equal((await request(api, { path: '/b', method: 'POST', body: 'hi' })).status, 200);
      await new Promise<void>((resolve, reject) => {
        const s = net.connect(tcpPort, '127.0.0.1', () => s.end('GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
        s.on('data', () => {});
        s.on('close', () => resolve());
        s.on('error', reject);
      });
      const read = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8') : '');
      await waitFor(() => read(httpLog).includes('/a?x=1') && read(jsonLog).split('\n').length >= 3, 10_000, 'access log lines');
      assert.match(read(httpLog), /^127\.0\.0\.1 - - \[\d\d\/\w{3}\/\d{4}:\d\d:\d\d:\d\d \+0000\] "GET \/a\?x=1 HTTP\/1\.1" 200 \d+ "http:\/\/ref\.example\/" "test-agent\/1\.0"\n$/);
      const lines = read(jsonLog)
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      const post = lines.find((l) => l.listener === 'api')!;
      assert.equal(post.method, 'POST');
      assert.equal(post.target, '/b');
      assert.equal(post.status, 200);
      assert.equal(post.server, 'web/W');
      const tcp = lines.find((l) => l.listener === 'raw')!;
      assert.equal(tcp.server, 'web/W');
      assert.equal(tcp.client, '127.0.0.1');
      assert.ok((tcp.bytes_in as number) > 0 && (tcp.bytes_out as number) > 0, JSON.stringify(tcp));

      // logrotate: move the file away, SIGUSR1, and the next line goes to a new file
      renameSync(httpLog, `${httpLog}.1`);
      process.kill(cli.pid, 'SIGUSR1');
      await waitFor(() => /SIGUSR1: reopening access log files/.test(cli.stderr()), 10_000, 'the reopen');
      await sleep(300);
      // both workers must have reopened: send enough fresh connections to reach each
      for (let i = 0; i < 10; i++) assert.equal((await request(www, { path: `/after-${i}` })).status, 200);
      // each worker flushes its own buffer once a second: wait for both
      await waitFor(() => read(httpLog).split('\n').filter(Boolean).length >= 10, 10_000, 'all ten lines in the new file');
      assert.equal(read(httpLog).split('\n').filter(Boolean).length, 10, 'the new file has exactly the new lines');
      assert.ok(!read(`${httpLog}.1`).includes('/after-'), 'nothing new went to the rotated file');
    } finally {
      await cli.stop();
    }
  });
});
