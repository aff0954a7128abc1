/**
 * The dataplane benchmark: download throughput through the kernel data plane (NAT, full
 * NAT, DSR) beside HAProxy `mode tcp` (nbthread 1) in the balancer's namespace and a
 * direct transfer, in the network namespaces the privileged tests use
 * (test/helpers/netns.ts): a client, a balancer and two servers on a bridge.
 *
 * Each run is `iperf3 -c VIP -R -t N` from the client (the server sends: a download).
 * Per run it records Gbit/s (iperf3's, after its first second), the bytes that crossed
 * the balancer's interface (rx + tx) per byte the client's interface received, and the
 * whole machine's CPU per GB the client received; the balancer's CPU per GB is
 * that minus the direct transfer's (kernel modes do their work in softirq, which no
 * process is charged for; HAProxy's own process CPU is shown too). Contestants run in
 * turn (A B A B), every one configured at once on its own port, so nothing restarts
 * between runs:
 *
 *   direct    client 198.51.100.20 -> s1 192.0.2.11:5201 (on the same link)
 *   haproxy   client .20 -> VIP:6000, HAProxy -> s1/s2:5201 (balance source)
 *   nat       client .10 -> VIP:5301, DNAT -> s1/s2:5201, servers route .10 via the balancer
 *   fullnat   client .10 -> VIP:5302, DNAT + SNAT -> s1/s2:5201
 *   dsr       client .20 -> VIP:5201, MAC rewrite -> s1/s2, replies straight to .20
 *
 * Fulcrum hashes by client address (`hash: client`) so iperf3's control and data
 * connections reach the same server, as HAProxy's `balance source` does.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { NODE_FLAGS } from '../src/cli/node-flags.js';
import { Topology, VIP } from '../test/helpers/netns.js';
import { envDuration, envInt, envSubset, EnvironmentError, log, type Benchmark } from './lib/benchmark.js';
import { ORDER_PROCESS, registerCleanup } from './lib/cleanup.js';
import { readMachineCpu } from './lib/cpu.js';
import { fulcrumCli } from './lib/paths.js';
import { ensureDebianTools, findBinary } from './lib/peers.js';
import { runCommand, startProcess, type ManagedProcess } from './lib/process.js';
import { machineInfo, writeResults } from './lib/results.js';
import { warmUpAndRounds } from './lib/rounds.js';
import { ratio, summarizeBy, type Summary } from './lib/stats.js';
import { fmtFixed, fmtRatio, renderTable } from './lib/table.js';
import { makeTempDir } from './lib/tmp.js';

export const CONTESTANTS = ['direct', 'haproxy', 'nat', 'fullnat', 'dsr'] as const;
type Name = (typeof CONTESTANTS)[number];

/** Where each contestant's client connects from and to. */
const ROUTES: Record<Name, { src: string; host: string; port: number }> = {
  direct: { src: '198.51.100.20', host: '192.0.2.11', port: 5201 },
  haproxy: { src: '198.51.100.20', host: VIP, port: 6000 },
  nat: { src: '198.51.100.10', host: VIP, port: 5301 },
  fullnat: { src: '198.51.100.10', host: VIP, port: 5302 },
  dsr: { src: '198.51.100.20', host: VIP, port: 5201 },
};
const TARGET = 1.5;

const FULCRUM_YAML = `services:
  - { name: nat, vip: ${VIP}, port: 5301, mode: nat, pool: iperf, hash: client }
  - { name: fullnat, vip: ${VIP}, port: 5302, mode: nat, snat: true, pool: iperf, hash: client }
  - { name: dsr, vip: ${VIP}, port: 5201, mode: dsr, interface: eth0, pool: iperf, hash: client }
pools:
  iperf:
    servers:
      - { name: s1, address: "192.0.2.11:5201" }
      - { name: s2, address: "192.0.2.12:5201" }
`;

const HAPROXY_CFG = `global
  nbthread 1
  maxconn 1000

defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s

frontend fe
  bind ${VIP}:6000
  default_backend be

backend be
  balance source
  server s1 192.0.2.11:5201
  server s2 192.0.2.12:5201
`;

interface Run {
  round: number;
  contestant: Name;
  ok: boolean;
  error?: string;
  gbps?: number;
  bytes?: number;
  /** Bytes on the balancer's eth0 (rx + tx) per byte the client's eth0 received. */
  balancerBytesPerByte?: number;
  /** Whole-machine busy CPU per GB the client received (ms). */
  machineCpuMsPerGB?: number;
  /** HAProxy's process CPU per GB (ms). */
  haproxyCpuMsPerGB?: number;
}

interface Contestant {
  name: Name;
  failure?: string;
}

const r2 = (x: number) => Math.round(x * 100) / 100;

/** Bytes through the balancer's eth0 (both ways) and received by the client's. */
async function counters(topo: Topology): Promise<{ balancer: number; client: number }> {
  const [b, c] = await Promise.all([topo.counters(topo.balancer), topo.counters(topo.client)]);
  return { balancer: b.rx + b.tx, client: c.rx };
}

/** Builds the namespaces and starts the servers, HAProxy and Fulcrum; registered for cleanup. */
async function setUp(dir: string, tools: Record<string, string>): Promise<{ topo: Topology; procs: ManagedProcess[]; haproxy: ManagedProcess }> {
  const topo = await Topology.create('x');
  registerCleanup(
    ORDER_PROCESS + 1,
    () => topo.destroy(),
    () => {
      for (const ns of [topo.client, topo.balancer, ...topo.servers, topo.bridge]) {
        try {
          execFileSync('ip', ['netns', 'del', ns]);
        } catch {
          /* gone */
        }
      }
    },
  );
  const ip = findBinary('ip') ?? 'ip';
  const inNs = (name: string, ns: string, file: string, args: string[]) => startProcess(name, ip, ['netns', 'exec', ns, file, ...args]);
  await topo.ip(topo.client, 'addr', 'add', '198.51.100.20/24', 'dev', 'eth0');
  await topo.ip(topo.client, 'route', 'add', '192.0.2.0/24', 'dev', 'eth0');
  for (const ns of topo.servers) {
    await topo.ip(ns, 'route', 'add', '198.51.100.10/32', 'via', '192.0.2.1');
    await topo.ip(ns, 'route', 'add', '198.51.100.20/32', 'dev', 'eth0');
    await topo.exec(ns, process.execPath, fulcrumCli, 'dsr-server', '--vip', VIP, '--interface', 'eth0', '--apply');
  }
  const procs: ManagedProcess[] = [];
  for (const [i, ns] of topo.servers.entries()) procs.push(await inNs(`iperf3-s${i + 1}`, ns, tools.iperf3!, ['-s', '-p', '5201']));
  const cfg = join(dir, 'haproxy.cfg');
  writeFileSync(cfg, HAPROXY_CFG);
  const haproxy = await inNs('haproxy', topo.balancer, tools.haproxy!, ['-f', cfg, '-db']);
  procs.push(haproxy);
  const yaml = join(dir, 'fulcrum.yaml');
  writeFileSync(yaml, FULCRUM_YAML);
  const fulcrum = await inNs('fulcrum', topo.balancer, process.execPath, [...NODE_FLAGS, fulcrumCli, 'run', '-c', yaml]);
  procs.push(fulcrum);
  const end = Date.now() + 10_000;
  while (!/rules applied/.test(fulcrum.stderr)) {
    if (fulcrum.hasExited || Date.now() > end) throw new EnvironmentError(`fulcrum did not apply its rules:\n${fulcrum.outputTail(10)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  await new Promise((r) => setTimeout(r, 300));
  return { topo, procs, haproxy };
}

async function measure(c: Contestant, round: number, seconds: number, topo: Topology, iperf3: string, haproxy: ManagedProcess): Promise<Run> {
  const base = { round, contestant: c.name };
  const r = ROUTES[c.name];
  try {
    const bytes0 = await counters(topo);
    const cpu0 = readMachineCpu();
    const hap0 = haproxy.cpuMicros();
    const res = await runCommand('iperf3', findBinary('ip') ?? 'ip', ['netns', 'exec', topo.client, iperf3, '-c', r.host, '-p', String(r.port), '-B', r.src, '-R', '-t', String(seconds), '-O', '1', '-J'], {
      timeoutMs: (seconds + 30) * 1000,
    });
    const cpu1 = readMachineCpu();
    const hap1 = haproxy.cpuMicros();
    const bytes1 = await counters(topo);
    let j: { error?: string; end?: { sum_received?: { bytes: number; bits_per_second: number } } };
    try {
      j = JSON.parse(res.stdout) as typeof j;
    } catch {
      throw new Error(`iperf3 printed no JSON: ${`${res.stdout}${res.stderr}`.trim().slice(0, 300)}`);
    }
    if (j.error !== undefined || j.end?.sum_received === undefined) throw new Error(`iperf3: ${j.error ?? 'no end.sum_received'}`);
    // Per byte the client received over the whole run (iperf3's own sum leaves out the -O second).
    const got = bytes1.client - bytes0.client;
    const gb = got / 1e9;
    return {
      ...base,
      ok: true,
      gbps: r2(j.end.sum_received.bits_per_second / 1e9),
      bytes: got,
      balancerBytesPerByte: Math.round(((bytes1.balancer - bytes0.balancer) / got) * 10_000) / 10_000,
      machineCpuMsPerGB: cpu0 && cpu1 ? r2((cpu1.busyUs - cpu0.busyUs) / 1000 / gb) : undefined,
      haproxyCpuMsPerGB: c.name === 'haproxy' && hap0 !== undefined && hap1 !== undefined ? r2((hap1 - hap0) / 1000 / gb) : undefined,
    };
  } catch (err) {
    return { ...base, ok: false, error: (err as Error).message };
  }
}

async function run(): Promise<number> {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) throw new EnvironmentError('the dataplane benchmark needs root: it creates network namespaces and nftables rules');
  const duration = envDuration('BENCH_DURATION', '5s');
  const warmup = envDuration('BENCH_WARMUP', '1s');
  const rounds = envInt('BENCH_ROUNDS', 3, 1, 100);
  const names = envSubset('BENCH_ONLY', CONTESTANTS);
  const tools = await ensureDebianTools([
    { bin: 'iperf3', pkg: 'iperf3' },
    { bin: 'haproxy', pkg: 'haproxy' },
    { bin: 'nft', pkg: 'nftables' },
    { bin: 'ip', pkg: 'iproute2' },
  ]);
  const startedAt = new Date();
  const machine = await machineInfo({ haproxy: [tools.haproxy!, '-v'], iperf3: [tools.iperf3!, '--version'], nft: [tools.nft!, '--version'] });
  const dir = makeTempDir('fulcrum-bench-dataplane');
  log(`[dataplane] building namespaces; runs of ${duration.text} (warm-up ${warmup.text}), ${rounds} round(s): ${names.join(', ')}`);
  const { topo, procs, haproxy } = await setUp(dir.path, tools);
  const contestants: Contestant[] = names.map((name) => ({ name }));
  let warmups: Run[];
  let runs: Run[];
  try {
    ({ warmups, runs } = await warmUpAndRounds(
      contestants,
      rounds,
      async (c, round) => {
        const r = await measure(c, round, round === 0 ? warmup.seconds : duration.seconds, topo, tools.iperf3!, haproxy);
        if (!r.ok && round === 0) c.failure = r.error;
        return r;
      },
      (r) =>
        r.ok
          ? `[dataplane] ${r.round === 0 ? 'warm-up' : `round ${r.round}`} ${r.contestant}: ${r.gbps} Gbit/s, balancer bytes ${r.balancerBytesPerByte} per byte, machine CPU ${r.machineCpuMsPerGB} ms/GB`
          : `[dataplane] ${r.contestant} failed: ${r.error}`,
    ));
  } finally {
    for (const p of procs.reverse()) await p.stop();
    await topo.destroy();
    await dir.remove();
  }
  const sum = (name: Name, f: (r: Run) => number | undefined): Summary => summarizeBy(runs.filter((r) => r.ok && r.contestant === name), f);
  const table = names.map((name) => ({
    name,
    gbps: sum(name, (r) => r.gbps),
    balancerBytes: sum(name, (r) => r.balancerBytesPerByte),
    cpu: sum(name, (r) => r.machineCpuMsPerGB),
    haproxyCpu: sum(name, (r) => r.haproxyCpuMsPerGB),
  }));
  const med = (name: Name, k: 'gbps' | 'cpu') => table.find((t) => t.name === name)?.[k].median;
  const directCpu = med('direct', 'cpu');
  const rows = table.map((t) => [
    t.name,
    fmtFixed(t.gbps.median, 2),
    fmtRatio(ratio(t.gbps.median, med('haproxy', 'gbps'))),
    fmtFixed(t.balancerBytes.median, 3),
    fmtFixed(t.cpu.median, 0),
    t.name === 'direct' || directCpu === undefined || t.cpu.median === undefined ? '-' : fmtFixed(t.cpu.median - directCpu, 0),
    t.name === 'haproxy' ? fmtFixed(t.haproxyCpu.median, 0) : '-',
  ]);
  const targets = (['nat', 'dsr'] as const).filter((n) => names.includes(n) && names.includes('haproxy')).map((n) => {
    const r = ratio(med(n, 'gbps'), med('haproxy', 'gbps'));
    return { target: `${n} download Gbit/s >= ${TARGET}x haproxy`, ratio: r, pass: r !== undefined && r >= TARGET };
  });
  const failures = contestants.filter((c) => c.failure !== undefined).map((c) => `${c.name}: ${c.failure}`);
  process.stdout.write(
    `\n${renderTable(['contestant', 'Gbit/s', 'vs haproxy', 'balancer bytes/byte', 'machine CPU ms/GB', 'balancer CPU ms/GB (over direct)', 'haproxy process CPU ms/GB'], rows, ['left', 'right', 'right', 'right', 'right', 'right', 'right'])}\n` +
      targets.map((t) => `${t.pass ? 'PASS' : 'MISS'} ${t.target}: ${fmtRatio(t.ratio)}`).join('\n') +
      (failures.length > 0 ? `\nproblems:\n${failures.map((f) => `  ${f}`).join('\n')}` : '') +
      `\n(iperf3 -R single stream, ${duration.text} x ${rounds} rounds, medians; ${availableParallelism()} cpus shared with the client, the servers and anything else running; load average ${loadavg().map((x) => x.toFixed(2)).join(' ')})\n`,
  );
  const file = writeResults('dataplane', startedAt, {
    machine,
    params: { duration: duration.text, warmup: warmup.text, rounds, contestants: names, routes: ROUTES },
    configs: { fulcrum: FULCRUM_YAML, haproxy: HAPROXY_CFG },
    warmups,
    runs,
    summary: table,
    targets,
    problems: failures,
    loadavgAtEnd: loadavg(),
  });
  log(`[dataplane] results: ${file}`);
  return failures.length > 0 ? 1 : 0;
}

export const dataplaneBenchmark: Benchmark = {
  name: 'dataplane',
  summary: 'kernel data plane (NAT, full NAT, DSR) download Gbit/s beside HAProxy mode tcp, in network namespaces',
  run,
};
