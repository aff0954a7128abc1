/**
 * The routing micro-benchmark: nanoseconds per Router.matchRequest() over a table of 200
 * routes that each test a host, a path prefix and a header (issue 21's target: under
 * 2 µs per request), for a request that matches the first route, one in the middle, the
 * last, and none (the catch-all after them). Beside it, the same 200 routes by host and
 * path only (what routing cost before header matching), as the baseline.
 *
 * Requests are parsed once by the proxy's own parser, with the eight header fields a
 * browser sends; each round measures every case in turn and the median is reported.
 */
import { loadavg } from 'node:os';
import { loadConfigText, formatIssue } from '../src/config/load.js';
import { parseRequestHead, type RequestHead } from '../src/proxy/http/head.js';
import { Router } from '../src/proxy/http/router.js';
import { envInt, log, type Benchmark } from './lib/benchmark.js';
import { throwIfShuttingDown } from './lib/cleanup.js';
import { machineInfo, writeResults } from './lib/results.js';
import { summarize } from './lib/stats.js';
import { fmtInt, renderTable } from './lib/table.js';

const ROUTES = 200;
const TARGET_NS = 2000;

function routesYaml(withHeaders: boolean): string {
  const lines = ['listeners:', '  - name: www', '    bind: 127.0.0.1:0', '    routes:'];
  for (let i = 0; i < ROUTES; i++) {
    const header = withHeaders ? `, headers: [{ name: X-Tenant, ${i % 3 === 0 ? `exact: "t${i}"` : i % 3 === 1 ? `prefix: "t${i}-"` : `regex: "^t${i}(-[a-z]+)?$"`} }]` : '';
    lines.push(`      - { host: "svc${i}.example.com", path: "/api/v${i}/", pool: web${header} }`);
  }
  lines.push('      - pool: web', 'pools:', '  web: { servers: [{ address: "192.0.2.10:80" }] }');
  return `${lines.join('\n')}\n`;
}

function router(withHeaders: boolean): Router<number> {
  const { config, issues } = loadConfigText(routesYaml(withHeaders), 'bench');
  if (config === undefined) throw new Error(issues.map(formatIssue).join('\n'));
  return new Router(config.listeners[0]!.routes, (_r, i) => i);
}

function request(i: number): RequestHead {
  const raw =
    `GET /api/v${i}/items/42?page=2 HTTP/1.1\r\nHost: svc${i}.example.com\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0\r\n` +
    `Accept: text/html,application/xhtml+xml\r\nAccept-Language: en-US,en;q=0.9\r\nAccept-Encoding: gzip, deflate, br\r\n` +
    `Cookie: session=abc123; theme=dark\r\nX-Tenant: t${i}${i % 3 === 0 ? '' : '-x'}\r\nConnection: keep-alive\r\n\r\n`;
  return parseRequestHead(raw, { urlBytes: 8192, headerCount: 100 });
}

const CASES: ReadonlyArray<{ name: string; index: number; want: number }> = [
  { name: 'first route', index: 0, want: 0 },
  { name: 'route 100', index: 100, want: 100 },
  { name: 'route 199 (last)', index: 199, want: 199 },
  { name: 'no route (catch-all)', index: 999, want: ROUTES },
];

function measure(r: Router<number>, req: RequestHead, want: number, n: number): number {
  let sink = 0;
  const t0 = process.hrtime.bigint();
  for (let k = 0; k < n; k++) sink += r.matchRequest(req, '198.51.100.7') ?? -1;
  const ns = Number(process.hrtime.bigint() - t0) / n;
  if (sink !== want * n) throw new Error(`routing chose wrong: ${sink / n} for ${want}`);
  return ns;
}

async function runRoute(): Promise<number> {
  const startedAt = new Date();
  const n = envInt('BENCH_ROUTE_CALLS', 200_000, 1000, 100_000_000);
  const rounds = envInt('BENCH_ROUTE_ROUNDS', 5, 1, 50);
  const machine = await machineInfo({});
  const routers = { headers: router(true), plain: router(false) };
  const reqs = CASES.map((c) => request(c.index));
  const times = new Map<string, { headers: number[]; plain: number[] }>(CASES.map((c) => [c.name, { headers: [], plain: [] }]));
  for (const r of Object.values(routers)) for (let i = 0; i < CASES.length; i++) measure(r, reqs[i]!, CASES[i]!.want, n); // warm-up
  for (let round = 1; round <= rounds; round++) {
    throwIfShuttingDown();
    for (let i = 0; i < CASES.length; i++) {
      const c = CASES[i]!;
      times.get(c.name)!.headers.push(measure(routers.headers, reqs[i]!, c.want, n));
      times.get(c.name)!.plain.push(measure(routers.plain, reqs[i]!, c.want, n));
    }
    log(`route: round ${round}/${rounds} done (load ${loadavg()[0]!.toFixed(2)})`);
  }
  const rows = CASES.map((c) => {
    const t = times.get(c.name)!;
    const h = summarize(t.headers).median;
    const p = summarize(t.plain).median;
    return { case: c.name, headerNs: h, plainNs: p, underTarget: h < TARGET_NS };
  });
  console.log(`\nrouting over ${ROUTES} routes with host, path and header tests (ns per request, median of ${rounds} rounds of ${fmtInt(n)} calls; target under ${TARGET_NS} ns)\n`);
  console.log(
    renderTable(
      ['request', 'with header tests', 'host and path only', `under ${TARGET_NS / 1000} µs`],
      rows.map((r) => [r.case, `${fmtInt(r.headerNs)} ns`, `${fmtInt(r.plainNs)} ns`, r.underTarget ? 'yes' : 'NO']),
    ),
  );
  const file = writeResults('route', startedAt, { benchmark: 'route', startedAt: startedAt.toISOString(), machine, routes: ROUTES, calls: n, rounds, rows });
  console.log(`\nresults: ${file}`);
  return rows.every((r) => r.underTarget) ? 0 : 1;
}

export const routeBenchmark: Benchmark = {
  name: 'route',
  summary: `Router.matchRequest() ns per request over ${ROUTES} routes with header tests (target under 2 µs)`,
  run: runRoute,
};
