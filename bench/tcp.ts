/**
 * The tcp benchmark: Fulcrum's `mode: tcp` listener against HAProxy `mode tcp`
 * (nbthread 1) and nginx `stream` (1 worker), each one worker, measured in turn
 * (A B A B) over several rounds, in three phases:
 *
 * - bulk: `iperf3 -c -t N` through the proxy to an iperf3 server, client to server and
 *   reverse (-R); Gbit/s and the proxy's CPU per GB;
 * - rate: short connections, one small HTTP request each (`wrk -H 'Connection: close'`)
 *   through the proxy to an nginx backend; connections/s and CPU per connection;
 * - memory: N idle proxied connection pairs (a client process opens them, a holder
 *   process accepts them); resident memory per pair for every proxy, and for Fulcrum
 *   the JavaScript heap per pair (after GC), the issue's < 2 KB target.
 *
 * Run as `node dist/bench/tcp.js --serve FILE.yaml` this file is also Fulcrum's memory
 * contestant (it prints its heap on SIGUSR2); `--hold PORT` and `--open PORT N` are the
 * two ends of the idle pairs. See bench/README.md.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { availableParallelism, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { NODE_FLAGS } from '../src/cli/node-flags.js';
import { envDuration, envInt, envSubset, EnvironmentError, log, UsageError, type Benchmark } from './lib/benchmark.js';
import { throwIfShuttingDown } from './lib/cleanup.js';
import { processTree, withForeignCpu } from './lib/cpu.js';
import { freePorts, LOOPBACK, waitForHttp } from './lib/net.js';
import { startNginx } from './lib/nginx.js';
import { fulcrumCli, repoRoot } from './lib/paths.js';
import { ensureDebianTools } from './lib/peers.js';
import { runCommand, startProcess, type ManagedProcess } from './lib/process.js';
import { machineInfo, writeResults } from './lib/results.js';
import { ratio, summarizeBy, type Summary } from './lib/stats.js';
import { fmtFixed, fmtInt, fmtMs, fmtRatio, renderTable } from './lib/table.js';
import { makeTempDir } from './lib/tmp.js';
import { parseWrkOutput } from './lib/wrk.js';

/** Contestants in the order they run each round (BENCH_ONLY picks a subset). */
export const CONTESTANTS = ['direct', 'fulcrum', 'haproxy', 'nginx'] as const;
/** One of CONTESTANTS. */
export type ContestantName = (typeof CONTESTANTS)[number];
const PHASES = ['bulk', 'rate', 'memory'] as const;
type Phase = (typeof PHASES)[number];

const DESCRIPTIONS: Record<ContestantName, string> = {
  direct: 'no proxy: iperf3 / wrk straight at the iperf3 server / nginx backend (the ceiling)',
  fulcrum: 'Fulcrum: node dist/src/cli/main.js run -c fulcrum.yaml, mode: tcp listeners',
  haproxy: 'HAProxy, mode tcp, nbthread 1',
  nginx: 'nginx stream, 1 worker',
};

const THIS_SCRIPT = fileURLToPath(import.meta.url);
const READY_TIMEOUT_MS = 10_000;
const NOISY_PCT = 5;
const STREAM_MODULE = '/usr/lib/nginx/modules/ngx_stream_module.so';

interface TcpParams {
  readonly duration: { text: string; seconds: number };
  readonly warmup: { text: string; seconds: number };
  readonly rounds: number;
  readonly connections: number;
  readonly contestants: ContestantName[];
  readonly phases: Phase[];
  readonly pairs: number;
}

function readParams(): TcpParams {
  return {
    duration: envDuration('BENCH_DURATION', '5s'),
    warmup: envDuration('BENCH_WARMUP', '1s'),
    rounds: envInt('BENCH_ROUNDS', 3, 1, 100),
    connections: envInt('BENCH_CONNECTIONS', 50, 1, 10_000),
    contestants: envSubset('BENCH_ONLY', CONTESTANTS),
    phases: envSubset('BENCH_TCP_PHASES', PHASES),
    pairs: envInt('BENCH_TCP_PAIRS', 10_000, 1, 100_000),
  };
}

/** The soft limit on open files of this process (children inherit it). */
function fdLimit(): number {
  try {
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    if (m && m[1] !== 'unlimited') return Number(m[1]);
  } catch {
    // not Linux
  }
  return 1024;
}

// ---- configurations ---------------------------------------------------------------------

interface Ports {
  /** The iperf3 server. */
  iperf: number;
  /** The nginx HTTP backend. */
  web: number;
}

function fulcrumYaml(bulk: number, rate: number, ports: Ports): string {
  return `listeners:
  - name: bulk
    bind: ${LOOPBACK}:${bulk}
    mode: tcp
    routes: [{ pool: iperf }]
  - name: rate
    bind: ${LOOPBACK}:${rate}
    mode: tcp
    routes: [{ pool: web }]
pools:
  iperf:
    servers: [{ address: "${LOOPBACK}:${ports.iperf}" }]
  web:
    servers: [{ address: "${LOOPBACK}:${ports.web}" }]
`;
}

function haproxyConfig(frontends: Array<{ port: number; to: number }>, maxconn: number): string {
  return `global
  nbthread 1
  maxconn ${maxconn}

defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s

${frontends
  .map(
    (f, i) => `frontend fe${i}
  bind ${LOOPBACK}:${f.port}
  default_backend be${i}

backend be${i}
  server s1 ${LOOPBACK}:${f.to}
`,
  )
  .join('\n')}`;
}

function nginxStreamConf(dir: string, frontends: Array<{ port: number; to: number }>, workerConnections: number, loadModule: boolean): string {
  return [
    ...(loadModule ? [`load_module ${STREAM_MODULE};`] : []),
    'daemon off;',
    'master_process on;',
    'worker_processes 1;',
    `worker_rlimit_nofile ${workerConnections + 64};`,
    `pid ${join(dir, 'nginx.pid')};`,
    `error_log ${join(dir, 'error.log')} warn;`,
    `events { worker_connections ${workerConnections}; }`,
    'stream {',
    ...frontends.map((f) => `  server { listen ${LOOPBACK}:${f.port}; proxy_pass ${LOOPBACK}:${f.to}; }`),
    '}',
    '',
  ].join('\n');
}

// ---- processes ----------------------------------------------------------------------------

interface Tools {
  iperf3: string;
  wrk: string;
  nginx: string;
  haproxy?: string;
  /** nginx needs `load_module` for stream (Debian builds it as a module). */
  nginxStreamModule: boolean | 'missing';
}

/** Makes sure nginx can do `stream`: built in, or the Debian module (installed as root). */
async function nginxStream(nginx: string): Promise<boolean | 'missing'> {
  const v = await runCommand('nginx -V', nginx, ['-V'], { timeoutMs: 10_000 });
  const text = `${v.stdout}${v.stderr}`;
  if (/--with-stream(\s|$)/.test(text)) return false;
  if (!/--with-stream=dynamic/.test(text)) return 'missing';
  if (existsSync(STREAM_MODULE)) return true;
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return 'missing';
  log('[tcp] installing libnginx-mod-stream (nginx stream module)');
  const r = await runCommand('apt-get', 'apt-get', ['install', '-y', '--no-install-recommends', 'libnginx-mod-stream'], {
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    timeoutMs: 300_000,
  });
  if (r.code !== 0) log(`[tcp] apt-get install libnginx-mod-stream failed: ${r.stderr.trim().split('\n').slice(-2).join(' | ')}`);
  return existsSync(STREAM_MODULE) ? true : 'missing';
}

/** Waits until `proc`'s output contains `text`. */
async function waitForOutput(proc: ManagedProcess, text: string | RegExp, timeoutMs = READY_TIMEOUT_MS): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const out = `${proc.stdout}\n${proc.stderr}`;
    const m = typeof text === 'string' ? (out.includes(text) ? text : null) : text.exec(out)?.[0] ?? null;
    if (m !== null) return m;
    if (proc.hasExited) throw new Error(`${proc.name} exited before printing ${String(text)}:\n${proc.outputTail()}`);
    if (Date.now() > deadline) throw new Error(`${proc.name}: no ${String(text)} after ${timeoutMs} ms:\n${proc.outputTail()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface Contestant {
  readonly name: ContestantName;
  /** Port for iperf3 and for wrk. */
  readonly bulkPort: number;
  readonly ratePort: number;
  /** The proxy process (undefined for direct). */
  readonly proc?: ManagedProcess;
  readonly command: string;
  failure?: string;
}

async function startContestant(name: ContestantName, dir: string, tools: Tools, ports: Ports, configs: Record<string, string>): Promise<Contestant> {
  if (name === 'direct') return { name, bulkPort: ports.iperf, ratePort: ports.web, command: '(none)' };
  const [bulk, rate] = (await freePorts(2)) as [number, number];
  let proc: ManagedProcess;
  const frontends = [
    { port: bulk, to: ports.iperf },
    { port: rate, to: ports.web },
  ];
  switch (name) {
    case 'fulcrum': {
      if (!existsSync(fulcrumCli)) throw new Error(`${fulcrumCli} does not exist (run tsc -p .)`);
      const file = join(dir, 'fulcrum.yaml');
      configs['fulcrum.yaml'] = fulcrumYaml(bulk, rate, ports);
      writeFileSync(file, configs['fulcrum.yaml']);
      proc = await startProcess('fulcrum', process.execPath, [...NODE_FLAGS, fulcrumCli, 'run', '--workers', '1', '-c', file], { cwd: repoRoot });
      break;
    }
    case 'haproxy': {
      const file = join(dir, 'haproxy.cfg');
      configs['haproxy.cfg'] = haproxyConfig(frontends, 4000);
      writeFileSync(file, configs['haproxy.cfg']);
      proc = await startProcess('haproxy', tools.haproxy!, ['-f', file, '-db']);
      break;
    }
    case 'nginx': {
      if (tools.nginxStreamModule === 'missing') throw new EnvironmentError('nginx has no stream module (apt-get install libnginx-mod-stream)');
      const ndir = join(dir, 'nginx-stream');
      const conf = nginxStreamConf(ndir, frontends, 4096, tools.nginxStreamModule);
      configs['nginx-stream.conf'] = conf;
      proc = await startNginxConf('nginx', tools.nginx, ndir, conf);
      break;
    }
  }
  try {
    await waitForHttp(rate, { proc, timeoutMs: READY_TIMEOUT_MS, expectBody: 'S1\n' });
    proc.rememberDescendants();
  } catch (err) {
    await proc.stop();
    throw err;
  }
  return { name, bulkPort: bulk, ratePort: rate, proc, command: proc.argv.join(' ') };
}

/** nginx with a complete configuration of ours (lib/nginx.ts writes no load_module). */
async function startNginxConf(name: string, nginx: string, dir: string, conf: string): Promise<ManagedProcess> {
  const { mkdirSync, chmodSync } = await import('node:fs');
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o755);
  const file = join(dir, 'nginx.conf');
  writeFileSync(file, conf);
  return startProcess(name, nginx, ['-p', `${dir}/`, '-e', join(dir, 'error.log'), '-c', file]);
}

// ---- measuring ----------------------------------------------------------------------------

interface RunBase {
  readonly round: number; // 0 = warm-up
  readonly contestant: ContestantName;
  readonly startedAt: string;
  readonly ok: boolean;
  readonly error?: string;
  readonly cpuUs?: number;
  readonly otherLoadPct?: number;
}

interface BulkRun extends RunBase {
  readonly direction: 'up' | 'down';
  readonly gbps?: number;
  readonly bytes?: number;
  readonly retransmits?: number;
  /** Proxy CPU per GB moved (ms). */
  readonly cpuMsPerGB?: number;
}

interface RateRun extends RunBase {
  readonly connPerSec?: number;
  readonly connections?: number;
  readonly p99Ms?: number;
  readonly errors?: number;
  readonly cpuUsPerConn?: number;
}

const r2 = (x: number) => Math.round(x * 100) / 100;

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

async function timed<T>(c: Contestant, ncpu: number, fn: () => Promise<T>): Promise<{ value: T; cpuUs?: number; otherLoadPct?: number }> {
  const cpu0 = c.proc?.cpuMicros();
  const m = await withForeignCpu(fn);
  const cpu1 = c.proc?.cpuMicros();
  if (c.proc !== undefined && (c.proc.hasExited || cpu1 === undefined)) {
    c.failure = `exited during the run: ${c.proc.outputTail(5)}`;
    throw new Error(c.failure);
  }
  const capacity = m.wallUs * ncpu;
  const otherLoadPct = m.foreignUs !== undefined && capacity > 0 ? Math.round((1000 * m.foreignUs) / capacity) / 10 : undefined;
  return { value: m.value, cpuUs: cpu0 !== undefined && cpu1 !== undefined ? cpu1 - cpu0 : undefined, otherLoadPct };
}

async function runBulk(c: Contestant, tools: Tools, round: number, seconds: number, direction: 'up' | 'down', ncpu: number): Promise<BulkRun> {
  const base = { round, contestant: c.name, startedAt: new Date().toISOString(), direction };
  const args = ['-c', LOOPBACK, '-p', String(c.bulkPort), '-t', String(seconds), '-O', '1', '-J', ...(direction === 'down' ? ['-R'] : [])];
  try {
    const m = await timed(c, ncpu, () => runCommand('iperf3', tools.iperf3, args, { timeoutMs: (seconds + 30) * 1000 }));
    const res = m.value;
    let j: { error?: string; end?: { sum_received?: { bytes: number; bits_per_second: number }; sum_sent?: { retransmits?: number } } };
    try {
      j = JSON.parse(res.stdout) as typeof j;
    } catch {
      throw new Error(`iperf3 printed no JSON (${res.signal ?? `exit ${res.code}`}): ${`${res.stdout}${res.stderr}`.trim().slice(0, 300)}`);
    }
    if (j.error !== undefined || j.end?.sum_received === undefined) throw new Error(`iperf3: ${j.error ?? 'no end.sum_received'}`);
    const bytes = j.end.sum_received.bytes;
    return {
      ...base,
      ok: true,
      gbps: r2(j.end.sum_received.bits_per_second / 1e9),
      bytes,
      retransmits: j.end.sum_sent?.retransmits,
      cpuUs: m.cpuUs,
      cpuMsPerGB: m.cpuUs !== undefined && bytes > 0 ? r2(m.cpuUs / 1000 / (bytes / 1e9)) : undefined,
      otherLoadPct: m.otherLoadPct,
    };
  } catch (err) {
    return { ...base, ok: false, error: errorMessage(err) };
  }
}

async function runRate(c: Contestant, tools: Tools, round: number, duration: string, connections: number, ncpu: number): Promise<RateRun> {
  const base = { round, contestant: c.name, startedAt: new Date().toISOString() };
  const seconds = Number(/^\d+/.exec(duration)![0]) * (duration.endsWith('m') ? 60 : 1);
  const args = ['-t1', `-c${connections}`, `-d${duration}`, '--latency', '-H', 'Connection: close', `http://${LOOPBACK}:${c.ratePort}/`];
  try {
    const m = await timed(c, ncpu, () => runCommand('wrk', tools.wrk, args, { timeoutMs: (seconds + 30) * 1000 }));
    if (m.value.code !== 0) throw new Error(`wrk failed: ${`${m.value.stdout}${m.value.stderr}`.trim().split('\n').slice(-3).join(' | ')}`);
    const w = parseWrkOutput(m.value.stdout);
    return {
      ...base,
      ok: true,
      connPerSec: Math.round(w.rps),
      connections: w.requests,
      p99Ms: w.latencyMs.p99,
      errors: w.errors,
      cpuUs: m.cpuUs,
      cpuUsPerConn: m.cpuUs !== undefined && w.requests > 0 ? r2(m.cpuUs / w.requests) : undefined,
      otherLoadPct: m.otherLoadPct,
    };
  } catch (err) {
    return { ...base, ok: false, error: errorMessage(err) };
  }
}

// ---- memory -------------------------------------------------------------------------------

interface MemoryResult {
  readonly contestant: ContestantName;
  readonly ok: boolean;
  readonly error?: string;
  readonly pairs?: number;
  readonly rssBytesPerPair?: number;
  readonly heapBytesPerPair?: number;
  readonly rssBefore?: number;
  readonly rssAfter?: number;
  readonly heapBefore?: number;
  readonly heapAfter?: number;
}

/** Resident set size of a process and its descendants (bytes), from /proc/PID/status. */
function treeRss(pid: number): number {
  let kb = 0;
  for (const p of processTree(pid)) {
    try {
      const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${p.pid}/status`, 'utf8'));
      if (m) kb += Number(m[1]);
    } catch {
      // gone
    }
  }
  return kb * 1024;
}

/** Asks the --serve runner for its memory (SIGUSR2 -> one "mem {json}" line). */
async function runnerMemory(proc: ManagedProcess, seq: number): Promise<{ heapUsed: number; rss: number; connections: number }> {
  process.kill(proc.pid, 'SIGUSR2');
  const line = await waitForOutput(proc, new RegExp(`mem ${seq} (\\{[^\\n]*\\})`));
  return JSON.parse(line.slice(line.indexOf('{'))) as { heapUsed: number; rss: number; connections: number };
}

async function measureMemory(name: ContestantName, dir: string, tools: Tools, pairs: number, configs: Record<string, string>): Promise<MemoryResult> {
  const [port, holdPort] = (await freePorts(2)) as [number, number];
  const procs: ManagedProcess[] = [];
  try {
    const hold = await startProcess('holder', process.execPath, [THIS_SCRIPT, '--hold', String(holdPort)]);
    procs.push(hold);
    await waitForOutput(hold, 'holding');
    let proxy: ManagedProcess;
    const frontends = [{ port, to: holdPort }];
    switch (name) {
      case 'fulcrum': {
        const file = join(dir, 'fulcrum-memory.yaml');
        configs['fulcrum-memory.yaml'] = `listeners:\n  - name: idle\n    bind: ${LOOPBACK}:${port}\n    mode: tcp\n    routes: [{ pool: hold }]\npools:\n  hold:\n    servers: [{ address: "${LOOPBACK}:${holdPort}" }]\n`;
        writeFileSync(file, configs['fulcrum-memory.yaml']);
        proxy = await startProcess('fulcrum-memory', process.execPath, [...NODE_FLAGS, '--expose-gc', THIS_SCRIPT, '--serve', file], { cwd: repoRoot });
        await waitForOutput(proxy, 'serving');
        break;
      }
      case 'haproxy': {
        const file = join(dir, 'haproxy-memory.cfg');
        configs['haproxy-memory.cfg'] = haproxyConfig(frontends, pairs + 50);
        writeFileSync(file, configs['haproxy-memory.cfg']);
        proxy = await startProcess('haproxy-memory', tools.haproxy!, ['-f', file, '-db']);
        break;
      }
      case 'nginx': {
        if (tools.nginxStreamModule === 'missing') throw new Error('nginx has no stream module');
        const ndir = join(dir, 'nginx-memory');
        const conf = nginxStreamConf(ndir, frontends, 2 * pairs + 64, tools.nginxStreamModule);
        configs['nginx-memory.conf'] = conf;
        proxy = await startNginxConf('nginx-memory', tools.nginx, ndir, conf);
        break;
      }
      default:
        throw new Error(`no memory measurement for ${name}`);
    }
    procs.push(proxy);
    const deadline = Date.now() + READY_TIMEOUT_MS;
    while (!(await canConnect(port))) {
      if (proxy.hasExited) throw new Error(`${name} exited: ${proxy.outputTail(5)}`);
      if (Date.now() > deadline) throw new Error(`${name}: not listening on ${port}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setTimeout(r, 300));
    proxy.rememberDescendants();
    const before = name === 'fulcrum' ? await runnerMemory(proxy, 1) : undefined;
    const rssBefore = treeRss(proxy.pid);
    const open = await startProcess('opener', process.execPath, [THIS_SCRIPT, '--open', String(port), String(pairs)]);
    procs.push(open);
    await waitForOutput(open, `opened ${pairs}`, 120_000);
    await new Promise((r) => setTimeout(r, 1000));
    const after = name === 'fulcrum' ? await runnerMemory(proxy, 2) : undefined;
    const rssAfter = treeRss(proxy.pid);
    if (after !== undefined && after.connections !== pairs) throw new Error(`fulcrum holds ${after.connections} connections, expected ${pairs}`);
    return {
      contestant: name,
      ok: true,
      pairs,
      rssBefore,
      rssAfter,
      rssBytesPerPair: Math.round((rssAfter - rssBefore) / pairs),
      heapBefore: before?.heapUsed,
      heapAfter: after?.heapUsed,
      heapBytesPerPair: before !== undefined && after !== undefined ? Math.round((after.heapUsed - before.heapUsed) / pairs) : undefined,
    };
  } catch (err) {
    return { contestant: name, ok: false, error: errorMessage(err) };
  } finally {
    for (const p of procs.reverse()) await p.stop();
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: LOOPBACK });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

// ---- the benchmark ------------------------------------------------------------------------

interface BulkSummary {
  up: Summary;
  down: Summary;
  cpuMsPerGB: Summary;
  failed: number;
}
interface RateSummary {
  connPerSec: Summary;
  p99Ms: Summary;
  cpuUsPerConn: Summary;
  errors: number;
  failed: number;
}

async function runTcp(): Promise<number> {
  const params = readParams();
  if (params.contestants.length === 0 || params.phases.length === 0) throw new UsageError('nothing to run');
  const startedAt = new Date();
  const wanted = [
    { bin: 'iperf3', pkg: 'iperf3' },
    { bin: 'wrk', pkg: 'wrk' },
    { bin: 'nginx', pkg: 'nginx' },
    ...(params.contestants.includes('haproxy') ? [{ bin: 'haproxy', pkg: 'haproxy' }] : []),
  ];
  const found = await ensureDebianTools(wanted);
  const tools: Tools = {
    iperf3: found.iperf3!,
    wrk: found.wrk!,
    nginx: found.nginx!,
    haproxy: found.haproxy,
    nginxStreamModule: params.contestants.includes('nginx') ? await nginxStream(found.nginx!) : 'missing',
  };
  const tmp = makeTempDir('fulcrum-bench-tcp');
  const contestants: Contestant[] = [];
  const helpers: ManagedProcess[] = [];
  const configs: Record<string, string> = {};
  try {
    const { chmodSync } = await import('node:fs');
    chmodSync(tmp.path, 0o755);
    const versionCmds: Record<string, string[]> = { iperf3: [tools.iperf3, '--version'], wrk: [tools.wrk, '--version'], nginx: [tools.nginx, '-v'] };
    if (tools.haproxy) versionCmds.haproxy = [tools.haproxy, '-v'];
    const machine = await machineInfo(versionCmds);
    const ncpu = typeof machine.nproc === 'number' ? machine.nproc : availableParallelism();
    log(`[tcp] ${machine.nproc} cpus (${machine.cpuModel}), node ${machine.node}, load ${machine.loadavgAtStart.join(' ')}`);

    const [iperfPort, webPort] = (await freePorts(2)) as [number, number];
    const ports: Ports = { iperf: iperfPort, web: webPort };
    const iperf = await startProcess('iperf3-server', tools.iperf3, ['-s', '-B', LOOPBACK, '-p', String(iperfPort), '--forceflush']);
    helpers.push(iperf);
    await waitForOutput(iperf, 'Server listening');
    const webHttp = `keepalive_timeout 0;\nserver {\n  listen ${LOOPBACK}:${webPort};\n  location / { return 200 "S1\\n"; }\n}`;
    configs['backend http{}'] = webHttp;
    const web = await startNginx('backend', tools.nginx, join(tmp.path, 'backend'), { http: webHttp });
    helpers.push(web);
    await waitForHttp(webPort, { proc: web, expectBody: 'S1\n', timeoutMs: READY_TIMEOUT_MS });
    log(`[tcp] iperf3 server on ${LOOPBACK}:${iperfPort} (pid ${iperf.pid}); nginx backend on ${LOOPBACK}:${webPort} (pid ${web.pid})`);

    const startErrors: Partial<Record<ContestantName, string>> = {};
    const bulkPhase = params.phases.includes('bulk');
    const ratePhase = params.phases.includes('rate');
    if (bulkPhase || ratePhase) {
      for (const name of params.contestants) {
        throwIfShuttingDown();
        try {
          const c = await startContestant(name, tmp.path, tools, ports, configs);
          contestants.push(c);
          log(`[tcp] ${name} ready: bulk ${c.bulkPort}, rate ${c.ratePort}${c.proc ? ` (pid ${c.proc.pid})` : ''}`);
        } catch (err) {
          startErrors[name] = errorMessage(err);
          log(`[tcp] ${name}: NOT STARTED: ${errorMessage(err)}`);
        }
      }
    }

    const bulkRuns: BulkRun[] = [];
    const rateRuns: RateRun[] = [];
    const warmups: Array<BulkRun | RateRun> = [];
    const say = (r: BulkRun | RateRun, rounds: number) => {
      const where = r.round === 0 ? 'warm-up  ' : `round ${r.round}/${rounds}`;
      const other = r.otherLoadPct === undefined ? '' : `  other load ${r.otherLoadPct}%`;
      if ('direction' in r) {
        const head = `[tcp] bulk ${where} ${r.contestant.padEnd(8)} ${r.direction.padEnd(4)}`;
        log(r.ok ? `${head} ${fmtFixed(r.gbps, 2).padStart(6)} Gbit/s  ${fmtFixed(r.cpuMsPerGB, 0)} CPU ms/GB${other}` : `${head} FAILED: ${r.error}`);
      } else {
        const head = `[tcp] rate ${where} ${r.contestant.padEnd(8)}`;
        log(r.ok ? `${head} ${fmtInt(r.connPerSec).padStart(7)} conn/s  p99 ${fmtMs(r.p99Ms)} ms  ${fmtFixed(r.cpuUsPerConn, 1)} CPU µs/conn  ${r.errors} errors${other}` : `${head} FAILED: ${r.error}`);
      }
    };
    if (bulkPhase) {
      for (const c of contestants) {
        const r = await runBulk(c, tools, 0, params.warmup.seconds, 'up', ncpu);
        warmups.push(r);
        say(r, params.rounds);
      }
      for (let round = 1; round <= params.rounds; round++) {
        for (const c of contestants) {
          for (const dir of ['up', 'down'] as const) {
            if (c.failure) continue;
            throwIfShuttingDown();
            const r = await runBulk(c, tools, round, params.duration.seconds, dir, ncpu);
            bulkRuns.push(r);
            say(r, params.rounds);
          }
        }
      }
    }
    if (ratePhase) {
      for (const c of contestants) {
        const r = await runRate(c, tools, 0, params.warmup.text, params.connections, ncpu);
        warmups.push(r);
        say(r, params.rounds);
      }
      for (let round = 1; round <= params.rounds; round++) {
        for (const c of contestants) {
          if (c.failure) continue;
          throwIfShuttingDown();
          const r = await runRate(c, tools, round, params.duration.text, params.connections, ncpu);
          rateRuns.push(r);
          say(r, params.rounds);
        }
      }
    }
    await Promise.allSettled(contestants.filter((c) => c.proc).map((c) => c.proc!.stop()));

    // Memory: fresh processes, one contestant at a time.
    const memory: MemoryResult[] = [];
    const limit = fdLimit();
    const pairs = Math.min(params.pairs, Math.floor((limit - 300) / 2));
    if (params.phases.includes('memory')) {
      if (pairs < params.pairs) log(`[tcp] memory: ${pairs} pairs instead of ${params.pairs}: the open-files limit is ${limit} and a proxy needs 2 per pair`);
      for (const name of params.contestants) {
        if (name === 'direct' || (name === 'haproxy' && !tools.haproxy) || (name === 'nginx' && tools.nginxStreamModule === 'missing')) continue;
        throwIfShuttingDown();
        const m = await measureMemory(name, tmp.path, tools, pairs, configs);
        memory.push(m);
        log(
          m.ok
            ? `[tcp] memory ${name.padEnd(8)} ${m.pairs} idle pairs: RSS ${fmtInt(m.rssBytesPerPair)} B/pair${m.heapBytesPerPair !== undefined ? `, JS heap ${fmtInt(m.heapBytesPerPair)} B/pair` : ''}`
            : `[tcp] memory ${name.padEnd(8)} FAILED: ${m.error}`,
        );
      }
    }

    // ---- summary
    const bulkSummary: Partial<Record<ContestantName, BulkSummary>> = {};
    const rateSummary: Partial<Record<ContestantName, RateSummary>> = {};
    for (const name of params.contestants) {
      const b = bulkRuns.filter((r) => r.contestant === name);
      const bok = b.filter((r) => r.ok);
      if (bok.length > 0) {
        bulkSummary[name] = {
          up: summarizeBy(bok.filter((r) => r.direction === 'up'), (r) => r.gbps),
          down: summarizeBy(bok.filter((r) => r.direction === 'down'), (r) => r.gbps),
          cpuMsPerGB: summarizeBy(bok, (r) => r.cpuMsPerGB),
          failed: b.length - bok.length,
        };
      }
      const w = rateRuns.filter((r) => r.contestant === name);
      const wok = w.filter((r) => r.ok);
      if (wok.length > 0) {
        rateSummary[name] = {
          connPerSec: summarizeBy(wok, (r) => r.connPerSec),
          p99Ms: summarizeBy(wok, (r) => r.p99Ms),
          cpuUsPerConn: summarizeBy(wok, (r) => r.cpuUsPerConn),
          errors: wok.reduce((n, r) => n + (r.errors ?? 0), 0),
          failed: w.length - wok.length,
        };
      }
    }
    const hb = bulkSummary.haproxy;
    const hr = rateSummary.haproxy;
    const out: string[] = [''];
    out.push(`tcp: one worker per proxy, median of ${params.rounds} round(s), contestants in turn (A B A B), warm-up ${params.warmup.text}`);
    const short = (v: string) => v.replace(/ (Copyright|- https?:).*$/, '');
    out.push(`machine: ${machine.nproc} cpus, ${machine.cpuModel}, node ${machine.node}; ${Object.values(machine.versions).map(short).join('; ')}`);
    if (bulkPhase) {
      out.push('', `bulk: iperf3 -c -t ${params.duration.seconds} -O 1 (up: client to server; down: -R)`);
      out.push(
        renderTable(
          ['contestant', 'up Gbit/s', 'down Gbit/s', 'CPU ms/GB', 'up vs haproxy', 'down vs haproxy'],
          params.contestants.map((n) => {
            const s = bulkSummary[n];
            return [n, fmtFixed(s?.up.median, 2), fmtFixed(s?.down.median, 2), n === 'direct' ? '-' : fmtFixed(s?.cpuMsPerGB.median, 0), fmtRatio(ratio(s?.up.median, hb?.up.median)), fmtRatio(ratio(s?.down.median, hb?.down.median))];
          }),
        ),
      );
    }
    if (ratePhase) {
      out.push('', `rate: wrk -t1 -c${params.connections} -d${params.duration.text} -H 'Connection: close' (one request per TCP connection) to nginx`);
      out.push(
        renderTable(
          ['contestant', 'conn/s', 'p99 ms', 'CPU µs/conn', 'errors', 'conn/s vs haproxy'],
          params.contestants.map((n) => {
            const s = rateSummary[n];
            return [n, fmtInt(s?.connPerSec.median), fmtMs(s?.p99Ms.median), n === 'direct' ? '-' : fmtFixed(s?.cpuUsPerConn.median, 1), s ? String(s.errors) : '-', fmtRatio(ratio(s?.connPerSec.median, hr?.connPerSec.median))];
          }),
        ),
      );
    }
    if (memory.length > 0) {
      out.push('', `memory: ${pairs} idle proxied connection pairs; growth per pair (RSS: the proxy's processes; JS heap: after GC)`);
      out.push(
        renderTable(
          ['contestant', 'pairs', 'RSS B/pair', 'JS heap B/pair'],
          memory.map((m) => [m.contestant, m.ok ? fmtInt(m.pairs) : 'failed', fmtInt(m.rssBytesPerPair), fmtInt(m.heapBytesPerPair)]),
        ),
      );
    }
    const loads = [...bulkRuns, ...rateRuns].filter((r) => r.ok && r.otherLoadPct !== undefined);
    if (loads.length > 0) {
      const noisy = loads.filter((r) => r.otherLoadPct! >= NOISY_PCT);
      out.push(
        `other load during measured runs (CPU outside this benchmark, % of ${ncpu} cpus): max ${Math.max(...loads.map((r) => r.otherLoadPct!))}%` +
          (noisy.length > 0 ? ` -- ${noisy.length} of ${loads.length} runs at >= ${NOISY_PCT}%: compare ratios with care` : ''),
      );
    }
    const fb = bulkSummary.fulcrum;
    const fr = rateSummary.fulcrum;
    const fm = memory.find((m) => m.contestant === 'fulcrum');
    const targets = [
      { label: 'bulk up >= 0.9x haproxy', value: ratio(fb?.up.median, hb?.up.median), threshold: 0.9, higher: true },
      { label: 'bulk down >= 0.9x haproxy', value: ratio(fb?.down.median, hb?.down.median), threshold: 0.9, higher: true },
      { label: 'conn/s >= 0.8x haproxy', value: ratio(fr?.connPerSec.median, hr?.connPerSec.median), threshold: 0.8, higher: true },
      { label: 'JS heap per idle pair < 2048 B', value: fm?.heapBytesPerPair, threshold: 2048, higher: false },
    ].map((t) => ({ ...t, pass: t.value === undefined ? undefined : t.higher ? t.value >= t.threshold : t.value < t.threshold }));
    if (params.contestants.includes('fulcrum')) {
      out.push('', 'targets:');
      for (const t of targets) {
        const v = t.value === undefined ? '-' : t.higher ? fmtRatio(t.value) : `${fmtInt(t.value)} B`;
        out.push(`  ${t.pass === undefined ? 'n/a ' : t.pass ? 'PASS' : 'MISS'}  ${t.label.padEnd(32)} ${v}`);
      }
    }
    const problems: string[] = [];
    for (const [name, e] of Object.entries(startErrors)) problems.push(`${name}: not started: ${e.split('\n')[0]}`);
    for (const c of contestants) if (c.failure) problems.push(`${c.name}: ${c.failure.split('\n')[0]}`);
    for (const r of [...warmups, ...bulkRuns, ...rateRuns]) if (!r.ok) problems.push(`${r.contestant}: run failed: ${r.error}`);
    for (const m of memory) if (!m.ok) problems.push(`${m.contestant}: memory: ${m.error}`);
    if (problems.length > 0) out.push('', 'problems:', ...problems.map((p) => `  ${p}`));

    const file = writeResults('tcp', startedAt, {
      benchmark: 'tcp',
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      machine: { ...machine, loadavgAtEnd: loadavg().map((x) => Math.round(x * 100) / 100), openFilesLimit: limit },
      params,
      contestants: Object.fromEntries(
        params.contestants.map((n) => {
          const c = contestants.find((x) => x.name === n);
          return [n, { description: DESCRIPTIONS[n], command: c?.command, bulkPort: c?.bulkPort, ratePort: c?.ratePort, startError: startErrors[n], failure: c?.failure }];
        }),
      ),
      configs,
      warmups,
      bulkRuns,
      rateRuns,
      memory,
      medians: { bulk: bulkSummary, rate: rateSummary },
      targets,
      problems,
    });
    out.push('', `results: ${file}`);
    process.stdout.write(`${out.join('\n')}\n`);
    return problems.length > 0 ? 1 : 0;
  } finally {
    await Promise.allSettled(contestants.filter((c) => c.proc).map((c) => c.proc!.stop()));
    for (const h of helpers.reverse()) await h.stop();
    await tmp.remove();
  }
}

/** The tcp benchmark, registered in bench/run.ts. */
export const tcpBenchmark: Benchmark = {
  name: 'tcp',
  summary: 'TCP proxy: fulcrum vs haproxy mode tcp and nginx stream (iperf3 bulk, wrk connection rate, idle-pair memory)',
  run: runTcp,
};

// ---- helper processes: `--serve FILE`, `--hold PORT`, `--open PORT N` ------------------

/** Fulcrum from a YAML file; on SIGUSR2 prints "mem SEQ {heapUsed, rss, connections}" after GC. */
async function serve(file: string): Promise<void> {
  const { loadConfigFile, formatIssue } = await import('../src/config/load.js');
  const { startInstance } = await import('../src/runtime/instance.js');
  const { config, issues } = await loadConfigFile(file);
  if (config === undefined) throw new Error(issues.map(formatIssue).join('\n'));
  const instance = await startInstance(config);
  const gc = (globalThis as { gc?: () => void }).gc;
  let seq = 0;
  process.on('SIGUSR2', () => {
    gc?.();
    gc?.();
    const m = process.memoryUsage();
    let connections = 0;
    for (const l of instance.listeners) connections += (l as unknown as { connections?: Set<unknown> }).connections?.size ?? 0;
    process.stdout.write(`mem ${++seq} ${JSON.stringify({ heapUsed: m.heapUsed, rss: m.rss, external: m.external, connections, gc: gc !== undefined })}\n`);
  });
  process.stdout.write(`serving ${instance.listeners.map((l) => l.address().port).join(' ')}\n`);
  const stop = () => void instance.stop({ graceMs: 0 }).then(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

/** Accepts connections and holds them open. */
function hold(port: number): void {
  const socks = new Set<net.Socket>();
  const server = net.createServer((s) => {
    socks.add(s);
    s.on('error', () => {});
    s.on('close', () => socks.delete(s));
  });
  server.listen({ port, host: LOOPBACK, backlog: 4096 }, () => process.stdout.write(`holding on ${port}\n`));
}

/** Opens `n` connections to `port` (at most 200 connecting at once) and keeps them. */
function open(port: number, n: number): void {
  const socks: net.Socket[] = [];
  let started = 0;
  let opened = 0;
  const next = () => {
    while (started < n && started - opened < 200) {
      started++;
      const s = net.connect({ port, host: LOOPBACK }, () => {
        opened++;
        if (opened === n) process.stdout.write(`opened ${n}\n`);
        next();
      });
      s.on('error', (err) => {
        process.stdout.write(`failed: ${err.message} after ${opened} connections\n`);
        process.exit(1);
      });
      socks.push(s);
    }
  };
  next();
}

if (process.argv[1] !== undefined && pathToFileURL(resolve(process.argv[1])).href === import.meta.url) {
  const [mode, a, b] = process.argv.slice(2);
  const fail = (err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  };
  if (mode === '--serve') serve(a!).catch(fail);
  else if (mode === '--hold') hold(Number(a));
  else if (mode === '--open') open(Number(a), Number(b));
}
