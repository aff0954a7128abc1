/**
 * The gzip benchmark (issue 21): a 100 KB text response compressed by the proxy, Fulcrum
 * against nginx `gzip on` at the same level, in front of the same nginx backend (which
 * never compresses), under the same wrk load with `Accept-Encoding: gzip`, in turn
 * (A B A B) over several rounds. Fulcrum and nginx without compression run beside them
 * for context. See bench/README.md.
 */
import { request } from 'node:http';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { NODE_FLAGS } from '../src/cli/node-flags.js';
import { envDuration, envInt, envSubset, log, type Benchmark } from './lib/benchmark.js';
import { throwIfShuttingDown } from './lib/cleanup.js';
import { freePort, LOOPBACK, waitForHttp } from './lib/net.js';
import { startNginx } from './lib/nginx.js';
import { fulcrumCli, repoRoot } from './lib/paths.js';
import { ensureDebianTools } from './lib/peers.js';
import { startProcess, type ManagedProcess } from './lib/process.js';
import { machineInfo, writeResults } from './lib/results.js';
import { warmUpAndRounds } from './lib/rounds.js';
import { pairedRatio, summarizeBy } from './lib/stats.js';
import { fmtFixed, fmtInt, fmtMs, fmtRatio, renderTable } from './lib/table.js';
import { makeTempDir } from './lib/tmp.js';
import { runWrk, wrkArgs } from './lib/wrk.js';

const CONTESTANTS = ['fulcrum-gzip', 'nginx-gzip', 'fulcrum', 'nginx'] as const;
type Name = (typeof CONTESTANTS)[number];
const BODY_BYTES = 100_000;
const READY_TIMEOUT_MS = 10_000;

/** 100 KB of HTML-like text: repeated markup with varying numbers, about 6-8x smaller gzipped, as web pages are. */
function body(): string {
  let s = '';
  for (let i = 0; s.length < BODY_BYTES; i++) s += `<tr><td class="n">${i}</td><td>item ${(i * 7919) % 10007}</td><td>the quick brown fox jumps over the lazy dog ${i % 13}</td></tr>\n`;
  return s.slice(0, BODY_BYTES);
}

function fulcrumYaml(port: number, backend: number, level: number, gzip: boolean): string {
  return `runtime: { workers: 1 }
listeners:
  - name: bench
    bind: ${LOOPBACK}:${port}
    forwarded: { via: false }
${gzip ? `    compression: { algorithms: [gzip], types: [text/*], min_size: 1000, level: { gzip: ${level} } }\n` : ''}    routes: [{ pool: web }]
pools:
  web:
    servers: [{ name: s1, address: "${LOOPBACK}:${backend}" }]
    keepalive: { max_idle: 64 }
`;
}

function nginxProxyBlock(port: number, backend: number, level: number, gzip: boolean): string {
  const gz = gzip
    ? `
  gzip on;
  gzip_comp_level ${level};
  gzip_types text/plain text/html;
  gzip_min_length 1000;
  gzip_proxied any;
  gzip_vary on;`
    : '';
  return `
upstream backend {
  server ${LOOPBACK}:${backend};
  keepalive 64;
  keepalive_requests 100000;
}
server {
  listen ${LOOPBACK}:${port};
  keepalive_requests 100000;
  keepalive_timeout 65s;
  location / {
    proxy_pass http://backend;
    proxy_http_version 1.1;
    proxy_set_header Connection "";${gz}
  }
}`;
}

/** One GET with Accept-Encoding: gzip: the encoding answered, the bytes on the wire, and whether they decode to the body. */
function check(port: number, want: string): Promise<{ encoding: string; wireBytes: number; same: boolean }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: LOOPBACK, port, path: '/', agent: false, headers: { 'accept-encoding': 'gzip', connection: 'close' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const raw = Buffer.concat(chunks);
        const encoding = String(res.headers['content-encoding'] ?? 'identity');
        const text = encoding === 'gzip' ? gunzipSync(raw).toString() : raw.toString();
        resolve({ encoding, wireBytes: raw.length, same: text === want });
      });
    });
    req.setTimeout(5000, () => req.destroy(new Error('GET timed out')));
    req.once('error', reject);
    req.end();
  });
}

interface Contestant {
  readonly name: Name;
  readonly port: number;
  readonly proc: ManagedProcess;
  readonly wireBytes: number;
  failure?: string;
}

interface Run {
  readonly round: number;
  readonly contestant: Name;
  readonly ok: boolean;
  readonly error?: string;
  readonly rps?: number;
  readonly p99Ms?: number;
  readonly cpuUsPerReq?: number;
  readonly backendCpuUsPerReq?: number;
}

async function runGzip(): Promise<number> {
  const duration = envDuration('BENCH_DURATION', '6s');
  const warmup = envDuration('BENCH_WARMUP', '2s');
  const rounds = envInt('BENCH_ROUNDS', 5, 1, 100);
  const connections = envInt('BENCH_CONNECTIONS', 50, 1, 10_000);
  const level = envInt('BENCH_GZIP_LEVEL', 6, 1, 9);
  const names = envSubset('BENCH_ONLY', CONTESTANTS);
  const startedAt = new Date();
  const tools = await ensureDebianTools([
    { bin: 'wrk', pkg: 'wrk' },
    { bin: 'nginx', pkg: 'nginx' },
  ]);
  const tmp = makeTempDir('fulcrum-bench-gzip');
  let backend: ManagedProcess | undefined;
  const contestants: Contestant[] = [];
  const problems: string[] = [];
  try {
    chmodSync(tmp.path, 0o755);
    const machine = await machineInfo({ wrk: [tools.wrk!, '--version'], nginx: [tools.nginx!, '-v'] });
    const ncpu = typeof machine.nproc === 'number' ? machine.nproc : availableParallelism();
    log(`[gzip] ${ncpu} cpus (${machine.cpuModel}), node ${machine.node}, load ${machine.loadavgAtStart.join(' ')}`);
    log(`[gzip] ${BODY_BYTES} B text/html, gzip level ${level}; wrk -t1 -c${connections} -d${duration.text} -H 'Accept-Encoding: gzip'; ${rounds} rounds of ${names.join(', ')}`);

    const page = body();
    const www = join(tmp.path, 'www');
    mkdirSync(www);
    chmodSync(www, 0o755);
    writeFileSync(join(www, 'index.html'), page);
    const bPort = await freePort();
    const backendHttp = `
keepalive_requests 100000;
keepalive_timeout 65s;
gzip off;
server {
  listen ${LOOPBACK}:${bPort};
  location / { root ${www}; }
}`;
    backend = await startNginx('backend', tools.nginx!, join(tmp.path, 'backend'), { http: backendHttp });
    await waitForHttp(bPort, { proc: backend, timeoutMs: READY_TIMEOUT_MS });
    backend.rememberDescendants();
    const configs: Record<string, string> = { 'backend http{}': backendHttp };

    for (const name of names) {
      throwIfShuttingDown();
      const port = await freePort();
      const gzip = name.endsWith('-gzip');
      let proc: ManagedProcess | undefined;
      try {
        if (name.startsWith('fulcrum')) {
          if (!existsSync(fulcrumCli)) throw new Error(`${fulcrumCli} does not exist (run tsc -p .)`);
          const file = join(tmp.path, `${name}.yaml`);
          configs[`${name}.yaml`] = fulcrumYaml(port, bPort, level, gzip);
          writeFileSync(file, configs[`${name}.yaml`]);
          proc = await startProcess(name, process.execPath, [...NODE_FLAGS, fulcrumCli, 'run', '-c', file], { cwd: repoRoot });
        } else {
          const http = nginxProxyBlock(port, bPort, level, gzip);
          configs[`${name} http{}`] = http;
          proc = await startNginx(name, tools.nginx!, join(tmp.path, name), { http });
        }
        await waitForHttp(port, { proc, timeoutMs: READY_TIMEOUT_MS });
        const c = await check(port, page);
        if (!c.same) throw new Error('the body did not decode to the page');
        if ((c.encoding === 'gzip') !== gzip) throw new Error(`answered Content-Encoding ${c.encoding}`);
        proc.rememberDescendants();
        contestants.push({ name, port, proc, wireBytes: c.wireBytes });
        log(`[gzip] ${name} ready on ${LOOPBACK}:${port} (pid ${proc.pid}): ${c.encoding}, ${c.wireBytes} B on the wire`);
      } catch (err) {
        await proc?.stop();
        problems.push(`${name}: not started: ${(err as Error).message.split('\n')[0]}`);
        log(`[gzip] ${name}: NOT STARTED: ${(err as Error).message}`);
      }
    }

    const measure = async (c: Contestant, round: number): Promise<Run> => {
      const d = round === 0 ? warmup : duration;
      const cpu0 = c.proc.cpuMicros();
      const back0 = backend!.cpuMicros();
      try {
        const res = await runWrk({ wrk: tools.wrk!, url: `http://${LOOPBACK}:${c.port}/`, threads: 1, connections, duration: d.text, durationSeconds: d.seconds, headers: ['Accept-Encoding: gzip'] });
        const cpu = (c.proc.cpuMicros() ?? 0) - (cpu0 ?? 0);
        const back = (backend!.cpuMicros() ?? 0) - (back0 ?? 0);
        if (res.errors > 0) throw new Error(`${res.errors} errors`);
        return { round, contestant: c.name, ok: true, rps: res.rps, p99Ms: res.latencyMs.p99, cpuUsPerReq: cpu / res.requests, backendCpuUsPerReq: back / res.requests };
      } catch (err) {
        if (c.proc.hasExited) c.failure = `exited: ${c.proc.outputTail(5)}`;
        return { round, contestant: c.name, ok: false, error: (err as Error).message };
      }
    };
    const describe = (r: Run) =>
      `[gzip] ${r.round === 0 ? 'warm-up  ' : `round ${r.round}/${rounds}`} ${r.contestant.padEnd(12)} ` +
      (r.ok ? `${fmtInt(r.rps).padStart(7)} req/s  p99 ${fmtMs(r.p99Ms)} ms  ${fmtFixed(r.cpuUsPerReq, 0)} CPU µs/req` : `FAILED: ${r.error}`);
    const { warmups, runs } = await warmUpAndRounds(contestants, rounds, measure, describe);

    const ok = (n: Name) => runs.filter((r) => r.ok && r.contestant === n);
    const paired = (a: Name, b: Name, f: (r: Run) => number | undefined) => pairedRatio(ok(a), ok(b), f);
    const rows = names.map((n) => {
      const rs = ok(n);
      const c = contestants.find((x) => x.name === n);
      if (rs.length === 0 || c === undefined) return [n, '-', '-', '-', '-', '-', '-'];
      const rps = summarizeBy(rs, (r) => r.rps).median;
      const mbps = rps === undefined ? undefined : (rps * c.wireBytes * 8) / 1e6;
      return [n, fmtInt(rps), fmtFixed(mbps, 0), fmtMs(summarizeBy(rs, (r) => r.p99Ms).median), fmtFixed(summarizeBy(rs, (r) => r.cpuUsPerReq).median, 0), fmtInt(c.wireBytes), fmtRatio(paired(n, 'nginx-gzip', (r) => r.rps).median)];
    });
    const ratios = {
      rpsFulcrumGzipVsNginxGzip: paired('fulcrum-gzip', 'nginx-gzip', (r) => r.rps),
      cpuPerReqFulcrumGzipVsNginxGzip: paired('fulcrum-gzip', 'nginx-gzip', (r) => r.cpuUsPerReq),
      rpsFulcrumGzipVsFulcrum: paired('fulcrum-gzip', 'fulcrum', (r) => r.rps),
      rpsNginxGzipVsNginx: paired('nginx-gzip', 'nginx', (r) => r.rps),
    };
    for (const c of contestants) {
      if (c.failure) problems.push(`${c.name}: ${c.failure.split('\n')[0]}`);
      const failed = [...warmups, ...runs].filter((r) => r.contestant === c.name && !r.ok);
      if (failed.length > 0 && !c.failure) problems.push(`${c.name}: ${failed.length} failed run(s): ${failed[0]!.error}`);
    }

    const out = [
      '',
      `gzip: ${BODY_BYTES} B text/html through one proxy worker, gzip level ${level}, wrk -t1 -c${connections} -d${duration.text} -H 'Accept-Encoding: gzip', median of ${rounds} round(s), A B A B`,
      `machine: ${ncpu} cpus, ${machine.cpuModel}, node ${machine.node}; ${Object.values(machine.versions).join('; ')}`,
      '',
      renderTable(['contestant', 'req/s', 'Mbit/s sent', 'p99 ms', 'CPU µs/req', 'B/response', 'req/s vs nginx-gzip'], rows),
      'CPU µs/req: user+system time of the proxy\'s processes (all threads: Fulcrum compresses on libuv\'s thread pool) per request.',
      'ratios: the median over rounds of the ratio within each round.',
      '',
      `fulcrum-gzip vs nginx-gzip: req/s ${fmtRatio(ratios.rpsFulcrumGzipVsNginxGzip.median)} (per round ${ratios.rpsFulcrumGzipVsNginxGzip.perRound.map((x) => fmtRatio(x)).join(' ')}), CPU per request ${fmtRatio(ratios.cpuPerReqFulcrumGzipVsNginxGzip.median)}`,
      `compression's cost: fulcrum-gzip ${fmtRatio(ratios.rpsFulcrumGzipVsFulcrum.median)} of fulcrum's req/s, nginx-gzip ${fmtRatio(ratios.rpsNginxGzipVsNginx.median)} of nginx's`,
    ];
    if (problems.length > 0) out.push('', 'problems:', ...problems.map((p) => `  ${p}`));
    const file = writeResults('gzip', startedAt, {
      benchmark: 'gzip',
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      machine,
      params: { bodyBytes: BODY_BYTES, level, rounds, connections, duration: duration.text, warmup: warmup.text, wrk: `wrk ${wrkArgs({ threads: 1, connections, duration: duration.text, url: 'URL', headers: ['Accept-Encoding: gzip'] }).join(' ')}` },
      contestants: contestants.map((c) => ({ name: c.name, port: c.port, command: c.proc.argv.join(' '), wireBytes: c.wireBytes })),
      configs,
      warmups,
      runs,
      ratios,
      problems,
    });
    out.push('', `results: ${file}`);
    process.stdout.write(`${out.join('\n')}\n`);
    return problems.length > 0 ? 1 : 0;
  } finally {
    await Promise.allSettled(contestants.map((c) => c.proc.stop()));
    await backend?.stop();
    await tmp.remove();
  }
}

export const gzipBenchmark: Benchmark = {
  name: 'gzip',
  summary: 'gzip of a 100 KB text response: fulcrum vs nginx gzip on at the same level (wrk, Accept-Encoding: gzip)',
  run: runGzip,
};
