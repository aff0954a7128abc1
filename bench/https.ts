/**
 * The https benchmark: Fulcrum terminating TLS beside HAProxy (`nbthread 1`), both with
 * the same ECDSA P-256 certificate, in front of the same nginx backends (S1, S2, plain
 * HTTP/1.1 with keep-alive), measured in turn (A B A B) over several rounds, in four
 * phases:
 *
 * - keepalive: `wrk -t1 -cN` over HTTPS, HTTP/1.1 keep-alive: requests/s, p50/p99, CPU/request;
 * - handshake: a new visitor's connection. `wrk -t1 -cN -H 'Connection: close'`, one
 *   request per TLS connection, and no session offered (bench/peers/wrk-tls-sessions.c,
 *   preloaded into wrk, drops it): every connection is a full TLS 1.3 handshake
 *   (X25519, ECDSA P-256 signature): handshakes/s and CPU per handshake;
 * - resumption: a returning visitor's. The same, but wrk offers its latest ticket (what
 *   wrk does by itself); every contestant renews tickets, so all but each connection
 *   slot's first handshake resume (TLS 1.3 PSK with an X25519 exchange, no certificate);
 * - h2: `h2load -cC -mM -D` (ALPN h2): requests/s over HTTP/2.
 *
 * The preloaded library counts what wrk negotiated (resumed or not, TLS version, group)
 * and wrk's own CPU; a run whose handshakes were not the phase's kind is a problem. On
 * two cores wrk's side of a full handshake (it checks the server's signature) costs more
 * CPU than the server's, so the rate is often the client's and the CPU per handshake is
 * the figure that compares the servers.
 *
 * More contestants in keepalive, handshake and resumption:
 * - node-tls (bench/peers/node-tls-peer.ts): Node's tls module answering by itself, without
 *   proxying: the most a terminator on Node's tls module can reach;
 * - floor-node and floor-system (bench/peers/tls-floor.c): a C server that does only TLS
 *   and answers by itself, with Node's OpenSSL (the one Fulcrum's addon uses) and with the
 *   system's (the one HAProxy uses): what the crypto library costs, so the gap between a
 *   balancer and its floor is the balancer's own.
 * Fulcrum terminates TLS in its addon (native/tls.c) unless FULCRUM_TLS=node.
 *
 * See bench/README.md.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import { NODE_FLAGS } from '../src/cli/node-flags.js';
import { envDuration, envInt, envSubset, EnvironmentError, log, type Benchmark } from './lib/benchmark.js';
import { throwIfShuttingDown } from './lib/cleanup.js';
import { measureRun, runH2load, runProblems, targetLine, type RunOutcome } from './lib/measured-run.js';
import { freePorts, LOOPBACK, tcpConnectOnce, waitForHttp } from './lib/net.js';
import { startNginx } from './lib/nginx.js';
import { fulcrumCli, peerScript, repoRoot } from './lib/paths.js';
import { ensureDebianTools } from './lib/peers.js';
import { runCommand, startProcess, type ManagedProcess } from './lib/process.js';
import { machineInfo, writeResults } from './lib/results.js';
import { restartEachRound, warmUpAndRounds } from './lib/rounds.js';
import { pairedRatio, summarizeBy, type PairedRatio, type Summary } from './lib/stats.js';
import { buildFloor, buildWrkSessions, parseWrkSessions, startFloor, type FloorLibrary } from './lib/tls-floor.js';
import { fmtFixed, fmtInt, fmtMs, fmtRatio, renderTable } from './lib/table.js';
import { makeTempDir } from './lib/tmp.js';
import { parseWrkOutput } from './lib/wrk.js';
import { haproxyHttpConfig } from './lib/haproxy.js';

export const CONTESTANTS = ['fulcrum', 'haproxy', 'node-tls', 'floor-node', 'floor-system'] as const;
type ContestantName = (typeof CONTESTANTS)[number];
const PHASES = ['keepalive', 'handshake', 'resumption', 'h2'] as const;
type Phase = (typeof PHASES)[number];

const DESCRIPTIONS: Record<ContestantName, string> = {
  fulcrum: 'Fulcrum: node dist/src/cli/main.js run --workers 1 -c fulcrum.yaml (tls listener, HTTP/2 by ALPN), round robin S1+S2',
  haproxy: 'HAProxy, nbthread 1, bind ssl crt (same certificate) alpn h2,http/1.1, http-reuse always, roundrobin',
  'node-tls': "Node's tls.createServer answering 200 S1 itself, no proxying (bench/peers/node-tls-peer.ts): the most a terminator on Node's tls module can reach here; HTTP/1.1 only",
  'floor-node': "bench/peers/tls-floor.c as a Node addon, with Node's OpenSSL (Fulcrum's): one epoll thread doing only TLS and answering 200 S1 itself; HTTP/1.1 only",
  'floor-system': "bench/peers/tls-floor.c linked with the system's libssl (HAProxy's): the same server with the other OpenSSL build; HTTP/1.1 only",
};
const FLOORS: Partial<Record<ContestantName, FloorLibrary>> = { 'floor-node': 'node', 'floor-system': 'system' };
/** Contestants that take part in a phase (the Node and C floors speak HTTP/1.1 only). */
function inPhase(name: ContestantName, phase: Phase): boolean {
  return phase !== 'h2' || name === 'fulcrum' || name === 'haproxy';
}
/** Phases of one request per new TLS connection, with wrk's sessions chosen (WRK_TLS_SESSIONS) and counted. */
const SESSIONS: Partial<Record<Phase, string>> = { handshake: 'none', resumption: 'latest' };
const READY_TIMEOUT_MS = 10_000;
const NOISY_PCT = 5;

interface Params {
  readonly duration: { text: string; seconds: number };
  readonly warmup: { text: string; seconds: number };
  readonly rounds: number;
  readonly connections: number;
  readonly h2Clients: number;
  readonly h2Streams: number;
  readonly contestants: ContestantName[];
  readonly phases: Phase[];
  /** TLS 1.3 suites wrk offers in the handshake phases, in order ('': OpenSSL's default). */
  readonly suites: string;
  /** BENCH_RESTART=1: contestants restarted (and warmed up) before each round after the first. */
  readonly restart: boolean;
}

function readParams(): Params {
  return {
    duration: envDuration('BENCH_DURATION', '5s'),
    // Node compiles its TLS and HTTP paths while it runs: 1 s left Fulcrum's first round low
    warmup: envDuration('BENCH_WARMUP', '3s'),
    rounds: envInt('BENCH_ROUNDS', 3, 1, 100),
    connections: envInt('BENCH_CONNECTIONS', 50, 1, 10_000),
    h2Clients: envInt('BENCH_H2_CLIENTS', 10, 1, 1000),
    h2Streams: envInt('BENCH_H2_STREAMS', 10, 1, 1000),
    contestants: envSubset('BENCH_ONLY', CONTESTANTS),
    phases: envSubset('BENCH_HTTPS_PHASES', PHASES),
    suites: (process.env.BENCH_TLS_SUITES ?? '').trim(),
    restart: restartEachRound(),
  };
}

// ---- configurations --------------------------------------------------------------

/** nginx's http{} lines for the two backends: S1 and S2 answer 200 with their name, keep-alive kept long. */
export function backendHttpBlock(s1: number, s2: number): string {
  return `
keepalive_requests 100000;
keepalive_timeout 65s;
server { listen ${LOOPBACK}:${s1}; location / { return 200 "S1\\n"; } }
server { listen ${LOOPBACK}:${s2}; location / { return 200 "S2\\n"; } }`;
}

function fulcrumYaml(port: number, cert: string, key: string, s1: number, s2: number): string {
  return `listeners:
  - name: www
    bind: ${LOOPBACK}:${port}
    tls:
      certificates: [{ cert: "${cert}", key: "${key}" }]
    routes: [{ pool: web }]
pools:
  web:
    # HTTP/2 clients run many requests at once, each on its own server connection:
    # keep enough idle (HAProxy keeps every idle connection by default)
    keepalive: { max_idle: 256 }
    servers:
      - { name: S1, address: "${LOOPBACK}:${s1}" }
      - { name: S2, address: "${LOOPBACK}:${s2}" }
`;
}

/** An ECDSA P-256 certificate for www.example.com: cert, key, and both in one file (HAProxy's crt). */
export function makeCertificate(openssl: string, dir: string): { cert: string; key: string; combined: string } {
  const cert = join(dir, 'www.pem');
  const key = join(dir, 'www.key');
  const r = spawnSync(
    openssl,
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2', '-subj', '/CN=www.example.com', '-addext', 'subjectAltName=DNS:www.example.com', '-keyout', key, '-out', cert],
    { stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 },
  );
  if (r.status !== 0) throw new EnvironmentError(`openssl req failed: ${r.stderr?.toString()}`);
  const combined = join(dir, 'www.combined.pem');
  writeFileSync(combined, Buffer.concat([readFileSync(cert), readFileSync(key)]));
  return { cert, key, combined };
}

// ---- contestants -----------------------------------------------------------------

interface Contestant {
  readonly name: ContestantName;
  readonly port: number;
  /** Replaced when BENCH_RESTART restarts the contestant. */
  proc: ManagedProcess;
  readonly command: string;
  sanity: string[];
  failure?: string;
}

/** One GET over HTTPS (no verification): status and body. */
function httpsGet(port: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: LOOPBACK, port, path: '/', rejectUnauthorized: false, servername: 'www.example.com', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.setTimeout(2000, () => req.destroy(new Error('timeout')));
    req.once('error', reject);
  });
}

async function waitForHttps(c: { port: number; proc: ManagedProcess }): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  let last = '';
  for (;;) {
    if (c.proc.hasExited) throw new Error(`${c.proc.name} exited before it was ready:\n${c.proc.outputTail()}`);
    if (await tcpConnectOnce(c.port, LOOPBACK, 500)) {
      try {
        const r = await httpsGet(c.port);
        if (r.status >= 200 && r.status < 300) return;
        last = `status ${r.status}`;
      } catch (err) {
        last = (err as Error).message;
      }
    }
    if (Date.now() > deadline) throw new Error(`${c.proc.name}: no HTTPS answer on ${c.port}: ${last}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// ---- measuring -------------------------------------------------------------------

/** One run; `rate` is requests/s (keepalive, h2) or handshakes/s (handshake). */
interface Run extends RunOutcome {
  readonly phase: Phase;
  readonly round: number;
  readonly contestant: ContestantName;
  /** Handshake phases: % of wrk's handshakes that resumed, and wrk's CPU per handshake. */
  readonly resumedPct?: number;
  readonly clientCpuUsPerUnit?: number;
  /** Handshake phases: the TLS 1.3 suite negotiated. */
  readonly suite?: string;
  /** Handshake phases: why the handshakes were not what the phase measures (version, group, resumption). */
  readonly mismatch?: string;
}

interface Ctx {
  readonly tools: Record<string, string>;
  /** wrk-tls-sessions.so, when a handshake phase runs. */
  readonly wrkSessions?: string;
  readonly params: Params;
  readonly ncpu: number;
}

async function measure(c: Contestant, phase: Phase, round: number, duration: { text: string; seconds: number }, ctx: Ctx): Promise<Run> {
  const url = `https://${LOOPBACK}:${c.port}/`;
  const p = ctx.params;
  const sessions = SESSIONS[phase];
  let extra: SessionFigures = {};
  const run = await measureRun(c, { phase, round, contestant: c.name }, ctx.ncpu, async () => {
    if (phase === 'h2') {
      const h = await runH2load(ctx.tools.h2load!, [`-c${p.h2Clients}`, `-m${p.h2Streams}`, '-t1', `-D${duration.seconds}`, url], duration.seconds);
      return { count: h.requests, rate: h.rps, errors: h.failed, p99Ms: undefined };
    }
    const args = ['-t1', `-c${p.connections}`, `-d${duration.text}`, '--latency', ...(sessions !== undefined ? ['-H', 'Connection: close'] : []), url];
    const env = sessions !== undefined ? { ...process.env, LD_PRELOAD: ctx.wrkSessions!, WRK_TLS_SESSIONS: sessions, WRK_TLS_SUITES: p.suites } : process.env;
    const res = await runCommand('wrk', ctx.tools.wrk!, args, { timeoutMs: (duration.seconds + 30) * 1000, env });
    if (res.code !== 0) throw new Error(`wrk failed: ${`${res.stdout}${res.stderr}`.trim().split('\n').slice(-3).join(' | ')}`);
    const w = parseWrkOutput(res.stdout);
    if (sessions !== undefined) extra = checkSessions(phase, res.stderr, p.connections);
    return { count: w.requests, rate: w.rps, errors: w.errors, p50Ms: w.latencyMs.p50, p99Ms: w.latencyMs.p99 };
  });
  return { ...run, ...extra };
}

/**
 * What wrk-tls-sessions.so counted in a handshake phase's run: the share resumed, wrk's
 * CPU per handshake, and a mismatch when a handshake was not TLS 1.3 with X25519, when a
 * full-handshake run resumed, or when a resumption run made more full handshakes than
 * one per connection slot (the first).
 */
type SessionFigures = Pick<Run, 'resumedPct' | 'clientCpuUsPerUnit' | 'suite' | 'mismatch'>;

function checkSessions(phase: Phase, stderr: string, connections: number): SessionFigures {
  const s = parseWrkSessions(stderr);
  if (s === undefined) return { mismatch: 'wrk-tls-sessions.so printed nothing: was it preloaded?' };
  const problems: string[] = [];
  if (s.tls13 !== s.handshakes) problems.push(`${s.handshakes - s.tls13} handshakes not TLS 1.3`);
  if (s.x25519 !== s.handshakes) problems.push(`${s.handshakes - s.x25519} handshakes not X25519`);
  if (s.otherSuites > 0) problems.push(`${s.otherSuites} handshakes not ${s.suite}`);
  if (phase === 'handshake' && s.resumed > 0) problems.push(`${s.resumed} of ${s.handshakes} resumed`);
  // a slot reconnecting after an error may start over with a full handshake: allow 1%
  if (phase === 'resumption' && s.handshakes - s.resumed > connections + s.handshakes / 100) problems.push(`${s.handshakes - s.resumed} of ${s.handshakes} were full handshakes`);
  return {
    resumedPct: s.handshakes > 0 ? Math.round((1000 * s.resumed) / s.handshakes) / 10 : undefined,
    clientCpuUsPerUnit: s.handshakes > 0 ? Math.round((100 * s.cpuUs) / s.handshakes) / 100 : undefined,
    suite: s.suite,
    ...(problems.length > 0 ? { mismatch: problems.join(', ') } : {}),
  };
}

const UNIT: Record<Phase, string> = { keepalive: 'req/s', handshake: 'handshakes/s', resumption: 'handshakes/s', h2: 'req/s' };

function describeRun(r: Run, rounds: number): string {
  const where = r.round === 0 ? 'warm-up  ' : `round ${r.round}/${rounds}`;
  const head = `[https] ${r.phase.padEnd(9)} ${where} ${r.contestant.padEnd(8)}`;
  if (!r.ok) return `${head} FAILED: ${r.error}`;
  const p99 = r.p99Ms === undefined ? '' : `  p50 ${fmtMs(r.p50Ms)} p99 ${fmtMs(r.p99Ms)} ms`;
  const client = r.resumedPct === undefined ? '' : `  ${r.resumedPct}% resumed (${r.suite}), wrk ${fmtFixed(r.clientCpuUsPerUnit, 1)} µs each`;
  const mismatch = r.mismatch === undefined ? '' : `  NOT AS MEANT: ${r.mismatch}`;
  return `${head} ${fmtInt(r.rate).padStart(8)} ${UNIT[r.phase]}${p99}  ${fmtFixed(r.cpuUsPerUnit, 1)} CPU µs each  ${r.errors} errors${client}${r.otherLoadPct === undefined ? '' : `  other load ${r.otherLoadPct}%`}${mismatch}`;
}

interface PhaseSummary {
  readonly rate: Summary;
  readonly p50Ms: Summary;
  readonly p99Ms: Summary;
  readonly cpuUsPerUnit: Summary;
  readonly clientCpuUsPerUnit: Summary;
  readonly resumedPct: Summary;
  readonly errors: number;
  /** Rate and CPU per unit against HAProxy's in the same round: the ratios, and their median. */
  readonly rateVsHaproxy: PairedRatio;
  readonly cpuVsHaproxy: PairedRatio;
}

function summarizePhase(runs: readonly Run[], haproxy: readonly Run[]): PhaseSummary | undefined {
  const ok = runs.filter((r) => r.ok);
  if (ok.length === 0) return undefined;
  const hok = haproxy.filter((r) => r.ok);
  const pick = (f: (r: Run) => number | undefined) => summarizeBy(ok, f);
  return {
    rate: pick((r) => r.rate),
    p50Ms: pick((r) => r.p50Ms),
    p99Ms: pick((r) => r.p99Ms),
    cpuUsPerUnit: pick((r) => r.cpuUsPerUnit),
    clientCpuUsPerUnit: pick((r) => r.clientCpuUsPerUnit),
    resumedPct: pick((r) => r.resumedPct),
    errors: ok.reduce((n, r) => n + (r.errors ?? 0), 0),
    rateVsHaproxy: pairedRatio(ok, hok, (r) => r.rate),
    cpuVsHaproxy: pairedRatio(ok, hok, (r) => r.cpuUsPerUnit),
  };
}

// ---- the benchmark ---------------------------------------------------------------

async function runHttps(): Promise<number> {
  const params = readParams();
  const startedAt = new Date();
  const needed = [
    { bin: 'wrk', pkg: 'wrk' },
    { bin: 'nginx', pkg: 'nginx' },
    { bin: 'openssl', pkg: 'openssl' },
  ];
  if (params.phases.includes('h2')) needed.push({ bin: 'h2load', pkg: 'nghttp2-client' });
  if (params.contestants.includes('haproxy')) needed.push({ bin: 'haproxy', pkg: 'haproxy' });
  const handshakes = params.phases.some((p) => SESSIONS[p] !== undefined);
  // the wrk preload library and the floors are C, built against libssl's headers (libssl-dev)
  if (handshakes || params.contestants.some((c) => FLOORS[c] !== undefined)) needed.push({ bin: 'cc', pkg: 'gcc' });
  const tools = await ensureDebianTools(needed);
  const tmp = makeTempDir('fulcrum-bench-https');
  let backend: ManagedProcess | undefined;
  const contestants: Contestant[] = [];
  try {
    const versions: Record<string, string[]> = { wrk: [tools.wrk!, '--version'], nginx: [tools.nginx!, '-v'], openssl: [tools.openssl!, 'version'] };
    if (tools.haproxy) versions.haproxy = [tools.haproxy, '-v'];
    if (tools.h2load) versions.h2load = [tools.h2load, '--version'];
    const machine = await machineInfo(versions);
    const ncpu = typeof machine.nproc === 'number' ? machine.nproc : availableParallelism();
    log(`[https] ${machine.nproc} cpus (${machine.cpuModel}), node ${machine.node}, load ${machine.loadavgAtStart.join(' ')}`);
    log(`[https] phases ${params.phases.join(', ')}; ${params.rounds} rounds of ${params.contestants.join(', ')}, ${params.duration.text} each, warm-up ${params.warmup.text}${params.restart ? ', each contestant restarted and warmed up again before each round after the first (BENCH_RESTART=1)' : ''}`);

    const cert = makeCertificate(tools.openssl!, tmp.path);
    const wrkSessions = handshakes ? await buildWrkSessions(tools.cc!, tmp.path).catch((err: Error) => {
      throw new EnvironmentError(`the handshake phases need wrk-tls-sessions.so (apt-get install gcc libssl-dev): ${err.message}`);
    }) : undefined;
    const [s1, s2, fPort, hPort, nPort, fnPort, fsPort] = (await freePorts(7)) as [number, number, number, number, number, number, number];
    const backendHttp = backendHttpBlock(s1, s2);
    backend = await startNginx('backend', tools.nginx!, join(tmp.path, 'backend'), { http: backendHttp });
    await waitForHttp(s1, { proc: backend, expectBody: 'S1\n', timeoutMs: READY_TIMEOUT_MS });
    await waitForHttp(s2, { proc: backend, expectBody: 'S2\n', timeoutMs: READY_TIMEOUT_MS });
    const configs: Record<string, string> = { 'backend http{}': backendHttp };

    /** Starts contestant `name` on its port and checks it answers (4 GETs); stops it again on failure. */
    const start = async (name: ContestantName): Promise<Contestant> => {
      let proc: ManagedProcess;
      let port: number;
      if (name === 'fulcrum') {
        port = fPort;
        configs['fulcrum.yaml'] = fulcrumYaml(port, cert.cert, cert.key, s1, s2);
        const file = join(tmp.path, 'fulcrum.yaml');
        writeFileSync(file, configs['fulcrum.yaml']);
        proc = await startProcess('fulcrum', process.execPath, [...NODE_FLAGS, fulcrumCli, 'run', '--workers', '1', '-c', file], { cwd: repoRoot });
      } else if (name === 'node-tls') {
        port = nPort;
        proc = await startProcess('node-tls', process.execPath, [peerScript('node-tls-peer'), String(port), cert.cert, cert.key], { cwd: repoRoot });
      } else if (name === 'floor-node' || name === 'floor-system') {
        const library = FLOORS[name]!;
        port = library === 'node' ? fnPort : fsPort;
        proc = await startFloor(name, library, await buildFloor(tools.cc!, tmp.path, library), port, cert.cert, cert.key);
      } else {
        port = hPort;
        configs['haproxy.cfg'] = haproxyHttpConfig({ port, s1, s2, connections: params.connections, threads: 1, bindOptions: `ssl crt ${cert.combined} alpn h2,http/1.1` });
        const file = join(tmp.path, 'haproxy.cfg');
        writeFileSync(file, configs['haproxy.cfg']);
        proc = await startProcess('haproxy', tools.haproxy!, ['-f', file, '-db']);
      }
      const c: Contestant = { name, port, proc, command: proc.argv.join(' '), sanity: [] };
      try {
        await waitForHttps(c);
        for (let i = 0; i < 4; i++) c.sanity.push((await httpsGet(port)).body.trim());
      } catch (err) {
        await proc.stop();
        throw err;
      }
      proc.rememberDescendants();
      return c;
    };
    const startErrors: Partial<Record<ContestantName, string>> = {};
    for (const name of params.contestants) {
      throwIfShuttingDown();
      try {
        const c = await start(name);
        contestants.push(c);
        log(`[https] ${name} ready on ${LOOPBACK}:${c.port} (pid ${c.proc.pid}), GETs: ${c.sanity.join(' ')}`);
      } catch (err) {
        startErrors[name] = (err as Error).message;
        log(`[https] ${name}: NOT STARTED: ${(err as Error).message}`);
      }
    }
    const restart = async (c: Contestant): Promise<void> => {
      await c.proc.stop();
      const fresh = await start(c.name);
      c.proc = fresh.proc;
      log(`[https] ${c.name} restarted (pid ${c.proc.pid})`);
    };

    const ctx: Ctx = { tools, params, ncpu, ...(wrkSessions !== undefined ? { wrkSessions } : {}) };
    const all: Run[] = [];
    const warm: Run[] = [];
    for (const phase of params.phases) {
      const { warmups, runs } = await warmUpAndRounds(
        contestants.filter((c) => inPhase(c.name, phase)),
        params.rounds,
        (c, round) => measure(c, phase, round, round === 0 ? params.warmup : params.duration, ctx),
        (r) => describeRun(r, params.rounds),
        params.restart ? restart : undefined,
      );
      warm.push(...warmups);
      all.push(...runs);
    }

    const summaries: Partial<Record<Phase, Partial<Record<ContestantName, PhaseSummary>>>> = {};
    for (const phase of params.phases) {
      summaries[phase] = {};
      for (const c of params.contestants) {
        const s = summarizePhase(
          all.filter((r) => r.phase === phase && r.contestant === c),
          all.filter((r) => r.phase === phase && r.contestant === 'haproxy'),
        );
        if (s) summaries[phase]![c] = s;
      }
    }
    const out: string[] = [''];
    out.push(
      `https: median of ${params.rounds} round(s) (ratios: median of per-round ratios), contestants in turn (A B A B), warm-up ${params.warmup.text}${params.restart ? ' (again after each restart: BENCH_RESTART=1, a fresh process per round)' : ''}, ${params.duration.text} per run; ` +
        `one worker each; same ECDSA P-256 certificate; backends: nginx (1 worker) S1+S2 over plain HTTP/1.1`,
    );
    const short = (v: string) => v.replace(/ (Copyright|- https?:).*$/, '');
    out.push(`machine: ${machine.nproc} cpus, ${machine.cpuModel}, node ${machine.node}; ${Object.values(machine.versions).map(short).join('; ')}`);
    const suitesOffered = params.suites === '' ? "wrk's OpenSSL default (TLS_AES_256_GCM_SHA384 first)" : params.suites;
    const load: Record<Phase, string> = {
      keepalive: `wrk -t1 -c${params.connections} --latency (HTTP/1.1 keep-alive over TLS)`,
      handshake: `wrk -t1 -c${params.connections} -H 'Connection: close', no session offered: a full TLS 1.3 handshake (X25519, ECDSA P-256) per request, as a new visitor's; suites offered: ${suitesOffered}`,
      resumption: `wrk -t1 -c${params.connections} -H 'Connection: close', wrk offering its latest ticket: a TLS 1.3 resumption (PSK + X25519) per request, as a returning visitor's; suites offered: ${suitesOffered}`,
      h2: `h2load -c${params.h2Clients} -m${params.h2Streams} -t1 (HTTP/2, ALPN h2)`,
    };
    const rows: string[][] = [];
    for (const phase of params.phases) {
      const hs = summaries[phase]?.haproxy;
      for (const c of params.contestants) {
        if (!inPhase(c, phase)) continue;
        const s = summaries[phase]?.[c];
        const ms = (x: Summary) => (Number.isNaN(x.median) ? '-' : fmtMs(x.median));
        const client = (x: PhaseSummary) => (Number.isNaN(x.clientCpuUsPerUnit.median) ? '-' : `${fmtFixed(x.clientCpuUsPerUnit.median, 1)} (${x.resumedPct.median}% resumed)`);
        rows.push(
          s === undefined
            ? [phase, c, '-', '-', '-', '-', '-', '-', '-', '-']
            : [phase, c, `${fmtInt(s.rate.median)} ${UNIT[phase]}`, ms(s.p50Ms), ms(s.p99Ms), fmtFixed(s.cpuUsPerUnit.median, 1), client(s), String(s.errors), fmtRatio(s.rateVsHaproxy.median), fmtRatio(s.cpuVsHaproxy.median)],
        );
      }
    }
    out.push('');
    out.push(renderTable(['phase', 'contestant', 'rate', 'p50 ms', 'p99 ms', 'CPU µs each', 'wrk CPU µs each', 'errors', 'rate vs haproxy', 'CPU vs haproxy'], rows));
    for (const phase of params.phases) {
      const f = summaries[phase]?.fulcrum;
      const suites = [...new Set(all.filter((r) => r.phase === phase && r.suite !== undefined).map((r) => `${r.contestant} ${r.suite}`))];
      if (suites.length > 0) out.push(`  ${phase}: suites negotiated: ${suites.join(', ')}`);
      if (f !== undefined && f.rateVsHaproxy.perRound.length > 0) out.push(`  ${phase}: fulcrum vs haproxy per round: rate ${f.rateVsHaproxy.perRound.map((x) => fmtRatio(x)).join(' ')}; CPU each ${f.cpuVsHaproxy.perRound.map((x) => fmtRatio(x)).join(' ')}`);
    }
    for (const phase of params.phases) out.push(`  ${phase}: ${load[phase]}`);
    const loads = all.filter((r) => r.ok && r.otherLoadPct !== undefined);
    if (loads.length > 0) {
      const maxOther = Math.max(...loads.map((r) => r.otherLoadPct!));
      const noisy = loads.filter((r) => r.otherLoadPct! >= NOISY_PCT).length;
      out.push(`other load during measured runs (% of ${ncpu} cpus): max ${maxOther}%${noisy > 0 ? ` -- ${noisy} of ${loads.length} runs at >= ${NOISY_PCT}%: the machine is shared, compare ratios with care` : ''}`);
    }
    const targets: Array<{ label: string; value?: number; threshold: number }> = [];
    const tr = (phase: Phase) => summaries[phase]?.fulcrum?.rateVsHaproxy.median;
    if (params.phases.includes('keepalive')) targets.push({ label: 'HTTPS keep-alive req/s >= 1.0x haproxy', value: tr('keepalive'), threshold: 1.0 });
    if (params.phases.includes('handshake')) targets.push({ label: 'full TLS handshakes/s >= 1.0x haproxy', value: tr('handshake'), threshold: 1.0 });
    if (params.phases.includes('resumption')) targets.push({ label: 'resumed TLS handshakes/s >= 1.0x haproxy', value: tr('resumption'), threshold: 1.0 });
    // on two cores wrk's side of a handshake is the larger: the rate is mostly the client's, the CPU each is the servers'
    const perCpu = (phase: Phase) => {
      const r = summaries[phase]?.fulcrum?.cpuVsHaproxy.median;
      return r === undefined || r === 0 ? undefined : 1 / r;
    };
    for (const phase of ['keepalive', 'handshake', 'resumption'] as const) {
      if (params.phases.includes(phase)) targets.push({ label: `${phase}: ${phase === 'keepalive' ? 'requests' : 'handshakes'} per CPU-second >= 1.0x haproxy (haproxy's CPU each / fulcrum's)`, value: perCpu(phase), threshold: 1.0 });
    }
    if (targets.length > 0) {
      out.push('', 'targets:');
      for (const t of targets) out.push(targetLine(t));
    }
    const problems = runProblems(params.contestants, startErrors, contestants, [...warm, ...all]);
    for (const r of all) if (r.mismatch !== undefined) problems.push(`${r.contestant} ${r.phase} round ${r.round}: not what the phase measures: ${r.mismatch}`);
    if (problems.length > 0) out.push('', 'problems:', ...problems.map((p) => `  ${p}`));
    const file = writeResults('https', startedAt, {
      benchmark: 'https',
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      machine: { ...machine, loadavgAtEnd: loadavg().map((x) => Math.round(x * 100) / 100) },
      params,
      load,
      contestants: Object.fromEntries(params.contestants.map((n) => [n, { description: DESCRIPTIONS[n], command: contestants.find((c) => c.name === n)?.command, startError: startErrors[n] }])),
      configs,
      warmups: warm,
      runs: all,
      medians: summaries,
      targets,
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

export const httpsBenchmark: Benchmark = {
  name: 'https',
  summary: 'HTTPS: fulcrum vs haproxy terminating TLS (same certificate), with TLS floors: keep-alive req/s, full and resumed handshakes/s, HTTP/2 req/s',
  run: runHttps,
};
