/**
 * The TCP and HTTP probes against real sockets on 127.0.0.1 (port 0): verdicts and
 * details, the exact request sent, every body framing, timeouts, garbage and resets,
 * and no handle left behind after a check. Every wait is bounded.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { describe, test } from 'node:test';
import type { HealthConfig, HttpCheckConfig } from '../../src/config/types.js';
import { createProbe, type Probe, type ProbeResult, type ProbeTarget } from '../../src/health/probe.js';
import { HttpProbe } from '../../src/health/probes/http.js';
import { TcpProbe } from '../../src/health/probes/tcp.js';
import { sleep } from '../helpers/wait.js';
import { closedPort, LOOPBACK } from '../helpers/ports.js';
import { serve } from '../helpers/backends.js';


interface RawServer {
  port: number;
  target: ProbeTarget;
  /** Request heads received, in order. */
  heads: string[];
  close(): Promise<void>;
}

/**
 * A raw TCP server: `onRequest` is called with the socket once a request head has
 * arrived (or at once when `atConnect`). Sockets are destroyed when the peer leaves
 * and on close().
 */
async function rawServer(onRequest: (sock: net.Socket, head: string) => void, atConnect = false): Promise<RawServer> {
  const heads: string[] = [];
  const server = net.createServer((sock) => {
    sock.on('error', () => sock.destroy());
    sock.on('end', () => sock.destroy());
    if (atConnect) {
      sock.resume(); // read (and drop) the request, so the peer's FIN is seen
      return onRequest(sock, '');
    }
    let buf = '';
    const onData = (d: Buffer) => {
      buf += d.toString('latin1');
      const end = buf.indexOf('\r\n\r\n');
      if (end === -1) return;
      sock.off('data', onData);
      const head = buf.slice(0, end + 4);
      heads.push(head);
      onRequest(sock, head);
    };
    sock.on('data', onData);
  });
  const b = await serve(server);
  return { port: b.port, target: { host: LOOPBACK, port: b.port }, heads, close: () => b.close() };
}

/** Handles a check may create: sockets, connect requests, DNS requests, timers. */
const WATCHED = ['TCPSocketWrap', 'TCPWRAP', 'TCPConnectWrap', 'ConnectWrap', 'GetAddrInfoReqWrap', 'Timeout'];

/** Counts of the watched handles, taken from a setImmediate so no poll timer is live. */
async function resources(): Promise<Map<string, number>> {
  await new Promise<void>((resolve) => setImmediate(resolve));
  const counts = new Map<string, number>();
  for (const name of process.getActiveResourcesInfo()) {
    if (WATCHED.includes(name)) counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  return counts;
}

function show(m: Map<string, number>): string {
  return [...m].map(([k, v]) => `${k} x${v}`).join(', ') || 'none';
}

/**
 * Resolves once no watched handle exceeds its `baseline` count (handles of earlier
 * tests may still be closing, so fewer is fine); fails after `ms`.
 */
async function settlesTo(baseline: Map<string, number>, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const now = await resources();
    if ([...now].every(([k, v]) => v <= (baseline.get(k) ?? 0))) return;
    if (Date.now() > deadline) assert.fail(`handles left after the check: before ${show(baseline)}; after ${show(now)}`);
    await new Promise<void>((resolve) => setTimeout(resolve, 5));
  }
}

/** Runs one check, then asserts that it left no socket or timer behind. */
async function check(probe: Probe, target: ProbeTarget, timeoutMs = 2000): Promise<ProbeResult & { ms: number }> {
  const baseline = await resources();
  const started = Date.now();
  const r = await probe.check(target, timeoutMs);
  const ms = Date.now() - started;
  await settlesTo(baseline);
  return { ...r, ms };
}

function httpCfg(over: Partial<HttpCheckConfig> = {}): HttpCheckConfig {
  return { method: 'GET', path: '/', host: null, expectStatus: [[200, 399]], bodyMatch: null, ...over };
}


describe('tcp probe', () => {
  test('a listening port passes', async (t) => {
    const s = await rawServer(() => {}, true);
    t.after(() => s.close());
    const r = await check(new TcpProbe(), s.target);
    assert.deepEqual({ ok: r.ok, detail: r.detail }, { ok: true, detail: 'connected' });
  });

  test('a closed port fails with connect ECONNREFUSED', async () => {
    const r = await check(new TcpProbe(), { host: LOOPBACK, port: await closedPort() });
    assert.deepEqual({ ok: r.ok, detail: r.detail }, { ok: false, detail: 'connect ECONNREFUSED' });
  });

  test('an invalid port fails without throwing', async () => {
    const r = await check(new TcpProbe(), { host: LOOPBACK, port: 70000 });
    assert.equal(r.ok, false);
    assert.equal(r.detail, 'connect: invalid port 70000');
  });

  test('a listener whose accept queue is full: the connect times out', async (t) => {
    // Node accepts eagerly, so a listener that never accepts comes from python3 (listen
    // backlog 0); once its queue is full the kernel drops further SYNs.
    if (spawnSync('python3', ['-c', 'pass']).status !== 0) return t.skip('python3 is not available to hold a listener that never accepts');
    const child: ChildProcess = spawn('python3', [
      '-c',
      "import socket,time\ns=socket.socket()\ns.bind(('127.0.0.1',0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(20)",
    ]);
    t.after(() => child.kill('SIGKILL'));
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('python3 listener did not start')), 5000);
      child.stdout!.once('data', (d: Buffer) => {
        clearTimeout(timer);
        resolve(Number(d.toString().trim()));
      });
    });
    const fillers: net.Socket[] = [];
    t.after(() => fillers.forEach((f) => f.destroy()));
    for (let i = 0; i < 4; i++) {
      const f = net.connect(port, LOOPBACK);
      f.on('error', () => {});
      fillers.push(f);
    }
    await sleep(100);
    const r = await new TcpProbe().check({ host: LOOPBACK, port }, 300);
    assert.equal(r.ok, false);
    assert.equal(r.detail, 'timeout after 300 ms (waiting for connect)');
  });
});

describe('http probe', () => {
  test('sends METHOD PATH HTTP/1.1 with Host (target host:port), Connection: close and User-Agent', async (t) => {
    const s = await rawServer((sock) => sock.end('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'));
    t.after(() => s.close());
    const r = await check(new HttpProbe(httpCfg({ path: '/healthz?full=1' })), s.target);
    assert.deepEqual({ ok: r.ok, detail: r.detail }, { ok: true, detail: 'status 200' });
    assert.equal(
      s.heads[0],
      `GET /healthz?full=1 HTTP/1.1\r\nHost: 127.0.0.1:${s.port}\r\nConnection: close\r\nUser-Agent: fulcrum-health\r\nAccept: */*\r\n\r\n`,
    );
  });

  test('the configured Host and method are used', async (t) => {
    const s = await rawServer((sock) => sock.end('HTTP/1.1 204 No Content\r\n\r\n'));
    t.after(() => s.close());
    const r = await check(new HttpProbe(httpCfg({ method: 'HEAD', host: 'www.example.com' })), s.target);
    assert.equal(r.ok, true);
    assert.match(s.heads[0]!, /^HEAD \/ HTTP\/1\.1\r\nHost: www\.example\.com\r\n/);
  });

  for (const c of [
    { status: 200, ranges: [[200, 399]] as Array<[number, number]>, ok: true, detail: 'status 200' },
    { status: 399, ranges: [[200, 399]] as Array<[number, number]>, ok: true, detail: 'status 399' },
    { status: 503, ranges: [[200, 399]] as Array<[number, number]>, ok: false, detail: 'status 503 not in 200-399' },
    { status: 404, ranges: [[200, 299], [404, 404]] as Array<[number, number]>, ok: true, detail: 'status 404' },
    { status: 500, ranges: [[200, 299], [404, 404]] as Array<[number, number]>, ok: false, detail: 'status 500 not in 200-299,404' },
  ]) {
    test(`status ${c.status} against ${JSON.stringify(c.ranges)}: ${c.ok ? 'pass' : 'fail'}`, async (t) => {
      const s = await rawServer((sock) => sock.end(`HTTP/1.1 ${c.status} Whatever\r\nContent-Length: 2\r\n\r\nhi`));
      t.after(() => s.close());
      const r = await check(new HttpProbe(httpCfg({ expectStatus: c.ranges })), s.target);
      assert.deepEqual({ ok: r.ok, detail: r.detail }, { ok: c.ok, detail: c.detail });
    });
  }

  test('body match with Content-Length, arriving in pieces', async (t) => {
    const s = await rawServer(async (sock) => {
      sock.write('HTTP/1.1 200 OK\r\nContent-Length: 17\r\n\r\nstatus: re');
      await sleep(20);
      if (!sock.destroyed) sock.end('ady\r\nxx');
    });
    t.after(() => s.close());
    const r = await check(new HttpProbe(httpCfg({ bodyMatch: 'ready' })), s.target);
    assert.deepEqual({ ok: r.ok, detail: r.detail }, { ok: true, detail: 'status 200, body contains "ready"' });
    const r2 = await check(new HttpProbe(httpCfg({ bodyMatch: 'nope' })), s.target);
    assert.deepEqual({ ok: r2.ok, detail: r2.detail }, { ok: false, detail: 'body does not contain "nope"' });
  });

  test('body match with a chunked body (the match split across chunks)', async (t) => {
    const s = await rawServer(async (sock) => {
      sock.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nall ');
      await sleep(10);
      if (!sock.destroyed) sock.write('\r\n3\r\nrea\r\n');
      await sleep(10);
      if (!sock.destroyed) sock.end('2\r\ndy\r\n0\r\n\r\n');
    });
    t.after(() => s.close());
    const r = await check(new HttpProbe(httpCfg({ bodyMatch: 'all ready' })), s.target);
    assert.deepEqual({ ok: r.ok, detail: r.detail }, { ok: true, detail: 'status 200, body contains "all ready"' });
    const r2 = await check(new HttpProbe(httpCfg({ bodyMatch: '3\r\nrea' })), s.target);
    assert.equal(r2.ok, false, 'chunk framing is not body');
  });

  test('body match with a close-delimited body', async (t) => {
    const s = await rawServer(async (sock) => {
      sock.write('HTTP/1.0 200 OK\r\nServer: old\r\n\r\nwarming');
      await sleep(20);
      if (!sock.destroyed) sock.end(' up');
    });
    t.after(() => s.close());
    const r = await check(new HttpProbe(httpCfg({ bodyMatch: 'up' })), s.target);
    assert.deepEqual({ ok: r.ok, detail: r.detail }, { ok: true, detail: 'status 200, body contains "up"' });
    const r2 = await check(new HttpProbe(httpCfg({ bodyMatch: 'ready' })), s.target);
    assert.deepEqual({ ok: r2.ok, detail: r2.detail }, { ok: false, detail: 'body does not contain "ready"' });
  });

  test('body match against node:http (chunked, keep-alive refused by Connection: close)', async (t) => {
    const server = http.createServer((_req, res) => {
      res.write('{"status":');
      setTimeout(() => res.end('"ready"}'), 10);
    });
    const { port } = await serve(server, { t });
    const r = await check(new HttpProbe(httpCfg({ bodyMatch: '"ready"' })), { host: LOOPBACK, port });
    assert.deepEqual({ ok: r.ok, detail: r.detail }, { ok: true, detail: 'status 200, body contains "\\"ready\\""' });
  });

  test('a server that never answers: timeout, as a whole, after timeoutMs', async (t) => {
    const s = await rawServer(() => {});
    t.after(() => s.close());
    const r = await check(new HttpProbe(httpCfg()), s.target, 200);
    assert.deepEqual({ ok: r.ok, detail: r.detail }, { ok: false, detail: 'timeout after 200 ms (waiting for status line)' });
    assert.ok(r.ms >= 190 && r.ms < 1500, `took ${r.ms} ms`);
  });

  test('a server that trickles a body forever: the timeout covers the whole exchange', async (t) => {
    const s = await rawServer((sock) => {
      sock.write('HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n');
      const timer = setInterval(() => (sock.destroyed ? clearInterval(timer) : sock.write('.')), 10);
      sock.on('close', () => clearInterval(timer));
    });
    t.after(() => s.close());
    const r = await check(new HttpProbe(httpCfg({ bodyMatch: 'ready' })), s.target, 250);
    assert.equal(r.ok, false);
    assert.match(r.detail, /^timeout after 250 ms \(waiting for body \(\d+ bytes read\)\)$/);
    assert.ok(r.ms >= 240 && r.ms < 1500, `took ${r.ms} ms`);
  });

  test('a server that sends garbage fails with what it sent', async (t) => {
    const s = await rawServer((sock) => sock.end('SSH-2.0-OpenSSH_9.2\r\n'), true);
    t.after(() => s.close());
    const r = await check(new HttpProbe(httpCfg()), s.target);
    assert.equal(r.ok, false);
    assert.match(r.detail, /^not an HTTP\/1\.x response: "SSH/);
  });

  test('a malformed status line fails', async (t) => {
    const s = await rawServer((sock) => sock.end('HTTP/1.1 OK 200\r\n\r\n'));
    t.after(() => s.close());
    const r = await check(new HttpProbe(httpCfg()), s.target);
    assert.deepEqual({ ok: r.ok, detail: r.detail }, { ok: false, detail: 'malformed status line: "HTTP/1.1 OK 200"' });
  });

  test('a server that closes without answering', async (t) => {
    const s = await rawServer((sock) => sock.end());
    t.after(() => s.close());
    const r = await check(new HttpProbe(httpCfg()), s.target);
    assert.deepEqual({ ok: r.ok, detail: r.detail }, { ok: false, detail: 'connection closed without a response' });
  });

  test('a server that resets the connection', async (t) => {
    const s = await rawServer((sock) => sock.resetAndDestroy());
    t.after(() => s.close());
    const r = await check(new HttpProbe(httpCfg()), s.target);
    assert.equal(r.ok, false);
    assert.match(r.detail, /^(read ECONNRESET|connection closed without a response)$/);
  });

  test('refused: connect ECONNREFUSED', async () => {
    const r = await check(new HttpProbe(httpCfg()), { host: LOOPBACK, port: await closedPort() });
    assert.deepEqual({ ok: r.ok, detail: r.detail }, { ok: false, detail: 'connect ECONNREFUSED' });
  });

  test('many concurrent checks through one probe: all pass, nothing left behind', async (t) => {
    const s = await rawServer((sock) => setTimeout(() => sock.end('HTTP/1.1 200 OK\r\n\r\n'), 5));
    t.after(() => s.close());
    const probe = new HttpProbe(httpCfg());
    const baseline = await resources();
    const results = await Promise.all(Array.from({ length: 20 }, () => probe.check(s.target, 2000)));
    assert.deepEqual(new Set(results.map((r) => `${r.ok} ${r.detail}`)), new Set(['true status 200']));
    await settlesTo(baseline);
  });
});

describe('createProbe', () => {
  const base: HealthConfig = {
    type: 'tcp',
    intervalMs: 1000,
    fastIntervalMs: 250,
    jitter: 0.1,
    timeoutMs: 500,
    rise: 2,
    fall: 3,
    initial: 'up',
    http: httpCfg(),
  };
  test('picks the probe by type', () => {
    assert.ok(createProbe(base) instanceof TcpProbe);
    assert.ok(createProbe({ ...base, type: 'http' }) instanceof HttpProbe);
  });
  test('an HTTP check that cannot be sent as configured is refused when built', () => {
    assert.throws(() => new HttpProbe(httpCfg({ method: 'GET /x' })), TypeError);
    assert.throws(() => new HttpProbe(httpCfg({ path: '/a b' })), TypeError);
    assert.throws(() => new HttpProbe(httpCfg({ host: 'a\r\nX-Evil: 1' })), TypeError);
  });
});
