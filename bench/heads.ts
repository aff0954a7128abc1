/**
 * The message-head micro-benchmark: nanoseconds per head parsed, the JavaScript every
 * proxied HTTP/1.1 request runs twice (its request head, its response head) and where the
 * worker's profiles under load put most of its own time (see docs/benchmarks.md,
 * "Heads"): a browser's request head (nine fields) and nginx's response head (five).
 *
 * No peer runs here; the figures are for comparing builds (run the benchmark in each, in
 * turn). Each head is a fresh string, as the proxy gets one per message; the Date of the
 * response changes every 1,000 heads. Median of the rounds.
 */
import { loadavg } from 'node:os';
import { parseRequestHead, parseResponseHead } from '../src/proxy/http/head.js';
import { envInt, log, type Benchmark } from './lib/benchmark.js';
import { throwIfShuttingDown } from './lib/cleanup.js';
import { machineInfo, writeResults } from './lib/results.js';
import { summarize } from './lib/stats.js';
import { fmtInt, renderTable } from './lib/table.js';

const REQUEST =
  'GET /api/items/42?page=2 HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0\r\n' +
  'Accept: text/html,application/xhtml+xml\r\nAccept-Language: en-US,en;q=0.9\r\nAccept-Encoding: gzip, deflate, br\r\n' +
  'Cookie: session=abc123; theme=dark\r\nUpgrade-Insecure-Requests: 1\r\nCache-Control: max-age=0\r\nConnection: keep-alive\r\n\r\n';

function response(second: number): string {
  const ss = String(second % 60).padStart(2, '0');
  return `HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Tue, 08 Dec 2026 00:30:${ss} GMT\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\n`;
}

/** Fresh copies of `make(k)`, as a socket read makes them (a literal would be one string, hashed once). */
function fresh(count: number, make: (k: number) => string): string[] {
  return Array.from({ length: count }, (_, k) => Buffer.from(make(k), 'latin1').toString('latin1'));
}

const LIMITS = { urlBytes: 8192, headerCount: 100 };

interface Case {
  readonly name: string;
  /** Handles head `s`; returns a number that depends on the work (checked, so none of it is skipped). */
  readonly run: (s: string) => number;
  readonly heads: string[];
}

function cases(): Case[] {
  return [
    { name: 'HTTP/1.1 request head (9 fields)', heads: fresh(1000, () => REQUEST), run: (s) => parseRequestHead(s, LIMITS).names.length },
    { name: "nginx's response head (5 fields)", heads: fresh(1000, (k) => response(k)), run: (s) => parseResponseHead(s, 100).names.length },
  ];
}

function measure(c: Case, n: number): number {
  const heads = c.heads;
  let sink = 0;
  const t0 = process.hrtime.bigint();
  for (let k = 0; k < n; k++) sink += c.run(heads[k % heads.length]!);
  const ns = Number(process.hrtime.bigint() - t0) / n;
  if (!(sink > 0)) throw new Error(`${c.name}: no work done`);
  return ns;
}

async function runHeads(): Promise<number> {
  const startedAt = new Date();
  const n = envInt('BENCH_HEADS_CALLS', 500_000, 1000, 100_000_000);
  const rounds = envInt('BENCH_HEADS_ROUNDS', 5, 1, 50);
  const machine = await machineInfo({});
  const all = cases();
  const times = all.map(() => [] as number[]);
  for (const c of all) measure(c, n); // warm-up: optimised code
  for (let round = 1; round <= rounds; round++) {
    throwIfShuttingDown();
    all.forEach((c, i) => times[i]!.push(measure(c, n)));
    log(`heads: round ${round}/${rounds} done (load ${loadavg()[0]!.toFixed(2)})`);
  }
  const rows = all.map((c, i) => ({ case: c.name, ns: summarize(times[i]!).median, min: Math.min(...times[i]!) }));
  console.log(`\nmessage heads parsed (ns per head, median and best of ${rounds} rounds of ${fmtInt(n)})\n`);
  console.log(renderTable(['head', 'median', 'best'], rows.map((r) => [r.case, `${fmtInt(r.ns)} ns`, `${fmtInt(r.min)} ns`])));
  const file = writeResults('heads', startedAt, { benchmark: 'heads', startedAt: startedAt.toISOString(), machine, calls: n, rounds, rows });
  console.log(`\nresults: ${file}`);
  return 0;
}

export const headsBenchmark: Benchmark = {
  name: 'heads',
  summary: 'ns per HTTP/1.1 request and response head parsed',
  run: runHeads,
};
