/**
 * The http benchmark: Fulcrum's HTTP proxy against HAProxy, nginx and Node's http-proxy,
 * all in front of the same nginx backends (S1, S2), under the same wrk load, measured in
 * turn (A B A B) over several rounds. See bench/README.md.
 */
import { NODE_FLAGS } from '../src/cli/node-flags.js';
import { restartEachRound, warmUpAndRounds } from './lib/rounds.js';
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { envDuration, envInt, envSubset, log, type Benchmark } from './lib/benchmark.js';
import { throwIfShuttingDown } from './lib/cleanup.js';
import { withForeignCpu } from './lib/cpu.js';
import { freePort, freePorts, httpGet, LOOPBACK, waitForHttp } from './lib/net.js';
import { startNginx } from './lib/nginx.js';
import { fulcrumCli, peerScript, repoRoot } from './lib/paths.js';
import { ensureDebianTools, type DebianTool } from './lib/peers.js';
import { startProcess, type ManagedProcess } from './lib/process.js';
import { machineInfo, writeResults } from './lib/results.js';
import { pairedRatio, ratio, summarizeBy, type PairedRatio, type Summary } from './lib/stats.js';
import { fmtFixed, fmtInt, fmtMs, fmtRatio, renderTable } from './lib/table.js';
import { makeTempDir } from './lib/tmp.js';
import { runWrk, wrkArgs, type WrkResult } from './lib/wrk.js';
import { haproxyHttpConfig } from './lib/haproxy.js';

export const CONTESTANTS = ['direct', 'fulcrum', 'fulcrum-ids', 'fulcrum-policy', 'haproxy', 'nginx-proxy', 'http-proxy'] as const;
export type ContestantName = (typeof CONTESTANTS)[number];

function descriptions(workers: number): Record<ContestantName, string> {
  return {
    direct: 'wrk straight at S1: the backend ceiling (CPU is the backend nginx)',
    fulcrum: `Fulcrum: node dist/src/cli/main.js proxy --workers ${workers}, round robin S1+S2`,
    'fulcrum-ids': `the same Fulcrum with --request-id (an X-Request-ID made for each request, to the server and back)`,
    'fulcrum-policy': 'the same Fulcrum from a file whose route has five header rules, a rate limit (never reached) and an allow list',
    haproxy: `HAProxy, nbthread ${workers}, http-reuse always, roundrobin`,
    'nginx-proxy': `nginx, ${workers} worker(s), upstream keepalive 64`,
    'http-proxy': 'Node, npm http-proxy + http.Agent keepAlive maxSockets 64 (one process)',
  };
}

const THREADS = 1;
const READY_TIMEOUT_MS = 10_000;
/** A run during which the rest of the machine used this share of all cpus or more is flagged. */
const NOISY_PCT = 5;

export interface HttpParams {
  readonly duration: string;
  readonly durationSeconds: number;
  readonly warmup: string;
  readonly warmupSeconds: number;
  readonly rounds: number;
  readonly connections: number;
  readonly threads: number;
  readonly contestants: ContestantName[];
  readonly fulcrumExtraArgs: string[];
  /** Processes or threads for each proxy: fulcrum --workers, haproxy nbthread, nginx worker_processes. */
  readonly workers: number;
  /** BENCH_RESTART=1: contestants restarted (and warmed up) before each round after the first. */
  readonly restart: boolean;
}

export function readHttpParams(): HttpParams {
  const duration = envDuration('BENCH_DURATION', '6s');
  const warmup = envDuration('BENCH_WARMUP', '2s');
  const extra = (process.env.BENCH_FULCRUM_ARGS ?? '').trim();
  return {
    duration: duration.text,
    durationSeconds: duration.seconds,
    warmup: warmup.text,
    warmupSeconds: warmup.seconds,
    rounds: envInt('BENCH_ROUNDS', 5, 1, 100),
    connections: envInt('BENCH_CONNECTIONS', 50, 1, 10_000),
    threads: THREADS,
    contestants: envSubset('BENCH_ONLY', CONTESTANTS),
    fulcrumExtraArgs: extra === '' ? [] : extra.split(/\s+/),
    workers: envInt('BENCH_WORKERS', 1, 1, 64),
    restart: restartEachRound(),
  };
}

// ---- configurations --------------------------------------------------------------

function backendHttpBlock(s1: number, s2: number): string {
  return `
keepalive_requests 100000;
keepalive_timeout 65s;
server {
  listen ${LOOPBACK}:${s1};
  location / { return 200 "S1\\n"; }
}
server {
  listen ${LOOPBACK}:${s2};
  location / { return 200 "S2\\n"; }
}`;
}

function nginxProxyHttpBlock(port: number, s1: number, s2: number): string {
  return `
upstream backends {
  server ${LOOPBACK}:${s1};
  server ${LOOPBACK}:${s2};
  keepalive 64;
  keepalive_requests 100000;
}
server {
  listen ${LOOPBACK}:${port};
  keepalive_requests 100000;
  keepalive_timeout 65s;
  location / {
    proxy_pass http://backends;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
  }
}`;
}

// ---- contestants -----------------------------------------------------------------

interface Context {
  readonly dir: string;
  readonly tools: Record<string, string>;
  readonly backend: ManagedProcess;
  readonly s1: number;
  readonly s2: number;
  readonly params: HttpParams;
  readonly configs: Record<string, string>;
  /** CPUs online, to turn CPU time into a share of the machine. */
  readonly ncpu: number;
}

interface Contestant {
  readonly name: ContestantName;
  /** Both replaced when BENCH_RESTART restarts the contestant (a new free port). */
  port: number;
  readonly command: string;
  /** The process whose tree's CPU is measured. */
  proc: ManagedProcess;
  /** False for direct, whose process is the backend (stopped separately). */
  readonly owned: boolean;
  /** Bodies seen in 4 sanity GETs (round robin should show S1 and S2). */
  sanity: string[];
  /** Set when the process died: no more runs. */
  failure?: string;
}

async function launch(name: ContestantName, ctx: Context): Promise<{ proc: ManagedProcess; port: number }> {
  const { s1, s2, dir, tools } = ctx;
  const urls = [`http://${LOOPBACK}:${s1}`, `http://${LOOPBACK}:${s2}`];
  const port = await freePort();
  switch (name) {
    case 'direct':
      return { proc: ctx.backend, port: s1 };
    case 'fulcrum':
    case 'fulcrum-ids': {
      if (!existsSync(fulcrumCli)) throw new Error(`${fulcrumCli} does not exist (is the CLI written and built?)`);
      const args = [...NODE_FLAGS, fulcrumCli, 'proxy', '--workers', String(ctx.params.workers), '--listen', `${LOOPBACK}:${port}`, ...urls.flatMap((u) => ['--to', u]), ...ctx.params.fulcrumExtraArgs];
      if (name === 'fulcrum-ids') args.push('--request-id');
      return { proc: await startProcess(name, process.execPath, args, { cwd: repoRoot }), port };
    }
    case 'fulcrum-policy': {
      const cfg = join(dir, 'fulcrum-policy.yaml');
      ctx.configs['fulcrum-policy.yaml'] = policyConfig(port, s1, s2, ctx.params.workers);
      writeFileSync(cfg, ctx.configs['fulcrum-policy.yaml']);
      const args = [...NODE_FLAGS, fulcrumCli, 'run', '-c', cfg, ...ctx.params.fulcrumExtraArgs];
      return { proc: await startProcess(name, process.execPath, args, { cwd: repoRoot }), port };
    }
    case 'haproxy': {
      const cfg = join(dir, 'haproxy.cfg');
      ctx.configs['haproxy.cfg'] = haproxyHttpConfig({ port, s1, s2, connections: ctx.params.connections, threads: ctx.params.workers });
      writeFileSync(cfg, ctx.configs['haproxy.cfg']);
      return { proc: await startProcess('haproxy', tools.haproxy!, ['-f', cfg, '-db']), port };
    }
    case 'nginx-proxy': {
      const http = nginxProxyHttpBlock(port, s1, s2);
      ctx.configs['nginx-proxy http{}'] = http;
      return { proc: await startNginx('nginx-proxy', tools.nginx!, join(dir, 'nginx-proxy'), { http, workers: ctx.params.workers }), port };
    }
    case 'http-proxy': {
      const script = peerScript('http-proxy-peer');
      if (!existsSync(script)) throw new Error(`${script} does not exist (run tsc -p .)`);
      return { proc: await startProcess('http-proxy', process.execPath, [script, String(port), ...urls], { cwd: repoRoot }), port };
    }
  }
}

/** Issue 21's policy load: the proxy contestant's listener and pool, with rules on its one route. */
function policyConfig(port: number, s1: number, s2: number, workers: number): string {
  return `listeners:
  - name: proxy
    bind: ${LOOPBACK}:${port}
    routes:
      - pool: servers
        allow: [127.0.0.0/8, 192.0.2.0/24]
        rate_limit: { rate: 10000000/s }
        request_headers:
          set: { X-Client: "\${client_ip}", X-Route: policy }
          remove: [X-Debug]
        response_headers:
          set: { X-Frame-Options: DENY }
          remove: [Server]
pools:
  servers:
    servers:
      - { name: s1, address: "${LOOPBACK}:${s1}" }
      - { name: s2, address: "${LOOPBACK}:${s2}" }
runtime: { workers: ${workers}, control_socket: false }
logging: { level: warn }
`;
}

async function startContestant(name: ContestantName, ctx: Context): Promise<Contestant> {
  const { proc, port } = await launch(name, ctx);
  const owned = proc !== ctx.backend;
  try {
    await waitForHttp(port, { proc, timeoutMs: READY_TIMEOUT_MS });
    const sanity: string[] = [];
    for (let i = 0; i < 4; i++) sanity.push((await httpGet(port)).body.trim());
    proc.rememberDescendants();
    return { name, port, command: proc.argv.join(' '), proc, owned, sanity };
  } catch (err) {
    if (owned) await proc.stop();
    throw err;
  }
}

/** BENCH_RESTART: `c` stopped and started again (direct, the backend itself, is left alone). */
async function restartContestant(c: Contestant, ctx: Context): Promise<void> {
  if (!c.owned) return;
  await c.proc.stop();
  const fresh = await startContestant(c.name, ctx);
  c.proc = fresh.proc;
  c.port = fresh.port;
  log(`[http] ${c.name} restarted on ${LOOPBACK}:${c.port} (pid ${c.proc.pid})`);
}

// ---- measuring -------------------------------------------------------------------

interface RunRecord {
  readonly round: number; // 0 = warm-up
  readonly contestant: ContestantName;
  readonly startedAt: string;
  readonly ok: boolean;
  readonly error?: string;
  readonly rps?: number;
  readonly requests?: number;
  readonly seconds?: number;
  readonly latencyMs?: WrkResult['latencyMs'] & { avg: number; max: number };
  readonly non2xx3xx?: number;
  readonly socketErrors?: WrkResult['socketErrors'];
  readonly errors?: number;
  readonly cpuUs?: number;
  readonly cpuUsPerReq?: number;
  readonly backendCpuUs?: number;
  readonly backendCpuUsPerReq?: number;
  /** CPU used by processes outside this benchmark during the run, in % of all cpus. */
  readonly otherLoadPct?: number;
  /** CPU stolen by the hypervisor during the run, in % of all cpus. */
  readonly stealPct?: number;
}

/** Rounds for the JSON: latencies to the µs, CPU per request to 0.01 µs. */
const r3 = (x: number) => Math.round(x * 1000) / 1000;
const r2 = (x: number) => Math.round(x * 100) / 100;

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

async function measure(c: Contestant, round: number, duration: { text: string; seconds: number }, ctx: Context): Promise<RunRecord> {
  const startedAt = new Date().toISOString();
  const base = { round, contestant: c.name, startedAt };
  const cpu0 = c.proc.cpuMicros();
  const back0 = ctx.backend.cpuMicros();
  let res: WrkResult;
  let otherLoadPct: number | undefined;
  let stealPct: number | undefined;
  try {
    const m = await withForeignCpu(() =>
      runWrk({
        wrk: ctx.tools.wrk!,
        url: `http://${LOOPBACK}:${c.port}/`,
        threads: ctx.params.threads,
        connections: ctx.params.connections,
        duration: duration.text,
        durationSeconds: duration.seconds,
      }),
    );
    res = m.value;
    const capacity = m.wallUs * ctx.ncpu;
    if (m.foreignUs !== undefined && capacity > 0) otherLoadPct = Math.round((1000 * m.foreignUs) / capacity) / 10;
    if (m.stealUs !== undefined && capacity > 0) stealPct = Math.round((1000 * m.stealUs) / capacity) / 10;
  } catch (err) {
    if (c.proc.hasExited) c.failure = `exited during the run: ${c.proc.outputTail(5)}`;
    return { ...base, ok: false, error: errorMessage(err) };
  }
  const cpu1 = c.proc.cpuMicros();
  const back1 = ctx.backend.cpuMicros();
  if (c.proc.hasExited || cpu0 === undefined || cpu1 === undefined) {
    c.failure = `exited during the run: ${c.proc.outputTail(5)}`;
    return { ...base, ok: false, error: c.failure };
  }
  const cpuUs = cpu1 - cpu0;
  const backendCpuUs = back0 !== undefined && back1 !== undefined ? back1 - back0 : undefined;
  return {
    ...base,
    ok: true,
    rps: res.rps,
    requests: res.requests,
    seconds: res.seconds,
    latencyMs: {
      p50: r3(res.latencyMs.p50),
      p75: r3(res.latencyMs.p75),
      p90: r3(res.latencyMs.p90),
      p99: r3(res.latencyMs.p99),
      ...(res.latencyMs.p999 === undefined ? {} : { p999: r3(res.latencyMs.p999) }),
      avg: r3(res.latencyAvgMs),
      max: r3(res.latencyMaxMs),
    },
    non2xx3xx: res.non2xx3xx,
    socketErrors: res.socketErrors,
    errors: res.errors,
    cpuUs,
    cpuUsPerReq: res.requests > 0 ? r2(cpuUs / res.requests) : undefined,
    backendCpuUs,
    backendCpuUsPerReq: backendCpuUs !== undefined && res.requests > 0 ? r2(backendCpuUs / res.requests) : undefined,
    otherLoadPct,
    stealPct,
  };
}

function describeRun(r: RunRecord, rounds: number): string {
  const where = r.round === 0 ? 'warm-up  ' : `round ${r.round}/${rounds}`;
  const head = `[http] ${where} ${r.contestant.padEnd(11)}`;
  if (!r.ok) return `${head} FAILED: ${r.error}`;
  const other = r.otherLoadPct === undefined ? '' : `  other load ${r.otherLoadPct}%`;
  return `${head} ${fmtInt(r.rps).padStart(9)} req/s  p50 ${fmtMs(r.latencyMs?.p50)} ms  p99 ${fmtMs(r.latencyMs?.p99)} ms  p99.9 ${fmtMs(r.latencyMs?.p999)} ms  ${fmtFixed(r.cpuUsPerReq, 1)} CPU µs/req  ${r.errors} errors${other}`;
}

// ---- summary ---------------------------------------------------------------------

interface ContestantSummary {
  readonly rounds: number;
  readonly rps: Summary;
  readonly p50Ms: Summary;
  readonly p99Ms: Summary;
  readonly p999Ms: Summary;
  readonly cpuUsPerReq: Summary;
  readonly backendCpuUsPerReq: Summary;
  readonly errors: number;
  readonly failedRuns: number;
}

function summarizeRuns(runs: readonly RunRecord[]): ContestantSummary | undefined {
  const ok = runs.filter((r) => r.ok);
  if (ok.length === 0) return undefined;
  const pick = (f: (r: RunRecord) => number | undefined) => summarizeBy(ok, f);
  return {
    rounds: ok.length,
    rps: pick((r) => r.rps),
    p50Ms: pick((r) => r.latencyMs?.p50),
    p99Ms: pick((r) => r.latencyMs?.p99),
    p999Ms: pick((r) => r.latencyMs?.p999),
    cpuUsPerReq: pick((r) => r.cpuUsPerReq),
    backendCpuUsPerReq: pick((r) => r.backendCpuUsPerReq),
    errors: ok.reduce((n, r) => n + (r.errors ?? 0), 0),
    failedRuns: runs.length - ok.length,
  };
}

interface Target {
  readonly label: string;
  readonly value?: number;
  readonly threshold: number;
  readonly comparison: '>=' | '<=';
  readonly detail: string;
  readonly pass?: boolean;
}

function targets(s: Partial<Record<ContestantName, ContestantSummary>>, paired: (a: ContestantName, b: ContestantName, f: (r: RunRecord) => number | undefined) => PairedRatio): Target[] {
  const f = s.fulcrum;
  const h = s.haproxy;
  const p = s['http-proxy'];
  const mk = (label: string, r: PairedRatio, comparison: '>=' | '<=', threshold: number, medians: string): Target => {
    const value = r.median;
    return {
      label,
      value,
      threshold,
      comparison,
      detail:
        value === undefined
          ? `needs ${label.split(' ')[0]} and ${label.split(' ').at(-1)} measured in the same rounds`
          : `per round ${r.perRound.map((x) => fmtRatio(x)).join(' ')}; medians ${medians}`,
      pass: value === undefined ? undefined : comparison === '>=' ? value >= threshold : value <= threshold,
    };
  };
  const rps = (r: RunRecord) => r.rps;
  const p99 = (r: RunRecord) => r.latencyMs?.p99;
  return [
    mk('fulcrum req/s >= 0.9x haproxy', paired('fulcrum', 'haproxy', rps), '>=', 0.9, `${fmtInt(f?.rps.median)} vs ${fmtInt(h?.rps.median)} req/s`),
    mk('fulcrum p99 <= 1.5x haproxy', paired('fulcrum', 'haproxy', p99), '<=', 1.5, `${fmtMs(f?.p99Ms.median)} vs ${fmtMs(h?.p99Ms.median)} ms`),
    mk('fulcrum-ids req/s >= 0.97x fulcrum', paired('fulcrum-ids', 'fulcrum', rps), '>=', 0.97, 'request IDs on vs off, same build'),
    mk('fulcrum-policy req/s >= 0.9x fulcrum', paired('fulcrum-policy', 'fulcrum', rps), '>=', 0.9, 'five header rules, a rate limit and an allow list vs none, same build'),
    mk('fulcrum req/s >= 3x http-proxy', paired('fulcrum', 'http-proxy', rps), '>=', 3, `${fmtInt(f?.rps.median)} vs ${fmtInt(p?.rps.median)} req/s${peersVs('http-proxy', paired)}`),
  ];
}

/** For scale: how the other proxies compare with `peer` in the same rounds (", haproxy 3.11x and nginx-proxy 2.81x it"). */
function peersVs(peer: ContestantName, paired: (a: ContestantName, b: ContestantName, f: (r: RunRecord) => number | undefined) => PairedRatio): string {
  const others = (['haproxy', 'nginx-proxy'] as const)
    .map((n) => ({ n, r: paired(n, peer, (r) => r.rps).median }))
    .filter((x) => x.r !== undefined)
    .map((x) => `${x.n} ${fmtRatio(x.r)}`);
  return others.length === 0 ? '' : `; ${others.join(' and ')} it`;
}

// ---- the benchmark ---------------------------------------------------------------

async function runHttp(): Promise<number> {
  const params = readHttpParams();
  const startedAt = new Date();
  const needed: DebianTool[] = [
    { bin: 'wrk', pkg: 'wrk' },
    { bin: 'nginx', pkg: 'nginx' },
  ];
  if (params.contestants.includes('haproxy')) needed.push({ bin: 'haproxy', pkg: 'haproxy' });
  const tools = await ensureDebianTools(needed);

  const tmp = makeTempDir('fulcrum-bench-http');
  let backend: ManagedProcess | undefined;
  const contestants: Contestant[] = [];
  try {
    chmodSync(tmp.path, 0o755);
    const versionCmds: Record<string, string[]> = { wrk: [tools.wrk!, '--version'], nginx: [tools.nginx!, '-v'] };
    if (tools.haproxy) versionCmds.haproxy = [tools.haproxy, '-v'];
    const machine = await machineInfo(versionCmds);
    log(`[http] ${machine.nproc} cpus (${machine.cpuModel}), node ${machine.node}, load ${machine.loadavgAtStart.join(" ")}`);
    log(
      `[http] wrk -t${params.threads} -c${params.connections} -d${params.duration} --latency; warm-up ${params.warmup}; ` +
        `${params.rounds} rounds of ${params.contestants.join(', ')}${params.restart ? ', each restarted and warmed up again before each round after the first (BENCH_RESTART=1)' : ''}`,
    );

    const [s1, s2] = (await freePorts(2)) as [number, number];
    const backendHttp = backendHttpBlock(s1, s2);
    backend = await startNginx('backend', tools.nginx!, join(tmp.path, 'backend'), { http: backendHttp });
    await waitForHttp(s1, { proc: backend, expectBody: 'S1\n', timeoutMs: READY_TIMEOUT_MS });
    await waitForHttp(s2, { proc: backend, expectBody: 'S2\n', timeoutMs: READY_TIMEOUT_MS });
    backend.rememberDescendants();
    log(`[http] backend nginx (pid ${backend.pid}) S1 on ${LOOPBACK}:${s1}, S2 on ${LOOPBACK}:${s2}`);

    const ncpu = typeof machine.nproc === 'number' ? machine.nproc : availableParallelism();
    const ctx: Context = { dir: tmp.path, tools, backend, s1, s2, params, ncpu, configs: { 'backend http{}': backendHttp } };
    const startErrors: Partial<Record<ContestantName, string>> = {};
    for (const name of params.contestants) {
      throwIfShuttingDown();
      try {
        const c = await startContestant(name, ctx);
        contestants.push(c);
        const rr = new Set(c.sanity).size > 1 ? '' : ` (warning: 4 GETs all answered ${JSON.stringify(c.sanity[0])}; round robin?)`;
        log(`[http] ${name} ready on ${LOOPBACK}:${c.port} (pid ${c.proc.pid}), GETs: ${c.sanity.join(' ')}${name === 'direct' ? '' : rr}`);
      } catch (err) {
        startErrors[name] = errorMessage(err);
        log(`[http] ${name}: NOT STARTED: ${errorMessage(err)}`);
      }
    }

    const { warmups, runs } = await warmUpAndRounds(
      contestants,
      params.rounds,
      (c, round) =>
        round === 0
          ? measure(c, 0, { text: params.warmup, seconds: params.warmupSeconds }, ctx)
          : measure(c, round, { text: params.duration, seconds: params.durationSeconds }, ctx),
      (r) => describeRun(r, params.rounds),
      params.restart ? (c) => restartContestant(c, ctx) : undefined,
    );

    // Summary, table, targets.
    const summaries: Partial<Record<ContestantName, ContestantSummary>> = {};
    for (const c of contestants) {
      const s = summarizeRuns(runs.filter((r) => r.contestant === c.name));
      if (s) summaries[c.name] = s;
    }
    // ratios to haproxy: the median of the ratios within each round (see pairedRatio);
    // the ratio of the medians is kept in the JSON for comparison with older results
    const okRuns = (name: ContestantName) => runs.filter((r) => r.ok && r.contestant === name);
    const paired = (a: ContestantName, b: ContestantName, f: (r: RunRecord) => number | undefined) => pairedRatio(okRuns(a), okRuns(b), f);
    const hap = summaries.haproxy;
    const ratios: Partial<
      Record<ContestantName, { rpsVsHaproxy?: number; p99VsHaproxy?: number; rpsPerRound: number[]; p99PerRound: number[]; rpsOfMedians?: number; p99OfMedians?: number }>
    > = {};
    for (const name of params.contestants) {
      const s = summaries[name];
      if (!s) continue;
      const rps = paired(name, 'haproxy', (r) => r.rps);
      const p99 = paired(name, 'haproxy', (r) => r.latencyMs?.p99);
      ratios[name] = {
        rpsVsHaproxy: rps.median,
        p99VsHaproxy: p99.median,
        rpsPerRound: rps.perRound,
        p99PerRound: p99.perRound,
        rpsOfMedians: ratio(s.rps.median, hap?.rps.median),
        p99OfMedians: ratio(s.p99Ms.median, hap?.p99Ms.median),
      };
    }
    const rows = params.contestants.map((name) => {
      const s = summaries[name];
      if (!s) return [name, '-', '-', '-', '-', '-', '-', '-', '-'];
      return [
        name,
        fmtInt(s.rps.median),
        fmtMs(s.p50Ms.median),
        fmtMs(s.p99Ms.median),
        fmtMs(s.p999Ms.median),
        fmtFixed(s.cpuUsPerReq.median, 1),
        String(s.errors),
        fmtRatio(ratios[name]?.rpsVsHaproxy),
        fmtRatio(ratios[name]?.p99VsHaproxy),
      ];
    });
    const tgts = params.contestants.includes('fulcrum') ? targets(summaries, paired) : [];
    const problems: string[] = [];
    for (const name of params.contestants) {
      const c = contestants.find((x) => x.name === name);
      if (startErrors[name]) problems.push(`${name}: not started: ${startErrors[name]!.split('\n')[0]}`);
      else if (c?.failure) problems.push(`${name}: ${c.failure.split('\n')[0]}`);
      const failed = [...warmups, ...runs].filter((r) => r.contestant === name && !r.ok);
      if (failed.length > 0 && !c?.failure) problems.push(`${name}: ${failed.length} failed run(s): ${failed[0]!.error}`);
    }

    const out: string[] = [];
    out.push('');
    out.push(
      `http: wrk -t${params.threads} -c${params.connections} -d${params.duration} --latency, median of ${params.rounds} round(s), ` +
        `contestants in turn (A B A B), warm-up ${params.warmup}${params.restart ? ' (again after each restart: BENCH_RESTART=1, a fresh process per round)' : ''}; backends: nginx (1 worker) S1+S2`,
    );
    const short = (v: string) => v.replace(/ (Copyright|- https?:).*$/, '');
    out.push(`machine: ${machine.nproc} cpus, ${machine.cpuModel}, node ${machine.node}; ${Object.values(machine.versions).map(short).join('; ')}`);
    out.push('');
    out.push(
      renderTable(['contestant', 'req/s', 'p50 ms', 'p99 ms', 'p99.9 ms', 'CPU µs/req', 'errors', 'req/s vs haproxy', 'p99 vs haproxy'], rows),
    );
    out.push('CPU µs/req: user+system time of the contestant\'s processes during the measured run; for direct it is the backend nginx.');
    out.push('vs haproxy: the median over rounds of the ratio within each round (contestants run minutes apart at most in a round).');
    const loads = runs.filter((r) => r.ok && r.otherLoadPct !== undefined);
    if (loads.length > 0) {
      const maxOther = Math.max(...loads.map((r) => r.otherLoadPct!));
      const maxSteal = Math.max(...loads.map((r) => r.stealPct ?? 0));
      const noisy = loads.filter((r) => r.otherLoadPct! >= NOISY_PCT);
      out.push(
        `other load during measured runs (CPU used outside this benchmark, % of ${ncpu} cpus): max ${maxOther}%, steal max ${maxSteal}%` +
          (noisy.length > 0 ? ` -- ${noisy.length} of ${loads.length} runs at >= ${NOISY_PCT}%: figures are disturbed, compare ratios with care` : ''),
      );
    }
    if (tgts.length > 0) {
      out.push('');
      out.push('targets:');
      const w = Math.max(...tgts.map((t) => t.label.length));
      for (const t of tgts) {
        const verdict = t.pass === undefined ? 'n/a ' : t.pass ? 'PASS' : 'MISS';
        // three decimals when two would show the threshold itself beside a MISS (2.997x as "3.00x")
        const shown = t.value !== undefined && fmtRatio(t.value) === fmtRatio(t.threshold) ? `${t.value.toFixed(3)}x` : fmtRatio(t.value);
        out.push(`  ${verdict}  ${t.label.padEnd(w)}  ${shown.padStart(6)}  (${t.detail})`);
      }
    }
    if (problems.length > 0) {
      out.push('');
      out.push('problems:');
      for (const p of problems) out.push(`  ${p}`);
    }

    const file = writeResults('http', startedAt, {
      benchmark: 'http',
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      machine: { ...machine, loadavgAtEnd: loadavg().map((x) => Math.round(x * 100) / 100) },
      params: {
        ...params,
        order: params.restart
          ? 'contestants in turn each round (A B A B ...), each restarted and warmed up again before each round after the first (BENCH_RESTART=1)'
          : 'contestants in turn each round (A B A B ...), warm-up once per contestant before round 1',
        wrk: `wrk ${wrkArgs({ threads: params.threads, connections: params.connections, duration: params.duration, url: 'http://127.0.0.1:PORT/' }).join(' ')}`,
        cpu: 'utime+stime (+cutime+cstime) from /proc/PID/stat, summed over the process and its descendants, delta over the measured run',
      },
      backend: { s1, s2, pid: backend.pid },
      contestants: Object.fromEntries(
        params.contestants.map((name) => {
          const c = contestants.find((x) => x.name === name);
          return [
            name,
            {
              description: descriptions(params.workers)[name],
              command: c?.command,
              port: c?.port,
              sanityGets: c?.sanity,
              startError: startErrors[name],
              failure: c?.failure,
            },
          ];
        }),
      ),
      configs: ctx.configs,
      warmups,
      runs,
      medians: summaries,
      ratios,
      targets: tgts,
      problems,
    });
    out.push('');
    out.push(`results: ${file}`);
    process.stdout.write(`${out.join('\n')}\n`);
    return problems.length > 0 ? 1 : 0;
  } finally {
    await Promise.allSettled(contestants.filter((c) => c.owned).map((c) => c.proc.stop()));
    await backend?.stop();
    await tmp.remove();
  }
}

export const httpBenchmark: Benchmark = {
  name: 'http',
  summary: 'HTTP proxy: fulcrum vs haproxy, nginx and Node http-proxy in front of nginx S1+S2 (wrk)',
  run: runHttp,
};
