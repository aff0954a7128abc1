/**
 * The pick micro-benchmark: nanoseconds per Balancer.pick() for every algorithm over 100
 * servers (weights 1..10), idle and under load, beside the plain O(n) scans the
 * algorithms replaced (nginx's smooth WRR loop, a rotating least-conn scan, a two-pass
 * weighted random) as named peers. See bench/README.md for how benchmarks run.
 *
 * Each contestant runs in its own compiled loop (new Function), so the JIT's feedback
 * from one algorithm does not slow another's call site; contestants are measured in turn
 * (A B A B) each round, after a warm-up, and the median of the rounds is reported.
 */
import { loadavg } from 'node:os';
import { Server } from '../src/backend/server.js';
import type { Balancer, PickContext } from '../src/balance/balancer.js';
import { createBalancer } from '../src/balance/index.js';
import { envInt, envSubset, log, type Benchmark } from './lib/benchmark.js';
import { throwIfShuttingDown } from './lib/cleanup.js';
import { machineInfo, writeResults } from './lib/results.js';
import { ratio, summarize, type Summary } from './lib/stats.js';
import { fmtFixed, fmtInt, fmtRatio, renderTable } from './lib/table.js';

const SERVERS = 100;
const TARGET_NS = 200;
/** Requests held open in the `loaded` scenario: a ring, the oldest released at each pick. */
const OUTSTANDING = 2 * SERVERS;
const WARMUP_PICKS = 300_000;
const UPDATE_REPEATS = 5;

type Input = 'none' | 'hash' | 'sticky-hit' | 'sticky-none';
type Scenario = 'idle' | 'loaded';
const SCENARIOS: readonly Scenario[] = ['idle', 'loaded'];

interface ContestantDef {
  readonly name: string;
  readonly description: string;
  readonly kind: 'algorithm' | 'peer' | 'baseline';
  readonly input: Input;
  /** For algorithms: the peer whose ratio is reported. */
  readonly peer?: string;
  make(): Balancer;
}

// ---- peers: the O(n) scans the algorithms replaced ----------------------------------

function usable(s: Server, avoid: ReadonlySet<Server> | null): boolean {
  return (s.maxConn === 0 || s.active < s.maxConn) && (avoid === null || !avoid.has(s));
}

/** nginx's ngx_http_upstream_get_peer as a plain O(n) loop per pick. */
class SwrrScan implements Balancer {
  private list: readonly Server[] = [];
  private cur = new Float64Array(0);
  update(eligible: readonly Server[]): void {
    this.list = eligible;
    this.cur = new Float64Array(eligible.length);
  }
  pick(ctx: PickContext): Server | undefined {
    const list = this.list;
    const cur = this.cur;
    let best = -1;
    let total = 0;
    for (let i = 0; i < list.length; i++) {
      const s = list[i]!;
      if (!usable(s, ctx.avoid)) continue;
      cur[i] = cur[i]! + s.effectiveWeight;
      total += s.effectiveWeight;
      if (best < 0 || cur[i]! > cur[best]!) best = i;
    }
    if (best < 0) return undefined;
    cur[best] = cur[best]! - total;
    return list[best];
  }
}

/** A least-conn scan from a rotating offset, score (active + 1) / weight, every server every pick. */
class LeastConnScan implements Balancer {
  private list: readonly Server[] = [];
  private offset = 0;
  update(eligible: readonly Server[]): void {
    this.list = eligible;
  }
  pick(ctx: PickContext): Server | undefined {
    const list = this.list;
    const n = list.length;
    let best: Server | undefined;
    let bestScore = Infinity;
    const start = this.offset++ % Math.max(n, 1);
    for (let k = 0; k < n; k++) {
      const s = list[(start + k) % n]!;
      if (!usable(s, ctx.avoid)) continue;
      const score = (s.active + 1) / s.effectiveWeight;
      if (score < bestScore) {
        bestScore = score;
        best = s;
      }
    }
    return best;
  }
}

/** Weighted random in two O(n) passes (sum, then walk). */
class RandomScan implements Balancer {
  private list: readonly Server[] = [];
  update(eligible: readonly Server[]): void {
    this.list = eligible;
  }
  pick(ctx: PickContext): Server | undefined {
    let total = 0;
    for (const s of this.list) if (usable(s, ctx.avoid)) total += s.effectiveWeight;
    if (total <= 0) return undefined;
    let r = Math.random() * total;
    let last: Server | undefined;
    for (const s of this.list) {
      if (!usable(s, ctx.avoid)) continue;
      last = s;
      r -= s.effectiveWeight;
      if (r < 0) return s;
    }
    return last;
  }
}

/** Returns the servers in turn: the cost of the loop, the call and the bookkeeping. */
class Cycle implements Balancer {
  private list: readonly Server[] = [];
  private i = 0;
  update(eligible: readonly Server[]): void {
    this.list = eligible;
    this.i = 0;
  }
  pick(): Server | undefined {
    const s = this.list[this.i];
    if (++this.i === this.list.length) this.i = 0;
    return s;
  }
}

const CONTESTANTS: readonly ContestantDef[] = [
  { name: 'round-robin', kind: 'algorithm', input: 'none', peer: 'swrr-scan', description: 'smooth WRR from a precomputed schedule', make: () => createBalancer('round-robin') },
  { name: 'random', kind: 'algorithm', input: 'none', peer: 'random-scan', description: 'power of two choices over an alias table', make: () => createBalancer('random') },
  { name: 'least-conn', kind: 'algorithm', input: 'none', peer: 'lc-scan', description: 'weighted least outstanding, scan from a weighted start, stops at an idle server', make: () => createBalancer('least-conn') },
  { name: 'maglev', kind: 'algorithm', input: 'hash', description: 'lookup table, ctx.hash % 65537 (random hashes)', make: () => createBalancer('maglev') },
  { name: 'sticky-hit', kind: 'algorithm', input: 'sticky-hit', description: 'sticky, cookie names a server (Map lookup)', make: () => createBalancer('sticky', 'round-robin') },
  { name: 'sticky-none', kind: 'algorithm', input: 'sticky-none', peer: 'swrr-scan', description: 'sticky, no cookie: falls back to round-robin', make: () => createBalancer('sticky', 'round-robin') },
  { name: 'first', kind: 'algorithm', input: 'none', description: 'first server with room (no max_conn here: always the first)', make: () => createBalancer('first') },
  { name: 'swrr-scan', kind: 'peer', input: 'none', description: "peer: nginx's smooth WRR loop, O(n) per pick", make: () => new SwrrScan() },
  { name: 'lc-scan', kind: 'peer', input: 'none', description: 'peer: least-conn scan of every server, O(n) per pick', make: () => new LeastConnScan() },
  { name: 'random-scan', kind: 'peer', input: 'none', description: 'peer: two-pass weighted random, O(n) per pick', make: () => new RandomScan() },
  { name: 'baseline', kind: 'baseline', input: 'none', description: 'a trivial balancer (servers in turn): the scale of loop, call and bookkeeping', make: () => new Cycle() },
];
const NAMES = CONTESTANTS.map((c) => c.name);

/** mulberry32, so every run uses the same weights and hashes. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  };
}

interface LoopEnv {
  readonly hashes: Uint32Array;
  readonly names: readonly string[];
  readonly ring: Array<Server | undefined>;
  readonly now: () => bigint;
}
type Loop = (b: Balancer, ctx: PickContext, env: LoopEnv, n: number) => number;

/** A freshly compiled pick loop (its own JIT feedback) for one input kind and scenario. */
function compileLoop(input: Input, scenario: Scenario): Loop {
  const setCtx =
    input === 'hash'
      ? 'ctx.hash = hashes[i & mask];'
      : input === 'sticky-hit'
        ? 'ctx.sticky = names[k]; if (++k === nn) k = 0;'
        : '';
  const load =
    scenario === 'loaded'
      ? 's.active++; const old = ring[r]; if (old !== undefined) old.active--; ring[r] = s; if (++r === R) r = 0;'
      : 'if (s === undefined) throw new Error("no server");';
  const src = `
    const hashes = env.hashes, mask = hashes.length - 1, names = env.names, nn = names.length;
    const ring = env.ring, R = ring.length;
    let r = 0, k = 0;
    const t0 = env.now();
    for (let i = 0; i < n; i++) {
      ${setCtx}
      const s = b.pick(ctx);
      ${load}
    }
    const ns = Number(env.now() - t0);
    for (let j = 0; j < R; j++) { const s = ring[j]; if (s !== undefined) s.active--; ring[j] = undefined; }
    return ns;`;
  return new Function('b', 'ctx', 'env', 'n', src) as Loop;
}

interface Prepared {
  readonly def: ContestantDef;
  readonly balancer: Balancer;
  readonly loops: Record<Scenario, Loop>;
  readonly ctx: PickContext;
  readonly updateMicros: number;
}

interface Result {
  readonly name: string;
  readonly kind: ContestantDef['kind'];
  readonly description: string;
  readonly nsPerPick: Record<Scenario, number[]>;
  readonly medians: Record<Scenario, Summary>;
  readonly updateMicros: number;
}

async function runPick(): Promise<number> {
  const startedAt = new Date();
  const picks = envInt('BENCH_PICKS', 2_000_000, 10_000, 100_000_000);
  const rounds = envInt('BENCH_PICK_ROUNDS', 5, 1, 50);
  const only = envSubset('BENCH_PICK_ONLY', NAMES);
  const machine = await machineInfo({});
  log(`[pick] ${machine.nproc} cpus (${machine.cpuModel}), node ${machine.node}, load ${machine.loadavgAtStart.join(' ')}`);
  log(`[pick] ${SERVERS} servers, weights 1..10; ${picks.toLocaleString('en-US')} picks x ${rounds} rounds per contestant and scenario`);

  const next = rng(2026);
  const weights = Array.from({ length: SERVERS }, () => 1 + (next() % 10));
  const servers = weights.map(
    (w, i) => new Server('bench', { name: `s${i + 1}`, host: '127.0.0.1', port: 10_000 + i, weight: w, backup: false, maxConn: 0, checkHost: '127.0.0.1', checkPort: 10_000 + i, url: `http://127.0.0.1:${10_000 + i}` }),
  );
  const env: LoopEnv = {
    hashes: Uint32Array.from({ length: 1 << 16 }, () => next()),
    names: servers.map((s) => s.name),
    ring: new Array<Server | undefined>(OUTSTANDING).fill(undefined),
    now: () => process.hrtime.bigint(),
  };

  const prepared: Prepared[] = [];
  for (const def of CONTESTANTS.filter((c) => only.includes(c.name))) {
    const balancer = def.make();
    const times: number[] = [];
    for (let i = 0; i < UPDATE_REPEATS; i++) {
      const t0 = process.hrtime.bigint();
      balancer.update(servers);
      times.push(Number(process.hrtime.bigint() - t0) / 1000);
    }
    const p: Prepared = {
      def,
      balancer,
      loops: { idle: compileLoop(def.input, 'idle'), loaded: compileLoop(def.input, 'loaded') },
      ctx: { avoid: null, hash: 0, sticky: null },
      updateMicros: summarize(times).median,
    };
    for (const sc of SCENARIOS) p.loops[sc](balancer, p.ctx, env, WARMUP_PICKS);
    prepared.push(p);
  }

  const raw = new Map<string, Record<Scenario, number[]>>(prepared.map((p) => [p.def.name, { idle: [], loaded: [] }]));
  for (let round = 1; round <= rounds; round++) {
    for (const sc of SCENARIOS) {
      for (const p of prepared) {
        throwIfShuttingDown();
        const ns = p.loops[sc](p.balancer, p.ctx, env, picks) / picks;
        raw.get(p.def.name)![sc].push(ns);
      }
    }
    log(`[pick] round ${round}/${rounds}: ${prepared.map((p) => `${p.def.name} ${fmtFixed(raw.get(p.def.name)!.loaded.at(-1), 1)}`).join(', ')} ns (loaded)`);
  }

  const results: Result[] = prepared.map((p) => {
    const r = raw.get(p.def.name)!;
    return {
      name: p.def.name,
      kind: p.def.kind,
      description: p.def.description,
      nsPerPick: r,
      medians: { idle: summarize(r.idle), loaded: summarize(r.loaded) },
      updateMicros: p.updateMicros,
    };
  });
  const byName = new Map(results.map((r) => [r.name, r]));
  const targets = results
    .filter((r) => r.kind === 'algorithm')
    .map((r) => {
      const worst = Math.max(r.medians.idle.median, r.medians.loaded.median);
      return { label: `${r.name} < ${TARGET_NS} ns/pick (${SERVERS} servers, worse of idle/loaded)`, value: worst, pass: worst < TARGET_NS };
    });

  const rows = results.map((r) => {
    const peer = CONTESTANTS.find((c) => c.name === r.name)?.peer;
    const vs = peer !== undefined ? ratio(r.medians.loaded.median, byName.get(peer)?.medians.loaded.median) : undefined;
    const t = targets.find((x) => x.label.startsWith(`${r.name} <`));
    return [
      r.name,
      fmtFixed(r.medians.idle.median, 1),
      fmtFixed(r.medians.loaded.median, 1),
      vs === undefined ? '-' : `${fmtRatio(vs)} ${peer}`,
      fmtInt(r.updateMicros),
      t === undefined ? (r.kind === 'peer' ? 'peer' : 'baseline') : t.pass ? 'PASS' : 'MISS',
    ];
  });
  const out: string[] = [];
  out.push(
    `pick: ${SERVERS} servers (weights 1..10), ns per pick, median of ${rounds} round(s) of ${picks.toLocaleString('en-US')} picks, ` +
      'contestants in turn, each in its own compiled loop',
  );
  out.push(`machine: ${machine.nproc} cpus, ${machine.cpuModel}, node ${machine.node}, load at start ${machine.loadavgAtStart.join(' ')}`);
  out.push('');
  out.push(renderTable(['contestant', 'idle ns/pick', 'loaded ns/pick', 'loaded vs peer', 'update µs', `< ${TARGET_NS} ns`], rows));
  out.push(
    `idle: active stays 0. loaded: each pick holds a request (active++) and releases the oldest of ${OUTSTANDING} (active--), ` +
      'the bookkeeping included (baseline: a trivial balancer for scale). update µs: one update() with the 100 servers.',
  );
  out.push('');
  out.push('targets:');
  for (const t of targets) out.push(`  ${t.pass ? 'PASS' : 'MISS'}  ${t.label}: ${fmtFixed(t.value, 1)} ns`);

  const file = writeResults('pick', startedAt, {
    benchmark: 'pick',
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    machine: { ...machine, loadavgAtEnd: loadavg().map((x) => Math.round(x * 100) / 100) },
    params: {
      servers: SERVERS,
      weights,
      picks,
      rounds,
      warmupPicks: WARMUP_PICKS,
      outstanding: OUTSTANDING,
      order: 'each round: idle then loaded, contestants in turn; each contestant in its own compiled loop',
      timer: 'process.hrtime.bigint() around the loop',
    },
    contestants: Object.fromEntries(CONTESTANTS.map((c) => [c.name, { kind: c.kind, description: c.description, peer: c.peer }])),
    results,
    targets,
  });
  out.push('');
  out.push(`results: ${file}`);
  process.stdout.write(`${out.join('\n')}\n`);
  return 0;
}

/** `npm run bench -- pick`: registered in bench/run.ts; about 25 s with the defaults. */
export const pickBenchmark: Benchmark = {
  name: 'pick',
  summary: `Balancer.pick() ns per call for every algorithm over ${SERVERS} servers, beside the O(n) scans they replaced`,
  run: runPick,
};
