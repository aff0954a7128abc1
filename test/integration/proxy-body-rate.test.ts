/**
 * The request-body budget (timeouts.body plus one second per limits.body_min_rate
 * bytes), over HTTP/1.1 and HTTP/2 alike: a POST trickling a byte at a time gets 408
 * once its budget is spent, although each byte would restart the client timeout; a body
 * that keeps up the rate is relayed whole, however long it takes.
 */
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { test, type TestContext } from 'node:test';
import { h2Session } from '../helpers/http-client.js';
import { echoBackend } from '../helpers/backends.js';
import { proxyFor } from '../helpers/proxies.js';
import { sleep } from '../helpers/wait.js';

const LISTENER = ['    http2: { h2c: true }', '    timeouts: { body: 300ms, client: 5s }', '    limits: { body_min_rate: 2KiB }'];

async function setup(t: TestContext): Promise<number> {
  const s1 = await echoBackend(t, 'S1');
  const yaml = ['listeners:', '  - name: www', '    bind: 127.0.0.1:0', '    routes: [{ pool: web }]', ...LISTENER, 'pools:', '  web:', `    servers: [{ address: "127.0.0.1:${s1.port}" }]`, ''].join('\n');
  return (await proxyFor(t, yaml)).port;
}


/** Sends a POST of `total` bytes over HTTP/1.1 in pieces of `piece` bytes every `everyMs`; resolves with the status and when it came. */
async function h1Post(port: number, total: number, piece: number, everyMs: number, t: TestContext): Promise<{ status: number; ms: number }> {
  const sock = net.connect(port, '127.0.0.1');
  t.after(() => sock.destroy());
  sock.on('error', () => {});
  await new Promise((r) => sock.once('connect', r));
  const t0 = Date.now();
  let got = '';
  const answered = new Promise<{ status: number; ms: number }>((resolve) => {
    sock.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      const m = /^HTTP\/1\.1 (\d{3})/.exec(got);
      if (m) resolve({ status: Number(m[1]), ms: Date.now() - t0 });
    });
    sock.on('close', () => resolve({ status: 0, ms: Date.now() - t0 }));
  });
  sock.write(`POST /up HTTP/1.1\r\nHost: www.example.com\r\nContent-Length: ${total}\r\n\r\n`);
  let done = false;
  void answered.then(() => (done = true));
  for (let sent = 0; sent < total && !done && !sock.destroyed && Date.now() - t0 < 5000; sent += piece) {
    sock.write(Buffer.alloc(Math.min(piece, total - sent), 0x61));
    await sleep(everyMs);
  }
  return Promise.race([answered, sleep(3000).then(() => ({ status: -1, ms: Date.now() - t0 }))]);
}

async function h2Post(port: number, total: number, piece: number, everyMs: number, t: TestContext): Promise<{ status: number; ms: number }> {
  const session = await h2Session(t, port, { h2c: true });
  const t0 = Date.now();
  const req = session.request({ ':method': 'POST', ':path': '/up', 'content-length': String(total) });
  req.on('error', () => {});
  const answered = new Promise<{ status: number; ms: number }>((resolve) => {
    req.on('response', (h: http2.IncomingHttpHeaders) => resolve({ status: Number(h[':status']), ms: Date.now() - t0 }));
    req.on('close', () => resolve({ status: 0, ms: Date.now() - t0 }));
  });
  let done = false;
  void answered.then(() => (done = true));
  // bounded: at most 5 s of sending
  for (let sent = 0; sent < total && !done && Date.now() - t0 < 5000; sent += piece) {
    const n = Math.min(piece, total - sent);
    if (sent + n >= total) req.end(Buffer.alloc(n, 0x61));
    else req.write(Buffer.alloc(n, 0x61));
    await sleep(everyMs);
  }
  return Promise.race([answered, sleep(3000).then(() => ({ status: -1, ms: Date.now() - t0 }))]);
}

for (const [proto, post] of [
  ['HTTP/1.1', h1Post],
  ['HTTP/2', h2Post],
] as const) {
  test(`${proto}: a body trickling at 20 bytes/s gets 408 once its budget is spent; one at 8 KiB/s for 1.5 s is relayed whole`, async (t) => {
    const port = await setup(t);
    // 300 ms plus 1 s per 2 KiB: at 20 bytes/s that is spent after ~0.3 s
    const slow = await post(port, 100_000, 1, 50, t);
    assert.equal(slow.status, 408);
    assert.ok(slow.ms >= 250 && slow.ms < 2000, `408 after ${slow.ms} ms`);
    // above the minimum rate: never cut, though it takes five times timeouts.body
    const steady = await post(port, 12_000, 400, 50, t);
    assert.equal(steady.status, 200);
    assert.ok(steady.ms >= 1400, `answered after ${steady.ms} ms`);
  });
}
