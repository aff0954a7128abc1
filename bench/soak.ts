/**
 * Soak: `npm run bench -- soak`. One Fulcrum (one worker) serving a steady, rate-limited
 * mix for BENCH_SOAK_DURATION (default 1h): HTTP/1.1 keep-alive requests, connection
 * churn (a new connection per request), HTTP/2 over TLS, DNS over UDP and TCP, and a
 * trickle of misbehaving connections (half heads, HTTP/2 connection errors, bad PROXY
 * headers, garbage TLS). Every BENCH_SOAK_SAMPLE (30 s) it samples the worker's and the
 * primary's RSS, V8 heap (from `fulcrum status --json`) and open descriptors, and it
 * reports each one's trend per hour (least squares over the samples after the first
 * tenth of the run) beside the traffic it served. A leak shows as a slope that does not
 * flatten; V8 keeping its heap shows as a rise that levels off.
 *
 * The loads are paced, not flat out: the soak is about what stays behind, not speed, so
 * it may share the machine with other work. Everything stops by itself at the end.
 */
import { spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import tls from 'node:tls';
import { NODE_FLAGS } from '../src/cli/node-flags.js';
import { encodeQuery } from '../src/dns/message.js';
import { envDuration, EnvironmentError, log, type Benchmark } from './lib/benchmark.js';
import { throwIfShuttingDown } from './lib/cleanup.js';
import { freePort, LOOPBACK, waitForHttp } from './lib/net.js';
import { fulcrumCli } from './lib/paths.js';
import { findBinary } from './lib/peers.js';
import { startProcess, type ManagedProcess } from './lib/process.js';
import { machineInfo, writeResults } from './lib/results.js';
import { renderTable } from './lib/table.js';
import { makeTempDir } from './lib/tmp.js';

/** Requests (or queries, or bad connections) per second of each load. */
const RATES = { keepalive: 200, churn: 40, h2: 100, dnsUdp: 200, dnsTcp: 10, hostile: 10 };

interface Sample {
  t: number;
  workerRss: number;
  workerHeap: number;
  workerFds: number;
  primaryRss: number;
  primaryHeap: number;
  primaryFds: number;
}

interface Counts {
  ok: number;
  failed: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function fds(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return -1;
  }
}

function rss(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m === null ? -1 : Number(m[1]) * 1024;
}

/** Least-squares slope of y over x (per unit of x). */
export function slope(xs: readonly number[], ys: readonly number[]): number {
  const n = xs.length;
  if (n < 2) return 0;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

/** Runs `one` `rate` times a second until `end`, at most `inFlight` at once; counts outcomes. */
async function paced(rate: number, end: number, inFlight: number, one: () => Promise<boolean>): Promise<Counts> {
  const counts: Counts = { ok: 0, failed: 0 };
  let running = 0;
  const gap = 1000 / rate;
  let next = Date.now();
  const pending = new Set<Promise<void>>();
  while (Date.now() < end) {
    if (running < inFlight) {
      running++;
      const p = one()
        .then((ok) => {
          if (ok) counts.ok++;
          else counts.failed++;
        })
        .catch(() => {
          counts.failed++;
        })
        .finally(() => {
          running--;
          pending.delete(p);
        });
      pending.add(p);
    }
    next += gap;
    const wait = next - Date.now();
    if (wait > 0) await sleep(wait);
    else if (wait < -1000) next = Date.now(); // fell behind: do not burst to catch up
  }
  await Promise.all(pending);
  return counts;
}

function withTimeout<T>(p: Promise<T>, ms: number, fallback: T): Promise<T> {
  return Promise.race([p, sleep(ms).then(() => fallback)]);
}

function httpGet(agent: http.Agent, port: number): Promise<boolean> {
  return withTimeout(
    new Promise<boolean>((resolve) => {
      const req = http.get({ host: LOOPBACK, port, path: '/', agent, headers: { host: 'www.example.com' } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode === 200));
        res.on('error', () => resolve(false));
      });
      req.on('error', () => resolve(false));
    }),
    5000,
    false,
  );
}

function h2Get(session: http2.ClientHttp2Session): Promise<boolean> {
  return withTimeout(
    new Promise<boolean>((resolve) => {
      const req = session.request({ ':path': '/' });
      let status = 0;
      req.on('response', (h) => (status = Number(h[':status'])));
      req.on('error', () => resolve(false));
      req.resume();
      req.on('end', () => resolve(status === 200));
    }),
    5000,
    false,
  );
}

function dnsUdp(sock: dgram.Socket, port: number, waiters: Map<number, (ok: boolean) => void>, id: number): Promise<boolean> {
  return withTimeout(
    new Promise<boolean>((resolve) => {
      waiters.set(id, resolve);
      sock.send(encodeQuery({ id, name: 'www.example.com', type: 1 }), port, LOOPBACK);
    }),
    2000,
    false,
  ).finally(() => waiters.delete(id));
}

function dnsTcp(port: number): Promise<boolean> {
  return withTimeout(
    new Promise<boolean>((resolve) => {
      const s = net.connect(port, LOOPBACK);
      const q = encodeQuery({ name: 'www.example.com', type: 1 });
      const f = Buffer.alloc(q.length + 2);
      f.writeUInt16BE(q.length);
      q.copy(f, 2);
      let buf = Buffer.alloc(0);
      s.on('error', () => resolve(false));
      s.on('connect', () => s.write(f));
      s.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          s.destroy();
          resolve(true);
        }
      });
      s.on('close', () => resolve(false));
    }),
    3000,
    false,
  );
}

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
function h2Frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream, 5);
  return Buffer.concat([h, payload]);
}

/** One misbehaving connection of kind `n % 5`; true once the server has closed it. */
function hostile(n: number, ports: { plain: number; secure: number; pp: number }): Promise<boolean> {
  return withTimeout(
    new Promise<boolean>((resolve) => {
      const kind = n % 5;
      const s = kind === 3 ? tls.connect({ host: LOOPBACK, port: ports.secure, rejectUnauthorized: false, ALPNProtocols: ['h2'] }) : net.connect({ host: LOOPBACK, port: kind === 2 ? ports.pp : kind === 4 ? ports.secure : ports.plain, allowHalfOpen: true });
      s.on('error', () => {});
      s.on('data', () => {});
      s.on('end', () => s.destroy());
      s.on('close', () => resolve(true));
      s.once(kind === 3 ? 'secureConnect' : 'connect', () => {
        if (kind === 0) s.end('GET / HTTP/1.1\r\nHost: x\r\n'); // half a head, then FIN
        else if (kind === 1) s.write(Buffer.concat([PREFACE, h2Frame(4, 0, 0, Buffer.alloc(0)), h2Frame(0, 0, 0, Buffer.from('x'))])); // h2c: DATA on stream 0
        else if (kind === 2) s.write('PROXY TCP4 nonsense\r\n');
        else if (kind === 3) s.write(Buffer.concat([PREFACE, h2Frame(4, 0, 0, Buffer.from('abc'))])); // h2: a 3-byte SETTINGS
        else s.write('\x16\x03\x01\x00\x05hello'); // not a ClientHello
      });
    }),
    15_000,
    false,
  );
}

async function statusMemory(socket: string): Promise<{ worker: { rss: number; heapUsed: number } | null; primary: { rss: number; heapUsed: number } }> {
  const r = spawnSync(process.execPath, [fulcrumCli, 'status', '-s', socket, '--json'], { encoding: 'utf8', timeout: 10_000 });
  const report = JSON.parse(r.stdout) as { data: { memory: { rss: number; heapUsed: number }; workers: Array<{ memory: { rss: number; heapUsed: number } | null }> } };
  return { worker: report.data.workers[0]?.memory ?? null, primary: report.data.memory };
}

async function run(): Promise<number> {
  const startedAt = new Date();
  const duration = envDuration('BENCH_SOAK_DURATION', '60m');
  const every = envDuration('BENCH_SOAK_SAMPLE', '30s');
  const openssl = findBinary('openssl');
  if (openssl === undefined) throw new EnvironmentError('openssl is not installed (apt-get install openssl): the soak needs a certificate');
  const tmp = makeTempDir('fulcrum-soak');
  const cert = join(tmp.path, 'www.pem');
  const key = join(tmp.path, 'www.key');
  const made = spawnSync(openssl, ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', '/CN=www.example.com', '-keyout', key, '-out', cert], { stdio: 'ignore', timeout: 20_000 });
  if (made.status !== 0) throw new EnvironmentError('openssl req failed');
  const machine = await machineInfo({ node: [process.execPath, '--version'] });

  // the backend: a Node server in its own process, so that its memory is not ours
  const backendPort = await freePort();
  const backend = await startProcess('backend', process.execPath, ['-e', `require('http').createServer((q, r) => { q.resume(); r.end('ok'); }).listen(${backendPort}, '${LOOPBACK}')`]);
  await waitForHttp(backendPort);
  const [plain, secure, pp, dnsPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const socket = join(tmp.path, 'fulcrum.sock');
  const yaml = join(tmp.path, 'fulcrum.yaml');
  writeFileSync(
    yaml,
    [
      'listeners:',
      `  - { name: plain, bind: "${LOOPBACK}:${plain}", http2: { h2c: true }, routes: [{ pool: web }] }`,
      `  - { name: secure, bind: "${LOOPBACK}:${secure}", tls: { certificates: [{ cert: "${cert}", key: "${key}" }] }, routes: [{ pool: web }] }`,
      `  - { name: pp, bind: "${LOOPBACK}:${pp}", proxy_protocol: { trusted: [${LOOPBACK}] }, routes: [{ pool: web }] }`,
      'pools:',
      `  web: { servers: [{ address: "${LOOPBACK}:${backendPort}" }] }`,
      'dns:',
      `  listen: ["${LOOPBACK}:${dnsPort}"]`,
      '  zones: [{ origin: example.com, records: [{ name: www, type: A, data: 192.0.2.11 }] }]',
      `runtime: { workers: 1, control_socket: "${socket}" }`,
      'logging: { level: warn }',
      '',
    ].join('\n'),
  );
  let fulcrum: ManagedProcess | null = null;
  try {
    fulcrum = await startProcess('fulcrum', process.execPath, [...NODE_FLAGS, fulcrumCli, 'run', '-c', yaml]);
    await waitForHttp(plain);
    const workerPid = (await statusPid(socket)) ?? -1;
    // the worker's first memory report comes with its first counters (every second)
    for (let i = 0; i < 50 && (await statusMemory(socket).catch(() => null))?.worker == null; i++) await sleep(100);
    log(`soak: ${duration.text}, a sample every ${every.text}; primary pid ${fulcrum.pid}, worker pid ${workerPid}`);
    const end = Date.now() + duration.seconds * 1000;

    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    const churn = new http.Agent({ keepAlive: false });
    let h2: http2.ClientHttp2Session | null = null;
    let h2Used = 0;
    const session = () => {
      // a new HTTP/2 connection every 500 requests
      if (h2 === null || h2.destroyed || h2.closed || h2Used >= 500) {
        h2?.close();
        h2 = http2.connect(`https://${LOOPBACK}:${secure}`, { rejectUnauthorized: false, servername: 'www.example.com' });
        h2.on('error', () => {});
        h2Used = 0;
      }
      h2Used++;
      return h2;
    };
    const udp = dgram.createSocket('udp4');
    const waiters = new Map<number, (ok: boolean) => void>();
    udp.on('message', (m) => waiters.get(m.readUInt16BE(0))?.(true));
    await new Promise<void>((r) => udp.bind(0, LOOPBACK, r));
    let qid = 0;
    let bad = 0;

    const samples: Sample[] = [];
    const t0 = Date.now();
    const sampler = (async () => {
      while (Date.now() < end) {
        throwIfShuttingDown();
        const m = await statusMemory(socket).catch(() => null);
        samples.push({
          t: (Date.now() - t0) / 1000,
          workerRss: rss(workerPid),
          workerHeap: m?.worker?.heapUsed ?? -1,
          workerFds: fds(workerPid),
          primaryRss: rss(fulcrum!.pid),
          primaryHeap: m?.primary.heapUsed ?? -1,
          primaryFds: fds(fulcrum!.pid),
        });
        const s = samples.at(-1)!;
        log(`soak ${Math.round(s.t)} s: worker rss ${(s.workerRss / 2 ** 20).toFixed(1)} MiB heap ${(s.workerHeap / 2 ** 20).toFixed(1)} MiB fds ${s.workerFds}; primary rss ${(s.primaryRss / 2 ** 20).toFixed(1)} MiB fds ${s.primaryFds}`);
        await sleep(Math.min(every.seconds * 1000, Math.max(0, end - Date.now())));
      }
    })();
    const [keepalive, connections, h2c, dnsU, dnsT, hostiles] = await Promise.all([
      paced(RATES.keepalive, end, 16, () => httpGet(agent, plain)),
      paced(RATES.churn, end, 8, () => httpGet(churn, plain)),
      paced(RATES.h2, end, 16, () => h2Get(session())),
      paced(RATES.dnsUdp, end, 32, () => dnsUdp(udp, dnsPort, waiters, (qid = (qid + 1) & 0xffff))),
      paced(RATES.dnsTcp, end, 4, () => dnsTcp(dnsPort)),
      paced(RATES.hostile, end, 8, () => hostile(bad++, { plain, secure, pp })),
    ]);
    await sampler;
    agent.destroy();
    (h2 as http2.ClientHttp2Session | null)?.close();
    udp.close();

    // trend per hour, after the first tenth of the run (start-up and first growth)
    const steady = samples.filter((s) => s.t >= duration.seconds / 10);
    const hours = steady.map((s) => s.t / 3600);
    const metrics: Array<[string, keyof Sample, 'MiB' | 'fds']> = [
      ['worker RSS', 'workerRss', 'MiB'],
      ['worker V8 heap used', 'workerHeap', 'MiB'],
      ['worker descriptors', 'workerFds', 'fds'],
      ['primary RSS', 'primaryRss', 'MiB'],
      ['primary V8 heap used', 'primaryHeap', 'MiB'],
      ['primary descriptors', 'primaryFds', 'fds'],
    ];
    const scale = (unit: string, v: number) => (unit === 'MiB' ? v / 2 ** 20 : v);
    const trends = metrics.map(([label, k, unit]) => {
      const ys = steady.map((s) => scale(unit, s[k]));
      const all = samples.map((s) => scale(unit, s[k]));
      return { label, unit, first: all[0] ?? 0, last: all.at(-1) ?? 0, min: Math.min(...all), max: Math.max(...all), perHour: slope(hours, ys) };
    });
    const traffic = { keepalive, churn: connections, h2: h2c, dnsUdp: dnsU, dnsTcp: dnsT, hostile: hostiles };
    const fmt = (n: number, unit: string) => (unit === 'MiB' ? n.toFixed(1) : n.toFixed(0));
    process.stdout.write(`\nFulcrum soak, ${duration.text}, ${samples.length} samples (trend: least squares after the first ${Math.round(duration.seconds / 10)} s)\n\n`);
    process.stdout.write(
      `${renderTable(
        ['metric', 'first', 'last', 'min', 'max', 'trend per hour'],
        trends.map((r) => [`${r.label} (${r.unit})`, fmt(r.first, r.unit), fmt(r.last, r.unit), fmt(r.min, r.unit), fmt(r.max, r.unit), `${r.perHour >= 0 ? '+' : ''}${r.perHour.toFixed(r.unit === 'MiB' ? 2 : 1)}`]),
        ['left', 'right', 'right', 'right', 'right', 'right'],
      )}\n\n`,
    );
    process.stdout.write(
      `${renderTable(
        ['load', 'per second', 'answered', 'failed'],
        Object.entries(traffic).map(([k, c]) => [k, String(RATES[k as keyof typeof RATES]), c.ok.toLocaleString('en'), c.failed.toLocaleString('en')]),
        ['left', 'right', 'right', 'right'],
      )}\n`,
    );
    const file = writeResults('soak', startedAt, { machine, duration: duration.seconds, rates: RATES, traffic, trends, samples });
    process.stdout.write(`\nresults: ${file}\n`);
    return 0;
  } finally {
    await fulcrum?.stop();
    await backend.stop();
    await tmp.remove();
  }
}

/** The first worker's pid, from `fulcrum status --json` (retried while the workers start). */
async function statusPid(socket: string): Promise<number | undefined> {
  for (let i = 0; i < 50; i++) {
    const r = spawnSync(process.execPath, [fulcrumCli, 'status', '-s', socket, '--json'], { encoding: 'utf8', timeout: 10_000 });
    try {
      const pid = (JSON.parse(r.stdout) as { data: { workers: Array<{ pid?: number }> } }).data.workers[0]?.pid;
      if (pid !== undefined) return pid;
    } catch {
      // not up yet
    }
    await sleep(200);
  }
  return undefined;
}

export const soakBenchmark: Benchmark = {
  name: 'soak',
  summary: 'an hour of mixed, paced traffic and misbehaving clients; RSS, heap and descriptor trends per hour',
  run,
};
