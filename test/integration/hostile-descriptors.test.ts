/**
 * Whatever a client sends, once either side has decided a connection is over, its socket
 * is closed within a bounded time: bursts of misbehaving connections of every kind
 * (HTTP/1.1, h2c, HTTP/2 over TLS, TLS itself, PROXY protocol, TCP, DNS over TCP) against
 * one running instance, each connection waited on until the server closes it, and the
 * descriptors of the worker and of the primary (which serves DNS) counted before and
 * after. FULCRUM_HOSTILE_COUNT sets the connections per kind (default 100; the issue's
 * target is 1,000).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import tls from 'node:tls';
import { NO_OPENSSL, TestPki } from '../helpers/certs.js';
import { freePort } from '../helpers/ports.js';
import { httpBackend } from '../helpers/proxy-http.js';
import { mb, readProcMemory, spawnCli } from '../helpers/spawn.js';
import { FRAME, frame, get, headers, PREFACE } from './h2-frames.js';

const COUNT = Number(process.env.FULCRUM_HOSTILE_COUNT ?? 100);
/** At most this many of one kind open at once. */
const BATCH = 25;
/** How long the server may take to close one connection it has given up on. */
const CLOSE_MS = 8000;

const skip = process.platform !== 'linux' ? 'Linux /proc only' : NO_OPENSSL;

const fds = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One misbehaving client: connects, does its thing, and resolves once the server has closed (true) or after CLOSE_MS (false). */
type Misbehave = () => Promise<boolean>;

/** Opens a socket (plain or TLS with `alpn`), runs `act` once connected, and waits for the server to close it. */
function misbehave(port: number, act: (s: net.Socket) => void, opts: { tls?: string[] } = {}): Promise<boolean> {
  return new Promise((resolve) => {
    const s = opts.tls
      ? tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, servername: 'www.example.com', ALPNProtocols: opts.tls })
      : net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    s.on('error', () => {});
    s.on('data', () => {});
    const timer = setTimeout(() => {
      s.destroy();
      resolve(false);
    }, CLOSE_MS);
    // the server's FIN or reset: our side is then closed too, which is what a real client does
    s.on('end', () => s.destroy());
    s.on('close', () => {
      clearTimeout(timer);
      resolve(true);
    });
    s.once(opts.tls ? 'secureConnect' : 'connect', () => act(s));
  });
}

/** Runs `count` of `one`, BATCH at a time; returns how many were not closed by the server in time. */
async function burst(one: Misbehave, count: number): Promise<number> {
  let left = 0;
  for (let i = 0; i < count; i += BATCH) {
    const results = await Promise.all(Array.from({ length: Math.min(BATCH, count - i) }, () => one()));
    left += results.filter((closed) => !closed).length;
  }
  return left;
}

function dnsFrame(bytes: Buffer): Buffer {
  const f = Buffer.alloc(bytes.length + 2);
  f.writeUInt16BE(bytes.length);
  bytes.copy(f, 2);
  return f;
}

test(`${COUNT} misbehaving connections of each kind: every one is closed by the server, and no descriptor is left behind`, { skip, timeout: 600_000 }, async (t) => {
  const pki = new TestPki(t);
  const leaf = pki.leaf(['www.example.com']);
  const backend = await httpBackend((req, res) => {
    req.resume();
    // hold requests to /held (a slow server): their streams stay in flight
    if (req.url !== '/held') res.end('ok');
  });
  t.after(() => backend.close());
  const raw = net.createServer((s) => {
    s.on('error', () => {});
    s.pipe(s);
  });
  await new Promise<void>((r) => raw.listen(0, '127.0.0.1', r));
  t.after(() => raw.close());
  const dnsPort = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'fulcrum-hostile-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'fulcrum.yaml');
  writeFileSync(
    file,
    [
      'listeners:',
      '  - { name: plain, bind: "127.0.0.1:0", http2: { h2c: true }, routes: [{ pool: web }] }',
      `  - { name: secure, bind: "127.0.0.1:0", tls: { certificates: [{ cert: "${leaf.cert}", key: "${leaf.key}" }] }, routes: [{ pool: web }] }`,
      '  - { name: pp, bind: "127.0.0.1:0", proxy_protocol: { trusted: [127.0.0.1] }, routes: [{ pool: web }] }',
      '  - { name: relay, bind: "127.0.0.1:0", mode: tcp, routes: [{ pool: raw }] }',
      'timeouts: { header: 2s, client: 3s }',
      'pools:',
      `  web: { servers: [{ address: "127.0.0.1:${backend.port}" }] }`,
      `  raw: { servers: [{ address: "127.0.0.1:${(raw.address() as net.AddressInfo).port}" }] }`,
      'dns:',
      `  listen: ["127.0.0.1:${dnsPort}"]`,
      '  tcp_message_timeout: 2s',
      '  zones: [{ origin: example.com, records: [{ name: www, type: A, data: 192.0.2.11 }] }]',
      'runtime: { workers: 1, control_socket: false }',
      '',
    ].join('\n'),
  );
  const cli = await spawnCli(['run', '-c', file], { listeners: 4 });
  t.after(() => cli.stop());
  const port = (name: string) => cli.listeners.find((l) => l.name === name)!.port;
  const [plain, secure, pp, relay] = [port('plain'), port('secure'), port('pp'), port('relay')];
  const worker = cli.workerPids[0]!;
  const h2Error = (s: net.Socket) => {
    const held = headers(1, get('/held'));
    s.write(Buffer.concat([PREFACE, frame(FRAME.SETTINGS, 0, 0), held, frame(FRAME.DATA, 0, 0, Buffer.from('x'))]));
  };
  const kinds: Array<[string, Misbehave]> = [
    ['HTTP/1.1: NUL bytes for a request line', () => misbehave(plain, (s) => s.write('\0\0\0 / HTTP/1.1\r\n'))],
    ['HTTP/1.1: half a head, then FIN', () => misbehave(plain, (s) => s.end('GET / HTTP/1.1\r\nHost: x\r\n'))],
    ['HTTP/1.1: half a head, then reset', () => misbehave(plain, (s) => (s.write('GET / HTTP/1.1\r\nHo'), setTimeout(() => s.resetAndDestroy(), 20)))],
    ['HTTP/1.1: a request, then FIN before the answer is read', () => misbehave(plain, (s) => s.end('GET / HTTP/1.1\r\nHost: x\r\n\r\n'))],
    ['h2c: a GET held by the server, then DATA on stream 0', () => misbehave(plain, (s) => h2Error(s))],
    ['HTTP/2 over TLS: a GET held by the server, then DATA on stream 0', () => misbehave(secure, (s) => h2Error(s), { tls: ['h2'] })],
    ['HTTP/2 over TLS: a GET held by the server, then FIN', () => misbehave(secure, (s) => s.end(Buffer.concat([PREFACE, frame(FRAME.SETTINGS, 0, 0), headers(1, get('/held'))])), { tls: ['h2'] })],
    ['TLS: garbage instead of a ClientHello', () => misbehave(secure, (s) => s.write('\x16\x03\x01\x00\x05hello'))],
    ['PROXY protocol: a malformed header', () => misbehave(pp, (s) => s.write('PROXY TCP4 nonsense\r\n'))],
    ['TCP relay: bytes, then FIN', () => misbehave(relay, (s) => s.end('hello'))],
    ['DNS over TCP: a response sent as a query', () => misbehave(dnsPort, (s) => s.write(dnsFrame(Buffer.from([0, 1, 0x80, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]))))],
    ['DNS over TCP: a 65535-byte length, then FIN', () => misbehave(dnsPort, (s) => s.end(Buffer.from([0xff, 0xff, 1])))],
  ];
  // one ordinary request of each kind first, so pools and caches hold what they will hold
  for (const [, one] of kinds) await one();
  await sleep(500);
  const before = { worker: fds(worker), primary: fds(cli.pid) };
  const rssBefore = { worker: readProcMemory(worker).rss, primary: readProcMemory(cli.pid).rss };
  for (const [name, one] of kinds) {
    const left = await burst(one, COUNT);
    assert.equal(left, 0, `${name}: ${left} of ${COUNT} connections were still open ${CLOSE_MS} ms after misbehaving`);
  }
  // descriptors come back: the server's side of every connection is gone
  const slack = (n: number) => Math.max(3, Math.ceil(n * 0.05));
  const deadline = Date.now() + 10_000;
  let after = { worker: fds(worker), primary: fds(cli.pid) };
  while ((after.worker > before.worker + slack(before.worker) || after.primary > before.primary + slack(before.primary)) && Date.now() < deadline) {
    await sleep(200);
    after = { worker: fds(worker), primary: fds(cli.pid) };
  }
  const rssAfter = { worker: readProcMemory(worker).rss, primary: readProcMemory(cli.pid).rss };
  t.diagnostic(
    `descriptors worker ${before.worker} -> ${after.worker}, primary ${before.primary} -> ${after.primary}; ` +
      `RSS worker ${mb(rssBefore.worker)} -> ${mb(rssAfter.worker)}, primary ${mb(rssBefore.primary)} -> ${mb(rssAfter.primary)}`,
  );
  assert.ok(after.worker <= before.worker + slack(before.worker), `worker descriptors ${before.worker} -> ${after.worker}`);
  assert.ok(after.primary <= before.primary + slack(before.primary), `primary descriptors ${before.primary} -> ${after.primary}`);
  // and it still serves
  const ok = await fetch(`http://127.0.0.1:${plain}/`).then((r) => r.text());
  assert.equal(ok, 'ok');
});
