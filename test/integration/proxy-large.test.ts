/**
 * Volume and memory through the proxy running as a child process (the CLI):
 * 1 GiB upload and download with sha256 on both ends and a bound on the proxy's peak
 * RSS growth, and 10,000 idle client connections with a bound on its RSS. The proxy runs
 * with one worker process, which carries all the traffic: its memory is what is measured
 * (the primary, which holds no connection, is reported beside it).
 *
 * Data are generated on the fly (one 64 KiB pattern written again and again), never
 * held whole in memory. Each transfer is bounded in time and stops early with a clear
 * message if it makes no progress for STALL_MS.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { hashBody, httpBackend, type Backend } from '../helpers/backends.js';
import { request } from '../helpers/http-client.js';
import { sleep } from '../helpers/wait.js';
import { LOOPBACK } from '../helpers/ports.js';
import { mb, openFileLimit, readProcMemory, resetPeakRss, spawnCli, type SpawnedCli } from '../helpers/spawn.js';

const PATTERN = randomBytes(64 * 1024);
const GIB = 1024 * 1024 * 1024;
const TRANSFER_MS = 120_000;
const STALL_MS = 15_000;
const PEAK_GROWTH_LIMIT = 64 * 1024 * 1024;
const IDLE_CONNECTIONS = 10_000;
const IDLE_RSS_LIMIT = 100 * 1024 * 1024;

/**
 * The backend: POST bodies are hashed and answered with {sha, bytes}; GET /download?n=BYTES
 * streams n bytes of the repeated pattern with a Content-Length, hashing them as they
 * are written (the hash is known only after the body, so it is kept in `state.lastDownload`);
 * anything else gets "ok".
 */
async function volumeBackend() {
  const state = { lastDownload: { sha: '', bytes: 0 } };
  const b = await httpBackend((req, res) => {
    const url = new URL(req.url!, 'http://x');
    if (req.method === 'GET' && url.pathname === '/download') {
      req.resume();
      const n = Number(url.searchParams.get('n'));
      const h = createHash('sha256');
      let sent = 0;
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': n });
      const pump = () => {
        while (sent < n) {
          const piece = n - sent >= PATTERN.length ? PATTERN : PATTERN.subarray(0, n - sent);
          h.update(piece);
          sent += piece.length;
          if (!res.write(piece)) {
            res.once('drain', pump);
            return;
          }
        }
        state.lastDownload = { sha: h.digest('hex'), bytes: sent };
        res.end();
      };
      res.on('close', () => res.off('drain', pump));
      pump();
      return;
    }
    hashBody(req, (bytes, sha) => {
      const body = req.method === 'POST' ? JSON.stringify({ sha, bytes }) : 'ok';
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body) });
      res.end(body);
    });
  });
  return Object.assign(b, { state });
}

/** Samples a process's RSS every 100 ms until stopped; returns the largest seen. */
function sampleRss(pid: number): () => number {
  let max = 0;
  const timer = setInterval(() => {
    try {
      max = Math.max(max, readProcMemory(pid).rss);
    } catch {
      /* gone */
    }
  }, 100);
  return () => {
    clearInterval(timer);
    return max;
  };
}

/** Uploads `total` bytes of the pattern; resolves with the client-side hash and the server's answer. */
function upload(port: number, total: number): Promise<{ sent: string; answer: { sha: string; bytes: number }; ms: number }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const h = createHash('sha256');
    let written = 0;
    let progressAt = Date.now();
    const ac = new AbortController();
    const watchdog = setInterval(() => {
      const now = Date.now();
      if (now - started > TRANSFER_MS) ac.abort(new Error(`upload not done after ${TRANSFER_MS} ms (${written} of ${total} bytes written)`));
      else if (now - progressAt > STALL_MS) ac.abort(new Error(`upload stalled: no progress for ${STALL_MS} ms after ${written} of ${total} bytes`));
    }, 500);
    const done = (err: Error | null, v?: { sent: string; answer: { sha: string; bytes: number }; ms: number }) => {
      clearInterval(watchdog);
      if (err) reject(err);
      else resolve(v!);
    };
    const req = http.request(
      { host: LOOPBACK, port, method: 'POST', path: '/upload', agent: false, signal: ac.signal, headers: { 'Content-Length': total, 'Content-Type': 'application/octet-stream' } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          try {
            if (res.statusCode !== 200) throw new Error(`upload answered ${res.statusCode}: ${Buffer.concat(chunks).toString()}`);
            done(null, { sent: h.digest('hex'), answer: JSON.parse(Buffer.concat(chunks).toString()), ms: Date.now() - started });
          } catch (e) {
            done(e as Error);
          }
        });
        res.on('error', (e) => done(e));
      },
    );
    req.on('error', (e) => done(ac.signal.aborted ? (ac.signal.reason as Error) : e));
    const pump = () => {
      progressAt = Date.now();
      while (written < total) {
        const piece = total - written >= PATTERN.length ? PATTERN : PATTERN.subarray(0, total - written);
        h.update(piece);
        written += piece.length;
        if (!req.write(piece)) {
          req.once('drain', pump);
          return;
        }
      }
      req.end();
    };
    pump();
  });
}

/** Downloads `total` bytes; resolves with the client-side hash and byte count. */
function download(port: number, total: number): Promise<{ got: string; bytes: number; ms: number }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const h = createHash('sha256');
    let bytes = 0;
    let progressAt = Date.now();
    const ac = new AbortController();
    const watchdog = setInterval(() => {
      const now = Date.now();
      if (now - started > TRANSFER_MS) ac.abort(new Error(`download not done after ${TRANSFER_MS} ms (${bytes} of ${total} bytes)`));
      else if (now - progressAt > STALL_MS) ac.abort(new Error(`download stalled: no progress for ${STALL_MS} ms after ${bytes} of ${total} bytes`));
    }, 500);
    const done = (err: Error | null) => {
      clearInterval(watchdog);
      if (err) reject(err);
      else resolve({ got: h.digest('hex'), bytes, ms: Date.now() - started });
    };
    const req = http.request({ host: LOOPBACK, port, path: `/download?n=${total}`, agent: false, signal: ac.signal }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        done(new Error(`download answered ${res.statusCode}`));
        return;
      }
      res.on('data', (c: Buffer) => {
        h.update(c);
        bytes += c.length;
        progressAt = Date.now();
      });
      res.on('end', () => done(null));
      res.on('error', (e) => done(ac.signal.aborted ? (ac.signal.reason as Error) : e));
    });
    req.on('error', (e) => done(ac.signal.aborted ? (ac.signal.reason as Error) : e));
    req.end();
  });
}

/** The hash of `total` bytes of the repeated pattern, computed independently of any transfer. */
function patternSha(total: number): string {
  const h = createHash('sha256');
  for (let n = total; n > 0; n -= PATTERN.length) h.update(n >= PATTERN.length ? PATTERN : PATTERN.subarray(0, n));
  return h.digest('hex');
}

describe('1 GiB through the proxy process (fulcrum proxy)', () => {
  let backend: Awaited<ReturnType<typeof volumeBackend>>;
  let proxy: SpawnedCli;
  let expected: string;

  before(async () => {
    backend = await volumeBackend();
    proxy = await spawnCli(['proxy', '--workers', '1', '--listen', '127.0.0.1:0', '--to', `http://127.0.0.1:${backend.port}`]);
    expected = patternSha(GIB);
  });
  after(async () => {
    await proxy?.stop();
    await backend?.close();
  });

  /** Exercises the proxy with small and 1 MiB transfers, ending with a GET so an upstream connection is pooled. */
  async function warmUp(): Promise<number> {
    for (let i = 0; i < 20; i++) assert.equal((await request(proxy.port, { path: `/w${i}` })).status, 200);
    for (let i = 0; i < 3; i++) {
      await download(proxy.port, 1 << 20);
      assert.equal((await request(proxy.port, { path: '/w' })).status, 200); // keep an upstream connection pooled
      await upload(proxy.port, 1 << 20);
    }
    assert.equal((await request(proxy.port, { path: '/w' })).status, 200);
    await sleep(200);
    return readProcMemory(proxy.workerPids[0]!).rss;
  }

  test('1 GiB upload: sha256 equal on both ends; peak RSS growth below 64 MiB', { timeout: TRANSFER_MS + 30_000 }, async (t) => {
    const base = await warmUp();
    const reset = resetPeakRss(proxy.workerPids[0]!);
    const stopSampling = sampleRss(proxy.workerPids[0]!);
    const r = await upload(proxy.port, GIB);
    const sampled = stopSampling();
    const mem = readProcMemory(proxy.workerPids[0]!);
    const growth = mem.peakRss - base;
    t.diagnostic(
      `1 GiB upload in ${r.ms} ms (${((GIB / (1 << 20)) / (r.ms / 1000)).toFixed(0)} MiB/s); proxy RSS after warm-up ${mb(base)}, ` +
        `VmHWM after ${mb(mem.peakRss)} (peak reset: ${reset}), max sampled RSS ${mb(sampled)}, RSS now ${mb(mem.rss)}, growth ${mb(growth)}`,
    );
    assert.equal(r.answer.bytes, GIB);
    assert.equal(r.sent, expected);
    assert.equal(r.answer.sha, expected, 'the backend received exactly what the client sent');
    assert.ok(growth < PEAK_GROWTH_LIMIT, `peak RSS grew by ${mb(growth)} (limit ${mb(PEAK_GROWTH_LIMIT)})`);
  });

  test('1 GiB download: sha256 equal on both ends; peak RSS growth below 64 MiB', { timeout: TRANSFER_MS + 30_000 }, async (t) => {
    const base = await warmUp();
    const reset = resetPeakRss(proxy.workerPids[0]!);
    const stopSampling = sampleRss(proxy.workerPids[0]!);
    const r = await download(proxy.port, GIB);
    const sampled = stopSampling();
    const mem = readProcMemory(proxy.workerPids[0]!);
    const growth = mem.peakRss - base;
    t.diagnostic(
      `1 GiB download in ${r.ms} ms (${((GIB / (1 << 20)) / (r.ms / 1000)).toFixed(0)} MiB/s); proxy RSS after warm-up ${mb(base)}, ` +
        `VmHWM after ${mb(mem.peakRss)} (peak reset: ${reset}), max sampled RSS ${mb(sampled)}, RSS now ${mb(mem.rss)}, growth ${mb(growth)}`,
    );
    assert.equal(r.bytes, GIB);
    assert.deepEqual(backend.state.lastDownload, { sha: expected, bytes: GIB });
    assert.equal(r.got, expected, 'the client received exactly what the backend sent');
    assert.ok(growth < PEAK_GROWTH_LIMIT, `peak RSS grew by ${mb(growth)} (limit ${mb(PEAK_GROWTH_LIMIT)})`);
  });
});

describe(`${IDLE_CONNECTIONS} idle client connections (fulcrum run -c)`, () => {
  const limit = openFileLimit();
  // Client sockets live in this process, the proxy's in the child: each needs
  // IDLE_CONNECTIONS descriptors plus headroom under its own (inherited) limit.
  const need = IDLE_CONNECTIONS + 1000;
  const skip = limit === undefined ? 'cannot read /proc/self/limits' : limit < need ? `open-file limit ${limit} < ${need}: raise it with ulimit -n ${need}` : false;

  let backend: Backend<http.Server>;
  let dir: string;
  before(async () => {
    backend = await volumeBackend();
    dir = mkdtempSync(join(tmpdir(), 'fulcrum-idle-'));
  });
  after(async () => {
    await backend?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  async function startIdleProxy(): Promise<SpawnedCli> {
    const file = join(dir, `idle-${Date.now()}.yaml`);
    writeFileSync(
      file,
      [
        'listeners:',
        '  - name: idle',
        '    bind: 127.0.0.1:0',
        '    routes: [{ pool: web }]',
        'pools:',
        '  web:',
        `    servers: [{ name: S1, address: "127.0.0.1:${backend.port}" }]`,
        'timeouts: { header: 2m, keepalive: 2m }',
        '',
      ].join('\n'),
    );
    return spawnCli(['run', '--workers', '1', '-c', file]);
  }

  /**
   * Opens `n` connections, `batch` at a time; with `withRequest`, each sends one GET and
   * reads its answer before counting as open. Sockets are pushed to `into` at once, so
   * the caller can clean up even on failure. Bounded by `timeoutMs` overall.
   */
  async function openMany(port: number, n: number, withRequest: boolean, into: net.Socket[], timeoutMs = 60_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const one = () =>
      new Promise<void>((resolve, reject) => {
        const sock = net.connect({ host: LOOPBACK, port });
        into.push(sock);
        let got = '';
        const timer = setTimeout(() => reject(new Error(`connection ${into.length}: no ${withRequest ? 'answer' : 'connect'} in 10 s`)), 10_000);
        sock.on('error', (e) => {
          clearTimeout(timer);
          reject(e);
        });
        sock.once('connect', () => {
          if (!withRequest) {
            clearTimeout(timer);
            resolve();
            return;
          }
          sock.write('GET /idle HTTP/1.1\r\nHost: idle.test\r\n\r\n');
        });
        if (withRequest) {
          const onData = (c: Buffer) => {
            got += c.toString('latin1');
            if (got.endsWith('\r\n\r\nok')) {
              clearTimeout(timer);
              sock.off('data', onData);
              if (!got.startsWith('HTTP/1.1 200 ')) reject(new Error(`unexpected answer ${JSON.stringify(got.slice(0, 100))}`));
              else resolve();
            }
          };
          sock.on('data', onData);
        }
      });
    for (let opened = 0; opened < n; ) {
      if (Date.now() > deadline) throw new Error(`only ${opened} of ${n} connections opened in ${timeoutMs} ms`);
      const k = Math.min(200, n - opened);
      await Promise.all(Array.from({ length: k }, one));
      opened += k;
    }
  }

  for (const withRequest of [true, false]) {
    const label = withRequest ? 'one request each, then idle' : 'connected only, no request';
    test(`${label}: proxy RSS stays below 100 MiB`, { skip, timeout: 120_000 }, async (t) => {
      const proxy = await startIdleProxy();
      const socks: net.Socket[] = [];
      t.after(async () => {
        for (const s of socks) s.destroy();
        await proxy.stop();
      });
      for (let i = 0; i < 50; i++) assert.equal((await request(proxy.port, { path: '/warm' })).status, 200);
      await sleep(200);
      const base = readProcMemory(proxy.workerPids[0]!);
      const selfBefore = readProcMemory().rss;
      const started = Date.now();
      await openMany(proxy.port, IDLE_CONNECTIONS, withRequest, socks);
      const openMs = Date.now() - started;
      await sleep(1000);
      const mem = readProcMemory(proxy.workerPids[0]!);
      const closedEarly = socks.filter((s) => s.destroyed || s.readyState !== 'open').length;
      t.diagnostic(
        `${IDLE_CONNECTIONS} connections (${label}) opened in ${openMs} ms; proxy RSS ${mb(base.rss)} before, ${mb(mem.rss)} with them open ` +
          `(${((mem.rss - base.rss) / IDLE_CONNECTIONS / 1024).toFixed(1)} KiB each), VmHWM ${mb(mem.peakRss)}; ` +
          `test process RSS ${mb(selfBefore)} -> ${mb(readProcMemory().rss)}; the primary process (no connections) ${mb(readProcMemory(proxy.pid).rss)}`,
      );
      assert.equal(closedEarly, 0, 'the proxy kept every idle connection open');
      assert.ok(mem.rss < IDLE_RSS_LIMIT, `proxy RSS ${mb(mem.rss)} with ${IDLE_CONNECTIONS} idle connections (limit ${mb(IDLE_RSS_LIMIT)})`);
      // a sample of the idle connections still works
      for (let i = 0; i < 10; i++) {
        const s = socks[Math.floor((i * socks.length) / 10)]!;
        const answer = new Promise<string>((resolve, reject) => {
          let got = '';
          const timer = setTimeout(() => reject(new Error(`idle connection ${i}: no answer: ${JSON.stringify(got)}`)), 5000);
          const onData = (c: Buffer) => {
            got += c.toString('latin1');
            if (got.endsWith('\r\n\r\nok')) {
              clearTimeout(timer);
              s.off('data', onData);
              resolve(got);
            }
          };
          s.on('data', onData);
        });
        s.write('GET /again HTTP/1.1\r\nHost: idle.test\r\n\r\n');
        assert.match(await answer, /^HTTP\/1\.1 200 /);
      }
      // close them all; the proxy must notice and keep serving
      for (const s of socks) s.destroy();
      const closeDeadline = Date.now() + 10_000;
      while (socks.some((s) => !s.closed) && Date.now() < closeDeadline) await sleep(50);
      await sleep(500);
      assert.equal((await request(proxy.port, { path: '/after' })).status, 200);
      t.diagnostic(`proxy RSS after closing them: ${mb(readProcMemory(proxy.workerPids[0]!).rss)}`);
    });
  }
});
