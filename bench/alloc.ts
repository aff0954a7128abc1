/**
 * Bytes allocated per proxied request in Fulcrum's worker, and by which functions: V8's
 * sampling heap profiler, driven through the worker's inspector and counting the objects
 * scavenges collect, while h2load (HTTP/2 over TLS) or wrk (HTTP/1.1) loads one worker
 * with nginx behind it. Unlike CPU per request it does not move with the host's speed, so
 * it compares builds (run it in each) where a CPU figure could not; it has no peer.
 *
 *   npm run bench -- alloc   (BENCH_DURATION per phase, default 5s; BENCH_ALLOC_PHASES=h2,http1)
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import { NODE_FLAGS } from '../src/cli/node-flags.js';
import { envDuration, envSubset, log, type Benchmark } from './lib/benchmark.js';
import { throwIfShuttingDown } from './lib/cleanup.js';
import { freePortPair, freePorts, LOOPBACK, waitForHttp } from './lib/net.js';
import { startNginx } from './lib/nginx.js';
import { fulcrumCli, repoRoot } from './lib/paths.js';
import { ensureDebianTools } from './lib/peers.js';
import { runCommand, startProcess, type ManagedProcess } from './lib/process.js';
import { machineInfo, writeResults } from './lib/results.js';
import { fmtInt, renderTable } from './lib/table.js';
import { makeTempDir } from './lib/tmp.js';
import { backendHttpBlock, makeCertificate } from './https.js';

const PHASES = ['h2', 'http1'] as const;
type Phase = (typeof PHASES)[number];
/** Bytes between samples: small enough that a 5 s run takes hundreds of thousands. */
const SAMPLING_INTERVAL = 256;
const TOP = 12;

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface SampleNode {
  callFrame: CallFrame;
  selfSize: number;
  children: SampleNode[];
}

/** A Chrome DevTools Protocol session on one inspector target. */
class Inspector {
  private next = 0;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      const m = JSON.parse(data.toString()) as { id?: number; result?: unknown; error?: { message: string } };
      const p = m.id === undefined ? undefined : this.pending.get(m.id);
      if (p === undefined) return;
      this.pending.delete(m.id!);
      if (m.error !== undefined) p.reject(new Error(m.error.message));
      else p.resolve(m.result);
    });
  }

  static async open(url: string): Promise<Inspector> {
    const ws = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
    });
    return new Inspector(ws);
  }

  call<T>(method: string, params: Record<string, unknown> = {}): Promise<T> {
    const id = ++this.next;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }

  close(): void {
    this.ws.close();
  }
}

/** The worker's inspector: the second "Debugger listening on ws://..." line (the first is the primary's). */
async function workerInspector(proc: ManagedProcess): Promise<string> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const urls = [...proc.stderr.matchAll(/Debugger listening on (ws:\/\/\S+)/g)].map((m) => m[1]!);
    if (urls.length >= 2) return urls[1]!;
    if (proc.hasExited || Date.now() > deadline) throw new Error(`no inspector for the worker: ${proc.outputTail()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function configYaml(tlsPort: number, httpPort: number, cert: string, key: string, s1: number, s2: number): string {
  return `listeners:
  - name: h2
    bind: ${LOOPBACK}:${tlsPort}
    tls:
      certificates: [{ cert: "${cert}", key: "${key}" }]
    routes: [{ pool: web }]
  - name: http1
    bind: ${LOOPBACK}:${httpPort}
    routes: [{ pool: web }]
pools:
  web:
    keepalive: { max_idle: 256 }
    servers:
      - { name: S1, address: "${LOOPBACK}:${s1}" }
      - { name: S2, address: "${LOOPBACK}:${s2}" }
runtime: { workers: 1, control_socket: false }
logging: { level: warn }
`;
}

/** The load of a phase for `seconds`: the command line, and the number of requests it completed from its output. */
function load(phase: Phase, tools: Record<string, string>, port: number, seconds: number): { cmd: string; args: string[]; count: (out: string) => number } {
  if (phase === 'h2') {
    return {
      cmd: tools.h2load!,
      args: ['-c10', '-m10', '-t1', `-D${seconds}`, `https://${LOOPBACK}:${port}/`],
      count: (out) => Number(/requests: \d+ total, \d+ started, (\d+) done/.exec(out)?.[1] ?? NaN),
    };
  }
  return {
    cmd: tools.wrk!,
    args: ['-t1', '-c50', `-d${seconds}s`, `http://${LOOPBACK}:${port}/`],
    count: (out) => Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN),
  };
}

interface PhaseResult {
  phase: Phase;
  requests: number;
  bytesPerRequest: number;
  top: Array<{ fn: string; bytesPerRequest: number }>;
}

async function measurePhase(phase: Phase, tools: Record<string, string>, port: number, seconds: number, inspector: Inspector): Promise<PhaseResult> {
  const warm = load(phase, tools, port, 2);
  await runCommand(`${phase} warm-up`, warm.cmd, warm.args, { timeoutMs: 30_000 });
  throwIfShuttingDown();
  await inspector.call('HeapProfiler.startSampling', { samplingInterval: SAMPLING_INTERVAL, includeObjectsCollectedByMinorGC: true, includeObjectsCollectedByMajorGC: true });
  const l = load(phase, tools, port, seconds);
  const r = await runCommand(phase, l.cmd, l.args, { timeoutMs: (seconds + 30) * 1000 });
  const { profile } = await inspector.call<{ profile: { head: SampleNode } }>('HeapProfiler.stopSampling');
  const requests = l.count(r.stdout);
  if (!(requests > 0)) throw new Error(`${phase}: no request count in the load's output: ${r.stdout.slice(-500)} ${r.stderr.slice(-500)}`);
  const byFunction = new Map<string, number>();
  let total = 0;
  const walk = (node: SampleNode) => {
    if (node.selfSize > 0) {
      const f = node.callFrame;
      const file = f.url.replace(/^file:\/\/.*?\/dist\//, '');
      const key = `${f.functionName || '(anonymous)'} ${file === '' ? '(native)' : `${file}:${f.lineNumber + 1}`}`;
      byFunction.set(key, (byFunction.get(key) ?? 0) + node.selfSize);
      total += node.selfSize;
    }
    for (const c of node.children) walk(c);
  };
  walk(profile.head);
  const top = [...byFunction]
    .sort((a, b) => b[1] - a[1])
    .slice(0, TOP)
    .map(([fn, bytes]) => ({ fn, bytesPerRequest: bytes / requests }));
  return { phase, requests, bytesPerRequest: total / requests, top };
}

async function run(): Promise<number> {
  const duration = envDuration('BENCH_DURATION', '5s');
  const phases = envSubset('BENCH_ALLOC_PHASES', PHASES);
  const needed = [
    { bin: 'nginx', pkg: 'nginx' },
    { bin: 'openssl', pkg: 'openssl' },
  ];
  if (phases.includes('h2')) needed.push({ bin: 'h2load', pkg: 'nghttp2-client' });
  if (phases.includes('http1')) needed.push({ bin: 'wrk', pkg: 'wrk' });
  const tools = await ensureDebianTools(needed);
  const startedAt = new Date();
  const tmp = makeTempDir('fulcrum-bench-alloc');
  let backend: ManagedProcess | undefined;
  let fulcrum: ManagedProcess | undefined;
  let inspector: Inspector | undefined;
  try {
    const machine = await machineInfo({ nginx: [tools.nginx!, '-v'] });
    const cert = makeCertificate(tools.openssl!, tmp.path);
    const [s1, s2, tlsPort, httpPort] = (await freePorts(4)) as [number, number, number, number];
    const inspectPort = await freePortPair();
    backend = await startNginx('backend', tools.nginx!, join(tmp.path, 'backend'), { http: backendHttpBlock(s1, s2) });
    await waitForHttp(s1, { proc: backend, expectBody: 'S1\n', timeoutMs: 10_000 });
    const file = join(tmp.path, 'fulcrum.yaml');
    writeFileSync(file, configYaml(tlsPort, httpPort, cert.cert, cert.key, s1, s2));
    // the primary's inspector on a free port; node:cluster gives the worker's the next one
    fulcrum = await startProcess('fulcrum', process.execPath, [...NODE_FLAGS, `--inspect=${LOOPBACK}:${inspectPort}`, fulcrumCli, 'run', '-c', file], { cwd: repoRoot });
    await waitForHttp(httpPort, { proc: fulcrum, timeoutMs: 10_000 });
    inspector = await Inspector.open(await workerInspector(fulcrum));
    await inspector.call('HeapProfiler.enable');
    log(`[alloc] fulcrum (pid ${fulcrum.pid}), one worker; sampling every ${SAMPLING_INTERVAL} bytes allocated, objects collected by scavenges included; ${duration.text} per phase`);
    const results: PhaseResult[] = [];
    for (const phase of phases) {
      const r = await measurePhase(phase, tools, phase === 'h2' ? tlsPort : httpPort, duration.seconds, inspector);
      results.push(r);
      log(`[alloc] ${phase}: ${fmtInt(r.requests)} requests, ${fmtInt(r.bytesPerRequest)} bytes allocated per request`);
    }
    const out: string[] = [''];
    for (const r of results) {
      out.push(`${r.phase === 'h2' ? 'HTTP/2 over TLS (h2load -c10 -m10)' : 'HTTP/1.1 (wrk -c50)'}: ${fmtInt(r.bytesPerRequest)} bytes allocated per request, over ${fmtInt(r.requests)} requests`);
      out.push(
        renderTable(
          ['function (where it allocates)', 'bytes/req', 'share'],
          r.top.map((t) => [t.fn, fmtInt(t.bytesPerRequest), `${((100 * t.bytesPerRequest) / r.bytesPerRequest).toFixed(1)}%`]),
        ),
        '',
      );
    }
    const json = writeResults('alloc', startedAt, { benchmark: 'alloc', startedAt: startedAt.toISOString(), machine, samplingInterval: SAMPLING_INTERVAL, seconds: duration.seconds, results });
    out.push(`results: ${json}`);
    process.stdout.write(out.join('\n') + '\n');
    return 0;
  } finally {
    inspector?.close();
    await fulcrum?.stop();
    await backend?.stop();
    await tmp.remove();
  }
}

export const allocBenchmark: Benchmark = {
  name: 'alloc',
  summary: "bytes allocated per proxied request in Fulcrum's worker (HTTP/2 over TLS, HTTP/1.1), by function",
  run,
};
