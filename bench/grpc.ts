/**
 * gRPC and HTTP/2 to the servers: `npm run bench -- grpc`. Every contestant takes HTTP/2
 * with prior knowledge (h2c) from h2load and speaks HTTP/2 to the same two servers,
 * balancing per request:
 *
 * - grpc: unary gRPC calls (POST /fulcrum.test.Echo/Unary, application/grpc, an empty
 *   message, `te: trailers`) to two @grpc/grpc-js servers (bench/peers/grpc-echo-peer.ts,
 *   one process each); calls/s and p99 (from h2load's per-request log). h2load is the
 *   client: a C load generator, so the client is not what limits the rate.
 * - h2: plain HTTP/2 GETs to one nginx (one worker) with two h2c listeners; requests/s.
 *
 * Each contestant routes the gRPC path to the gRPC servers and the rest to nginx. Contestants: Fulcrum (one worker, pool `protocol: h2c`), HAProxy
 * (`nbthread 1`, `proto h2` on the bind and server lines), nginx (one worker,
 * `grpc_pass` with upstream keep-alive). A B A B rounds; ratios are taken within each
 * round against HAProxy and their median reported.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { NODE_FLAGS } from '../src/cli/node-flags.js';
import { envDuration, envInt, envSubset, log, type Benchmark } from './lib/benchmark.js';
import { throwIfShuttingDown } from './lib/cleanup.js';
import { measureRun, runH2load, runProblems, targetLine, type RunOutcome } from './lib/measured-run.js';
import { freePorts, LOOPBACK } from './lib/net.js';
import { startNginx } from './lib/nginx.js';
import { fulcrumCli, peerScript, repoRoot } from './lib/paths.js';
import { ensureDebianTools } from './lib/peers.js';
import { runCommand, startProcess, type ManagedProcess } from './lib/process.js';
import { machineInfo, writeResults } from './lib/results.js';
import { warmUpAndRounds } from './lib/rounds.js';
import { pairedRatio, summarizeBy, type Summary } from './lib/stats.js';
import { fmtFixed, fmtInt, fmtMs, fmtRatio, renderTable } from './lib/table.js';
import { makeTempDir } from './lib/tmp.js';

const CONTESTANTS = ['fulcrum', 'haproxy', 'nginx'] as const;
type ContestantName = (typeof CONTESTANTS)[number];
const PHASES = ['grpc', 'h2'] as const;
type Phase = (typeof PHASES)[number];
const DESCRIPTIONS: Record<ContestantName, string> = {
  fulcrum: 'Fulcrum, one worker, h2c listener, pool protocol h2c (max_streams 100), round robin',
  haproxy: 'HAProxy, nbthread 1, bind proto h2, server proto h2, http-reuse always, roundrobin',
  nginx: 'nginx, 1 worker, listen http2, grpc_pass to an upstream with keepalive 64, round robin',
};
const READY_TIMEOUT_MS = 10_000;

interface Params {
  readonly duration: { text: string; seconds: number };
  readonly warmup: { text: string; seconds: number };
  readonly rounds: number;
  readonly clients: number;
  readonly streams: number;
  readonly contestants: ContestantName[];
  readonly phases: Phase[];
}

interface Contestant {
  readonly name: ContestantName;
  readonly port: number;
  readonly proc: ManagedProcess;
  readonly command: string;
  failure?: string;
}

interface Run extends RunOutcome {
  readonly phase: Phase;
  readonly round: number;
  readonly contestant: ContestantName;
}

/** The servers: two h2c listeners answering like a gRPC server's empty reply. */
function backendHttp(s1: number, s2: number, www: string): string {
  const server = (port: number) => `server {
  listen ${LOOPBACK}:${port} http2;
  http2_max_concurrent_streams 1000;
  keepalive_requests 1000000;
  location / {
    root ${www};
    default_type application/grpc;
    add_trailer grpc-status 0;
    error_page 405 =200 /reply;
    try_files /reply =404;
  }
}`;
  return `${server(s1)}\n${server(s2)}`;
}

/** The four servers: g1, g2 (gRPC) and s1, s2 (nginx). */
interface Servers {
  readonly g1: number;
  readonly g2: number;
  readonly s1: number;
  readonly s2: number;
}

const GRPC_PATH = '/fulcrum.test.Echo/';

function fulcrumYaml(port: number, s: Servers): string {
  return `listeners:
  - name: bench
    bind: ${LOOPBACK}:${port}
    http2: { h2c: true, max_concurrent_streams: 1000 }
    forwarded: { headers: none, via: false }
    routes:
      - { path: ${GRPC_PATH}, pool: grpc }
      - { pool: h2 }
pools:
  grpc:
    protocol: h2c
    retries: 0
    servers:
      - { name: g1, address: "${LOOPBACK}:${s.g1}" }
      - { name: g2, address: "${LOOPBACK}:${s.g2}" }
  h2:
    protocol: h2c
    retries: 0
    servers:
      - { name: s1, address: "${LOOPBACK}:${s.s1}" }
      - { name: s2, address: "${LOOPBACK}:${s.s2}" }
`;
}

function haproxyCfg(port: number, s: Servers): string {
  return `global
  nbthread 1
  maxconn 4000

defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
  http-reuse always

frontend fe
  bind ${LOOPBACK}:${port} proto h2
  use_backend grpc if { path_beg ${GRPC_PATH} }
  default_backend h2

backend grpc
  balance roundrobin
  server g1 ${LOOPBACK}:${s.g1} proto h2
  server g2 ${LOOPBACK}:${s.g2} proto h2

backend h2
  balance roundrobin
  server s1 ${LOOPBACK}:${s.s1} proto h2
  server s2 ${LOOPBACK}:${s.s2} proto h2
`;
}

function nginxProxyHttp(port: number, s: Servers): string {
  return `upstream grpc_servers {
  server ${LOOPBACK}:${s.g1};
  server ${LOOPBACK}:${s.g2};
  keepalive 64;
}
upstream h2_servers {
  server ${LOOPBACK}:${s.s1};
  server ${LOOPBACK}:${s.s2};
  keepalive 64;
}
server {
  listen ${LOOPBACK}:${port} http2;
  http2_max_concurrent_streams 1000;
  keepalive_requests 1000000;
  location ${GRPC_PATH} {
    grpc_pass grpc://grpc_servers;
  }
  location / {
    grpc_pass grpc://h2_servers;
  }
}`;
}

function readParams(): Params {
  return {
    duration: envDuration('BENCH_DURATION', '5s'),
    warmup: envDuration('BENCH_WARMUP', '1s'),
    rounds: envInt('BENCH_ROUNDS', 5, 1, 100),
    clients: envInt('BENCH_H2_CLIENTS', 10, 1, 1000),
    streams: envInt('BENCH_H2_STREAMS', 10, 1, 1000),
    contestants: envSubset('BENCH_ONLY', CONTESTANTS),
    phases: envSubset('BENCH_GRPC_PHASES', PHASES),
  };
}

/** h2load's summary: requests that succeeded, failed or errored, and req/s. */
const r2 = (x: number) => Math.round(x * 100) / 100;

/** The 99th percentile of the per-request times (µs, third column) of an h2load log file, in ms. */
function p99FromLog(file: string): number | undefined {
  const times = readFileSync(file, 'utf8')
    .split('\n')
    .map((l) => Number(l.split('\t')[2]))
    .filter((x) => Number.isFinite(x) && x > 0)
    .sort((a, b) => a - b);
  if (times.length === 0) return undefined;
  return Math.round(times[Math.min(times.length - 1, Math.floor(times.length * 0.99))]! / 10) / 100;
}

function h2loadArgs(phase: Phase, port: number, p: Params, extra: string[], body: string): string[] {
  const grpc = phase === 'grpc' ? ['-d', body, '-H', 'content-type: application/grpc', '-H', 'te: trailers'] : [];
  const path = phase === 'grpc' ? `${GRPC_PATH}Unary` : '/';
  return [`-c${p.clients}`, `-m${p.streams}`, '-t1', ...grpc, ...extra, `http://${LOOPBACK}:${port}${path}`];
}

async function measure(c: Contestant, phase: Phase, round: number, duration: { seconds: number }, ctx: { h2load: string; params: Params; ncpu: number; dir: string; body: string }): Promise<Run> {
  const logFile = join(ctx.dir, `h2load-${c.name}-${phase}-${round}.log`);
  return measureRun(c, { phase, round, contestant: c.name }, ctx.ncpu, async () => {
    const args = h2loadArgs(phase, c.port, ctx.params, [`-D${duration.seconds}`, ...(phase === 'grpc' ? [`--log-file=${logFile}`] : [])], ctx.body);
    const h = await runH2load(ctx.h2load, args, duration.seconds);
    return { count: h.requests, rate: h.rps, errors: h.failed, p99Ms: phase === 'grpc' ? p99FromLog(logFile) : undefined };
  });
}

function describe(r: Run): string {
  const head = `[grpc] ${r.phase.padEnd(4)} ${r.round === 0 ? 'warm-up ' : `round ${r.round} `} ${r.contestant.padEnd(8)}`;
  if (!r.ok) return `${head} FAILED: ${r.error}`;
  return `${head} ${fmtInt(r.rate).padStart(8)} req/s${r.p99Ms === undefined ? '' : `  p99 ${fmtMs(r.p99Ms)}`}  ${fmtFixed(r.cpuUsPerUnit, 1)} CPU µs each  ${r.errors} errors${r.otherLoadPct === undefined ? '' : `  other load ${r.otherLoadPct}%`}`;
}

async function runGrpc(): Promise<number> {
  const params = readParams();
  const startedAt = new Date();
  const needed = [
    { bin: 'h2load', pkg: 'nghttp2-client' },
    { bin: 'nginx', pkg: 'nginx' },
  ];
  if (params.contestants.includes('haproxy')) needed.push({ bin: 'haproxy', pkg: 'haproxy' });
  const tools = await ensureDebianTools(needed);
  const tmp = makeTempDir('fulcrum-bench-grpc');
  let backend: ManagedProcess | undefined;
  const grpcServers: ManagedProcess[] = [];
  const contestants: Contestant[] = [];
  try {
    const versions: Record<string, string[]> = { h2load: [tools.h2load!, '--version'], nginx: [tools.nginx!, '-v'] };
    if (tools.haproxy) versions.haproxy = [tools.haproxy, '-v'];
    const machine = await machineInfo(versions);
    const ncpu = typeof machine.nproc === 'number' ? machine.nproc : availableParallelism();
    log(`[grpc] ${machine.nproc} cpus, node ${machine.node}, load ${machine.loadavgAtStart.join(' ')}`);
    log(`[grpc] phases ${params.phases.join(', ')}; ${params.rounds} rounds of ${params.contestants.join(', ')}, ${params.duration.text} each, h2load -c${params.clients} -m${params.streams}`);
    const www = join(tmp.path, 'www');
    const { mkdirSync, chmodSync } = await import('node:fs');
    mkdirSync(www, { recursive: true });
    chmodSync(tmp.path, 0o755);
    writeFileSync(join(www, 'reply'), Buffer.alloc(5)); // an empty gRPC message
    const body = join(tmp.path, 'request.bin');
    writeFileSync(body, Buffer.alloc(5));
    const [s1, s2, g1, g2, fPort, hPort, nPort] = (await freePorts(7)) as [number, number, number, number, number, number, number];
    const servers: Servers = { g1, g2, s1, s2 };
    const configs: Record<string, string> = { 'backend http{}': backendHttp(s1, s2, www) };
    backend = await startNginx('backend', tools.nginx!, join(tmp.path, 'backend'), { http: configs['backend http{}'] });
    for (const [name, port] of [['g1', g1], ['g2', g2]] as const) {
      const peer = await startProcess(`grpc-${name}`, process.execPath, [peerScript('grpc-echo-peer'), String(port)], { cwd: repoRoot });
      grpcServers.push(peer);
    }
    const ctx = { h2load: tools.h2load!, params, ncpu, dir: tmp.path, body };
    /** 20 requests of each phase's kind answered 2xx (retried until READY_TIMEOUT_MS). */
    const sanity = async (port: number, phases: readonly Phase[] = PHASES): Promise<void> => {
      const deadline = Date.now() + READY_TIMEOUT_MS;
      for (const phase of phases) {
        for (;;) {
          const res = await runCommand('h2load', ctx.h2load, h2loadArgs(phase, port, { ...params, clients: 1, streams: 1 }, ['-n20'], body), { timeoutMs: 10_000 });
          if (/20 succeeded, 0 failed/.test(res.stdout) && /20 2xx/.test(res.stdout)) break;
          if (Date.now() > deadline) throw new Error(`not answering 20 ${phase} requests: ${res.stdout.trim().split('\n').slice(-3).join(' | ')}`);
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    };
    await sanity(s1, ['h2']);
    await sanity(s2, ['h2']);
    await sanity(g1, ['grpc']);
    await sanity(g2, ['grpc']);

    const startErrors: Partial<Record<ContestantName, string>> = {};
    for (const name of params.contestants) {
      throwIfShuttingDown();
      try {
        let proc: ManagedProcess;
        let port: number;
        if (name === 'fulcrum') {
          port = fPort;
          configs['fulcrum.yaml'] = fulcrumYaml(port, servers);
          const file = join(tmp.path, 'fulcrum.yaml');
          writeFileSync(file, configs['fulcrum.yaml']);
          proc = await startProcess('fulcrum', process.execPath, [...NODE_FLAGS, fulcrumCli, 'run', '--workers', '1', '-c', file], { cwd: repoRoot });
        } else if (name === 'haproxy') {
          port = hPort;
          configs['haproxy.cfg'] = haproxyCfg(port, servers);
          const file = join(tmp.path, 'haproxy.cfg');
          writeFileSync(file, configs['haproxy.cfg']);
          proc = await startProcess('haproxy', tools.haproxy!, ['-f', file, '-db']);
        } else {
          port = nPort;
          configs['nginx http{}'] = nginxProxyHttp(port, servers);
          proc = await startNginx('nginx', tools.nginx!, join(tmp.path, 'nginx'), { http: configs['nginx http{}'] });
        }
        try {
          await sanity(port);
        } catch (err) {
          await proc.stop();
          throw err;
        }
        proc.rememberDescendants();
        contestants.push({ name, port, proc, command: proc.argv.join(' ') });
        log(`[grpc] ${name} ready on ${LOOPBACK}:${port} (pid ${proc.pid})`);
      } catch (err) {
        startErrors[name] = (err as Error).message;
        log(`[grpc] ${name}: NOT STARTED: ${(err as Error).message}`);
      }
    }

    const all: Run[] = [];
    const warm: Run[] = [];
    for (const phase of params.phases) {
      const { warmups, runs } = await warmUpAndRounds(contestants, params.rounds, (c, round) => measure(c, phase, round, round === 0 ? params.warmup : params.duration, ctx), describe);
      warm.push(...warmups);
      all.push(...runs);
    }

    const rows: string[][] = [];
    const medians: Record<string, Record<string, { rate: Summary; p99Ms: Summary; cpuUsPerUnit: Summary; vsHaproxy: number | undefined; perRound: number[] }>> = {};
    for (const phase of params.phases) {
      medians[phase] = {};
      const runsOf = (n: ContestantName) => all.filter((r) => r.ok && r.phase === phase && r.contestant === n);
      for (const c of params.contestants) {
        const ok = runsOf(c);
        if (ok.length === 0) {
          rows.push([phase, c, '-', '-', '-', '-', '-']);
          continue;
        }
        const paired = pairedRatio(ok, runsOf('haproxy'), (r) => r.rate);
        const s = { rate: summarizeBy(ok, (r) => r.rate), p99Ms: summarizeBy(ok, (r) => r.p99Ms), cpuUsPerUnit: summarizeBy(ok, (r) => r.cpuUsPerUnit), vsHaproxy: paired.median, perRound: paired.perRound.map(r2) };
        medians[phase]![c] = s;
        const errors = ok.reduce((n, r) => n + (r.errors ?? 0), 0);
        rows.push([phase, c, `${fmtInt(s.rate.median)} req/s`, Number.isNaN(s.p99Ms.median) ? '-' : fmtMs(s.p99Ms.median), fmtFixed(s.cpuUsPerUnit.median, 1), String(errors), fmtRatio(s.vsHaproxy)]);
      }
    }
    const out = ['', renderTable(['phase', 'contestant', 'rate (median)', 'p99 ms', 'CPU µs each', 'errors', 'vs haproxy (median of per-round ratios)'], rows)];
    out.push(`  grpc: h2load -c${params.clients} -m${params.streams} -t1, POST ${GRPC_PATH}Unary with an empty message, to two @grpc/grpc-js servers`);
    out.push(`  h2:   h2load -c${params.clients} -m${params.streams} -t1, GET /, to nginx (two h2c listeners, one worker)`);
    const loads = all.filter((r) => r.ok && r.otherLoadPct !== undefined).map((r) => r.otherLoadPct!);
    if (loads.length > 0) out.push(`other load during measured runs (% of ${ncpu} cpus): max ${Math.max(...loads)}%`);
    const targets = [
      { label: 'unary gRPC calls/s >= 0.8x haproxy', value: medians['grpc']?.['fulcrum']?.vsHaproxy, threshold: 0.8 },
      { label: 'HTTP/2-to-HTTP/2 req/s >= 0.8x haproxy', value: medians['h2']?.['fulcrum']?.vsHaproxy, threshold: 0.8 },
    ];
    out.push('', 'targets:');
    for (const t of targets) out.push(targetLine(t));
    const problems = runProblems(params.contestants, startErrors, contestants, [...warm, ...all]);
    if (problems.length > 0) out.push('', 'problems:', ...problems.map((p) => `  ${p}`));
    const file = writeResults('grpc', startedAt, {
      benchmark: 'grpc',
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      machine: { ...machine, loadavgAtEnd: loadavg().map((x) => r2(x)) },
      params,
      contestants: Object.fromEntries(params.contestants.map((n) => [n, { description: DESCRIPTIONS[n], command: contestants.find((c) => c.name === n)?.command, startError: startErrors[n] }])),
      configs,
      warmups: warm,
      runs: all,
      medians,
      targets,
      problems,
    });
    out.push('', `results: ${file}`);
    process.stdout.write(`${out.join('\n')}\n`);
    return problems.length > 0 ? 1 : 0;
  } finally {
    await Promise.allSettled(contestants.map((c) => c.proc.stop()));
    await Promise.allSettled(grpcServers.map((p) => p.stop()));
    await backend?.stop();
    await tmp.remove();
  }
}

export const grpcBenchmark: Benchmark = {
  name: 'grpc',
  summary: 'gRPC and HTTP/2 to servers: fulcrum vs haproxy (proto h2) vs nginx (grpc_pass): unary gRPC calls/s with p99, h2 req/s',
  run: runGrpc,
};
