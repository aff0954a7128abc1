/**
 * The dns benchmark: dnsperf against NSD 4.6 (one server process, RRL off) and Fulcrum's
 * DNS server (one process, `www.example.com` backed by a pool of S1 192.0.2.11 and S2
 * 192.0.2.12, no health checks), the same query file (`www.example.com A` repeated), in
 * turn (A B A B) over several rounds; medians of queries per second, loss, latency and
 * CPU per query, and the ratio to NSD: the median of the ratios within each round (as
 * the http benchmark takes its ratios). See bench/README.md.
 *
 * Run as `node dist/bench/dns.js --serve PORT`, this file is also the Fulcrum contestant:
 * it starts a DnsServer on 127.0.0.1:PORT and prints a ready line.
 */
import { warmUpAndRounds } from './lib/rounds.js';
import { NODE_FLAGS } from '../src/cli/node-flags.js';
import dgram from 'node:dgram';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { envDuration, envInt, envSubset, log, type Benchmark } from './lib/benchmark.js';
import { throwIfShuttingDown } from './lib/cleanup.js';
import { withForeignCpu } from './lib/cpu.js';
import { freePort, LOOPBACK } from './lib/net.js';
import { repoRoot } from './lib/paths.js';
import { ensureDebianTools } from './lib/peers.js';
import { runCommand, startProcess, type ManagedProcess } from './lib/process.js';
import { machineInfo, writeResults } from './lib/results.js';
import { pairedRatio, ratio, summarizeBy, type Summary } from './lib/stats.js';
import { fmtFixed, fmtInt, fmtMs, fmtRatio, renderTable } from './lib/table.js';
import { makeTempDir } from './lib/tmp.js';

/** The contestants, in the order they run each round. */
export const DNS_CONTESTANTS = ['nsd', 'fulcrum'] as const;
/** One of DNS_CONTESTANTS. */
export type DnsContestantName = (typeof DNS_CONTESTANTS)[number];

const DESCRIPTIONS: Record<DnsContestantName, string> = {
  nsd: 'NSD, server-count 1, rrl-ratelimit 0, zone file with www A 192.0.2.11 and 192.0.2.12',
  fulcrum: 'Fulcrum DnsServer (one process), www pool-backed by S1 192.0.2.11 + S2 192.0.2.12, no health checks',
};

const QUERY = 'www.example.com A';
const EXPECTED = ['192.0.2.11', '192.0.2.12'];
const READY_TIMEOUT_MS = 10_000;
/** Issue 24's goal: at least NSD's queries per second, with zero loss. */
const TARGET_RATIO = 1.0;
const NOISY_PCT = 5;

/** Parameters from the environment (see bench/run.ts usage). */
export interface DnsParams {
  readonly duration: number;
  readonly warmup: number;
  readonly rounds: number;
  /** dnsperf -c */
  readonly clients: number;
  /** dnsperf -q */
  readonly outstanding: number;
  /** dnsperf -Q */
  readonly maxQps: number;
  readonly contestants: DnsContestantName[];
}

/** Reads BENCH_DURATION, BENCH_WARMUP, BENCH_ROUNDS, BENCH_DNS_CLIENTS, BENCH_DNS_OUTSTANDING, BENCH_DNS_QPS, BENCH_DNS_ONLY. */
export function readDnsParams(): DnsParams {
  return {
    duration: envDuration('BENCH_DURATION', '10s').seconds,
    warmup: envDuration('BENCH_WARMUP', '2s').seconds,
    rounds: envInt('BENCH_ROUNDS', 3, 1, 100),
    clients: envInt('BENCH_DNS_CLIENTS', 4, 1, 256),
    outstanding: envInt('BENCH_DNS_OUTSTANDING', 100, 1, 65_535),
    maxQps: envInt('BENCH_DNS_QPS', 2_000_000, 1, 100_000_000),
    contestants: envSubset('BENCH_DNS_ONLY', DNS_CONTESTANTS),
  };
}

// ---- dnsperf -------------------------------------------------------------------------------

/** What one dnsperf run reported. */
export interface DnsperfResult {
  readonly sent: number;
  readonly completed: number;
  readonly lost: number;
  readonly qps: number;
  readonly avgLatencyMs: number;
  readonly latencyStdDevMs: number;
  readonly rcodes: string;
}

/** Parses dnsperf 2.x's summary ("Queries sent:", "Queries per second:", "Average Latency (s):" ...). Throws when a figure is missing. */
export function parseDnsperf(out: string): DnsperfResult {
  const num = (re: RegExp, what: string) => {
    const m = re.exec(out);
    if (!m) throw new Error(`dnsperf output has no ${what}:\n${out.trim().split('\n').slice(-12).join('\n')}`);
    return Number(m[1]);
  };
  const lat = /Average Latency \(s\):\s+([\d.]+)\s+\(min ([\d.]+), max ([\d.]+)\)/.exec(out);
  return {
    sent: num(/Queries sent:\s+(\d+)/, 'Queries sent'),
    completed: num(/Queries completed:\s+(\d+)/, 'Queries completed'),
    lost: num(/Queries lost:\s+(\d+)/, 'Queries lost'),
    qps: num(/Queries per second:\s+([\d.]+)/, 'Queries per second'),
    avgLatencyMs: lat ? Number(lat[1]) * 1000 : Number.NaN,
    latencyStdDevMs: Number(/Latency StdDev \(s\):\s+([\d.]+)/.exec(out)?.[1] ?? Number.NaN) * 1000,
    rcodes: /Response codes:\s+(.*)/.exec(out)?.[1]?.trim() ?? '',
  };
}

// ---- readiness -----------------------------------------------------------------------------

/** One A query for www.example.com over UDP; resolves to the answer addresses (sorted) or rejects on timeout. */
function askA(port: number, timeoutMs = 500): Promise<string[]> {
  const q = Buffer.from([0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 3, ...Buffer.from('www'), 7, ...Buffer.from('example'), 3, ...Buffer.from('com'), 0, 0, 1, 0, 1]);
  return new Promise((resolveP, reject) => {
    const s = dgram.createSocket('udp4');
    const t = setTimeout(() => {
      s.close();
      reject(new Error('timeout'));
    }, timeoutMs);
    s.on('message', (m) => {
      clearTimeout(t);
      s.close();
      // Answers follow the question: each A record ends with 4 address octets.
      const an = m.readUInt16BE(6);
      const out: string[] = [];
      let p = q.length;
      for (let i = 0; i < an && p + 16 <= m.length; i++) {
        const rdlen = m.readUInt16BE(p + 10);
        if (rdlen === 4) out.push([...m.subarray(p + 12, p + 16)].join('.'));
        p += 12 + rdlen;
      }
      resolveP(out.sort());
    });
    s.on('error', (err) => {
      clearTimeout(t);
      s.close();
      reject(err);
    });
    s.send(q, port, LOOPBACK);
  });
}

async function waitForDns(port: number, proc: ManagedProcess): Promise<string[]> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let last = '';
  for (;;) {
    if (proc.hasExited) throw new Error(`${proc.name} exited before it was ready:\n${proc.outputTail()}`);
    try {
      const a = await askA(port);
      if (a.join() === EXPECTED.join()) return a;
      last = `answered ${JSON.stringify(a)}`;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`${proc.name}: no good answer on ${LOOPBACK}:${port} (${last})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// ---- contestants ---------------------------------------------------------------------------

function nsdConfig(dir: string, port: number): { conf: string; zone: string } {
  const conf = `server:
  ip-address: ${LOOPBACK}@${port}
  do-ip6: no
  server-count: 1
  username: ""
  chroot: ""
  zonesdir: "${dir}"
  database: ""
  zonelistfile: "${dir}/zone.list"
  pidfile: "${dir}/nsd.pid"
  xfrdfile: "${dir}/xfrd.state"
  xfrdir: "${dir}"
  logfile: "${dir}/nsd.log"
  verbosity: 1
  hide-version: yes
  rrl-ratelimit: 0
  rrl-whitelist-ratelimit: 0
remote-control:
  control-enable: no
zone:
  name: example.com
  zonefile: example.com.zone
`;
  const zone = `$ORIGIN example.com.
$TTL 3600
@    IN SOA ns1.example.com. hostmaster.example.com. 1 3600 600 604800 60
@    IN NS  ns1.example.com.
ns1  IN A   127.0.0.1
www  30 IN A 192.0.2.11
www  30 IN A 192.0.2.12
`;
  return { conf, zone };
}

interface Contestant {
  readonly name: DnsContestantName;
  readonly port: number;
  readonly proc: ManagedProcess;
  readonly command: string;
  readonly sanity: string[];
  failure?: string;
}

async function startContestant(name: DnsContestantName, dir: string, tools: Record<string, string>, configs: Record<string, string>): Promise<Contestant> {
  const port = await freePort();
  let proc: ManagedProcess;
  if (name === 'nsd') {
    const nsdDir = join(dir, 'nsd');
    mkdirSync(nsdDir, { recursive: true });
    const { conf, zone } = nsdConfig(nsdDir, port);
    configs['nsd.conf'] = conf;
    configs['example.com.zone'] = zone;
    writeFileSync(join(nsdDir, 'nsd.conf'), conf);
    writeFileSync(join(nsdDir, 'example.com.zone'), zone);
    proc = await startProcess('nsd', tools.nsd!, ['-d', '-c', join(nsdDir, 'nsd.conf')]);
  } else {
    const script = fileURLToPath(import.meta.url);
    proc = await startProcess('fulcrum', process.execPath, [...NODE_FLAGS, script, '--serve', String(port)], { cwd: repoRoot });
  }
  try {
    const sanity = await waitForDns(port, proc);
    proc.rememberDescendants();
    return { name, port, proc, command: proc.argv.join(' '), sanity };
  } catch (err) {
    await proc.stop();
    throw err;
  }
}

// ---- measuring -----------------------------------------------------------------------------

interface RunRecord {
  readonly round: number;
  readonly contestant: DnsContestantName;
  readonly startedAt: string;
  readonly ok: boolean;
  readonly error?: string;
  readonly qps?: number;
  readonly sent?: number;
  readonly completed?: number;
  readonly lost?: number;
  readonly lossPct?: number;
  readonly avgLatencyMs?: number;
  readonly rcodes?: string;
  readonly cpuUs?: number;
  readonly cpuUsPerQuery?: number;
  readonly otherLoadPct?: number;
}

function dnsperfArgs(p: DnsParams, port: number, queryFile: string, seconds: number): string[] {
  return ['-s', LOOPBACK, '-p', String(port), '-d', queryFile, '-c', String(p.clients), '-q', String(p.outstanding), '-Q', String(p.maxQps), '-l', String(seconds)];
}

async function measure(c: Contestant, round: number, seconds: number, p: DnsParams, tools: Record<string, string>, queryFile: string, ncpu: number): Promise<RunRecord> {
  const base = { round, contestant: c.name, startedAt: new Date().toISOString() };
  const cpu0 = c.proc.cpuMicros();
  let res: DnsperfResult;
  let otherLoadPct: number | undefined;
  try {
    const m = await withForeignCpu(async () => {
      const r = await runCommand('dnsperf', tools.dnsperf!, dnsperfArgs(p, c.port, queryFile, seconds), { timeoutMs: (seconds + 30) * 1000 });
      if (r.code !== 0) throw new Error(`dnsperf failed (${r.signal ?? `exit ${r.code}`}): ${`${r.stdout}${r.stderr}`.trim().split('\n').slice(-3).join(' | ')}`);
      return parseDnsperf(r.stdout);
    });
    res = m.value;
    const capacity = m.wallUs * ncpu;
    if (m.foreignUs !== undefined && capacity > 0) otherLoadPct = Math.round((1000 * m.foreignUs) / capacity) / 10;
  } catch (err) {
    if (c.proc.hasExited) c.failure = `exited during the run: ${c.proc.outputTail(5)}`;
    return { ...base, ok: false, error: (err as Error).message };
  }
  const cpu1 = c.proc.cpuMicros();
  if (c.proc.hasExited || cpu0 === undefined || cpu1 === undefined) {
    c.failure = `exited during the run: ${c.proc.outputTail(5)}`;
    return { ...base, ok: false, error: c.failure };
  }
  const cpuUs = cpu1 - cpu0;
  return {
    ...base,
    ok: true,
    qps: res.qps,
    sent: res.sent,
    completed: res.completed,
    lost: res.lost,
    lossPct: res.sent > 0 ? Math.round((10000 * res.lost) / res.sent) / 100 : 0,
    avgLatencyMs: Math.round(res.avgLatencyMs * 1000) / 1000,
    rcodes: res.rcodes,
    cpuUs,
    cpuUsPerQuery: res.completed > 0 ? Math.round((100 * cpuUs) / res.completed) / 100 : undefined,
    otherLoadPct,
  };
}

function describeRun(r: RunRecord, rounds: number): string {
  const where = r.round === 0 ? 'warm-up  ' : `round ${r.round}/${rounds}`;
  const head = `[dns] ${where} ${r.contestant.padEnd(8)}`;
  if (!r.ok) return `${head} FAILED: ${r.error}`;
  const other = r.otherLoadPct === undefined ? '' : `  other load ${r.otherLoadPct}%`;
  return `${head} ${fmtInt(r.qps).padStart(9)} qps  lost ${r.lost} (${r.lossPct}%)  avg ${fmtMs(r.avgLatencyMs)} ms  ${fmtFixed(r.cpuUsPerQuery, 2)} CPU µs/query${other}`;
}

interface ContestantSummary {
  readonly rounds: number;
  readonly qps: Summary;
  readonly avgLatencyMs: Summary;
  readonly cpuUsPerQuery: Summary;
  readonly lost: number;
  readonly sent: number;
}

function summarizeRuns(runs: readonly RunRecord[]): ContestantSummary | undefined {
  const ok = runs.filter((r) => r.ok);
  if (ok.length === 0) return undefined;
  const pick = (f: (r: RunRecord) => number | undefined) => summarizeBy(ok, f);
  return {
    rounds: ok.length,
    qps: pick((r) => r.qps),
    avgLatencyMs: pick((r) => r.avgLatencyMs),
    cpuUsPerQuery: pick((r) => r.cpuUsPerQuery),
    lost: ok.reduce((n, r) => n + (r.lost ?? 0), 0),
    sent: ok.reduce((n, r) => n + (r.sent ?? 0), 0),
  };
}

// ---- the benchmark -------------------------------------------------------------------------

async function runDns(): Promise<number> {
  const params = readDnsParams();
  const startedAt = new Date();
  const needed = [{ bin: 'dnsperf', pkg: 'dnsperf' }];
  if (params.contestants.includes('nsd')) needed.push({ bin: 'nsd', pkg: 'nsd' });
  const tools = await ensureDebianTools(needed);
  const tmp = makeTempDir('fulcrum-bench-dns');
  const contestants: Contestant[] = [];
  try {
    chmodSync(tmp.path, 0o755);
    const versionCmds: Record<string, string[]> = { dnsperf: [tools.dnsperf!, '-h'] };
    if (tools.nsd) versionCmds.nsd = [tools.nsd, '-v'];
    const machine = await machineInfo(versionCmds);
    const ncpu = typeof machine.nproc === 'number' ? machine.nproc : availableParallelism();
    log(`[dns] ${machine.nproc} cpus (${machine.cpuModel}), node ${machine.node}, load ${machine.loadavgAtStart.join(' ')}`);
    const queryFile = join(tmp.path, 'queries.txt');
    writeFileSync(queryFile, `${QUERY}\n`.repeat(1000));
    log(`[dns] dnsperf ${dnsperfArgs(params, 0, 'queries.txt', params.duration).join(' ')}; warm-up ${params.warmup}s; ${params.rounds} rounds of ${params.contestants.join(', ')}`);

    const configs: Record<string, string> = {};
    const startErrors: Partial<Record<DnsContestantName, string>> = {};
    for (const name of params.contestants) {
      throwIfShuttingDown();
      try {
        const c = await startContestant(name, tmp.path, tools, configs);
        contestants.push(c);
        log(`[dns] ${name} ready on ${LOOPBACK}:${c.port} (pid ${c.proc.pid}), answers ${c.sanity.join(' ')}`);
      } catch (err) {
        startErrors[name] = (err as Error).message;
        log(`[dns] ${name}: NOT STARTED: ${(err as Error).message}`);
      }
    }

    const { warmups, runs } = await warmUpAndRounds(
      contestants,
      params.rounds,
      (c, round) => measure(c, round, round === 0 ? params.warmup : params.duration, params, tools, queryFile, ncpu),
      (r) => describeRun(r, params.rounds),
    );

    const summaries: Partial<Record<DnsContestantName, ContestantSummary>> = {};
    for (const c of contestants) {
      const s = summarizeRuns(runs.filter((r) => r.contestant === c.name));
      if (s) summaries[c.name] = s;
    }
    const nsd = summaries.nsd;
    const runsOf = (name: DnsContestantName) => runs.filter((r) => r.ok && r.contestant === name);
    const qpsPaired = pairedRatio(runsOf('fulcrum'), runsOf('nsd'), (r) => r.qps);
    const cpuPaired = pairedRatio(runsOf('fulcrum'), runsOf('nsd'), (r) => r.cpuUsPerQuery);
    const rows = params.contestants.map((name) => {
      const s = summaries[name];
      if (!s) return [name, '-', '-', '-', '-', '-', '-'];
      const lossPct = s.sent > 0 ? (100 * s.lost) / s.sent : 0;
      const vs = name === 'nsd' ? [fmtRatio(nsd ? 1 : undefined), fmtRatio(nsd ? 1 : undefined)] : [fmtRatio(qpsPaired.median), fmtRatio(cpuPaired.median)];
      return [name, fmtInt(s.qps.median), `${s.lost} (${lossPct.toFixed(2)}%)`, fmtMs(s.avgLatencyMs.median), fmtFixed(s.cpuUsPerQuery.median, 2), ...vs];
    });
    const f = summaries.fulcrum;
    const qpsRatio = qpsPaired.median;
    const target = {
      label: `fulcrum qps >= ${TARGET_RATIO}x nsd (median of per-round ratios) with zero loss`,
      value: qpsRatio,
      perRound: qpsPaired.perRound,
      lost: f?.lost,
      pass: qpsRatio === undefined || f === undefined ? undefined : qpsRatio >= TARGET_RATIO && f.lost === 0,
    };
    const problems: string[] = [];
    for (const name of params.contestants) {
      const c = contestants.find((x) => x.name === name);
      if (startErrors[name]) problems.push(`${name}: not started: ${startErrors[name]!.split('\n')[0]}`);
      else if (c?.failure) problems.push(`${name}: ${c.failure.split('\n')[0]}`);
      const failed = [...warmups, ...runs].filter((r) => r.contestant === name && !r.ok);
      if (failed.length > 0 && !c?.failure) problems.push(`${name}: ${failed.length} failed run(s): ${failed[0]!.error}`);
    }

    const out: string[] = [''];
    out.push(
      `dns: dnsperf -c${params.clients} -q${params.outstanding} -Q${params.maxQps} -l${params.duration}, "${QUERY}", median of ${params.rounds} round(s), contestants in turn (A B A B), warm-up ${params.warmup}s`,
    );
    out.push(`machine: ${machine.nproc} cpus, ${machine.cpuModel}, node ${machine.node}; ${Object.entries(machine.versions).map(([k, v]) => `${k}: ${v}`).join('; ')}`);
    out.push('');
    out.push(renderTable(['contestant', 'qps', 'lost', 'avg latency ms', 'CPU µs/query', 'qps vs nsd', 'CPU vs nsd'], rows));
    out.push("CPU µs/query: user+system time of the contestant's processes during the measured run, per completed query.");
    out.push('vs nsd: the median over rounds of the ratio within each round (the host speed moves between rounds).');
    if (qpsPaired.perRound.length > 0) {
      out.push(`fulcrum qps vs nsd per round: ${qpsPaired.perRound.map((x) => fmtRatio(x)).join(' ')}; CPU per query vs nsd per round: ${cpuPaired.perRound.map((x) => fmtRatio(x)).join(' ')}`);
    }
    const loads = runs.filter((r) => r.ok && r.otherLoadPct !== undefined);
    if (loads.length > 0) {
      const maxOther = Math.max(...loads.map((r) => r.otherLoadPct!));
      const noisy = loads.filter((r) => r.otherLoadPct! >= NOISY_PCT).length;
      out.push(`other load during measured runs (% of ${ncpu} cpus): max ${maxOther}%${noisy > 0 ? ` -- ${noisy} of ${loads.length} runs at >= ${NOISY_PCT}%: compare ratios with care` : ''}`);
    }
    if (params.contestants.includes('fulcrum')) {
      const verdict = target.pass === undefined ? 'n/a ' : target.pass ? 'PASS' : 'MISS';
      out.push('');
      out.push(`target: ${verdict}  ${target.label}  ${fmtRatio(target.value)} (lost ${target.lost ?? '-'})`);
    }
    if (problems.length > 0) {
      out.push('', 'problems:', ...problems.map((p) => `  ${p}`));
    }
    const file = writeResults('dns', startedAt, {
      benchmark: 'dns',
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      machine: { ...machine, loadavgAtEnd: loadavg().map((x) => Math.round(x * 100) / 100) },
      params: { ...params, query: QUERY, dnsperf: `dnsperf ${dnsperfArgs(params, 0, 'queries.txt', params.duration).join(' ')}` },
      contestants: Object.fromEntries(
        params.contestants.map((name) => {
          const c = contestants.find((x) => x.name === name);
          return [name, { description: DESCRIPTIONS[name], command: c?.command, port: c?.port, sanity: c?.sanity, startError: startErrors[name], failure: c?.failure }];
        }),
      ),
      configs,
      warmups,
      runs,
      medians: summaries,
      ratios: {
        fulcrumQpsVsNsd: qpsRatio,
        fulcrumQpsVsNsdPerRound: qpsPaired.perRound,
        fulcrumCpuVsNsd: cpuPaired.median,
        fulcrumCpuVsNsdPerRound: cpuPaired.perRound,
        ofMedians: { qps: ratio(f?.qps.median, nsd?.qps.median), cpu: ratio(f?.cpuUsPerQuery.median, nsd?.cpuUsPerQuery.median) },
      },
      target,
      problems,
    });
    out.push('', `results: ${file}`);
    process.stdout.write(`${out.join('\n')}\n`);
    return problems.length > 0 ? 1 : 0;
  } finally {
    await Promise.allSettled(contestants.map((c) => c.proc.stop()));
    await tmp.remove();
  }
}

/** The dns benchmark, registered in bench/run.ts. */
export const dnsBenchmark: Benchmark = {
  name: 'dns',
  summary: 'authoritative DNS: fulcrum DnsServer vs NSD, pool-backed www A (dnsperf)',
  run: runDns,
};

// ---- the Fulcrum contestant ------------------------------------------------------------------

/** `node dist/bench/dns.js --serve PORT`: serves example.com with www backed by S1 + S2 until SIGTERM. */
async function serve(port: number): Promise<void> {
  const { Pool } = await import('../src/backend/pool.js');
  const { DnsServer } = await import('../src/dns/server.js');
  const { dnsConfig, poolConfig, poolName, zoneConfig } = await import('../src/dns/build-config.js');
  const web = new Pool(
    poolConfig('web', [
      { name: 'S1', host: '192.0.2.11' },
      { name: 'S2', host: '192.0.2.12' },
    ]),
  );
  const zone = zoneConfig('example.com', {
    records: [
      { name: 'example.com.', type: 'NS', ttl: 3600, data: 'ns1.example.com.' },
      { name: 'ns1.example.com.', type: 'A', ttl: 3600, data: '127.0.0.1' },
    ],
    pools: [poolName('www.example.com.', 'web')],
  });
  const server = new DnsServer(dnsConfig([{ host: LOOPBACK, port }], [zone]), new Map([['web', web]]));
  await server.start();
  process.stdout.write(`fulcrum: listening on dns://${LOOPBACK}:${server.addresses()[0]!.port} (udp and tcp)\n`);
  const stop = () => void server.stop().then(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

if (process.argv[1] !== undefined && pathToFileURL(resolve(process.argv[1])).href === import.meta.url && process.argv[2] === '--serve') {
  serve(Number(process.argv[3])).catch((err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  });
}
