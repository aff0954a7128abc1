/**
 * One measured run of a load client against a contestant, as the https and grpc
 * benchmarks record it: what the client counted, the contestant's CPU per request, and
 * how busy the rest of the machine was meanwhile; a contestant that exited is marked
 * failed. Also h2load, run and read.
 */
import { withForeignCpu } from './cpu.js';
import { runCommand, type ManagedProcess } from './process.js';
import { fmtRatio } from './table.js';

/** What a load client counted in one run. */
export interface Counted {
  count: number;
  rate: number;
  errors: number;
  p50Ms?: number | undefined;
  p99Ms: number | undefined;
}

/** The outcome of one run (beside the benchmark's own fields: phase, round, contestant). */
export interface RunOutcome {
  readonly ok: boolean;
  readonly error?: string;
  /** Requests (or handshakes) per second. */
  readonly rate?: number;
  readonly count?: number;
  readonly p50Ms?: number;
  readonly p99Ms?: number;
  readonly errors?: number;
  readonly cpuUsPerUnit?: number;
  /** CPU used outside the benchmark during the run, % of all cpus. */
  readonly otherLoadPct?: number;
}

const r2 = (x: number) => Math.round(x * 100) / 100;

/** Runs `load` against contestant `c` (its process's CPU read before and after) and records the outcome beside `base`. */
export async function measureRun<B extends object>(c: { readonly proc: ManagedProcess; failure?: string }, base: B, ncpu: number, load: () => Promise<Counted>): Promise<B & RunOutcome> {
  const cpu0 = c.proc.cpuMicros();
  try {
    const m = await withForeignCpu(load);
    const cpu1 = c.proc.cpuMicros();
    if (c.proc.hasExited || cpu0 === undefined || cpu1 === undefined) {
      c.failure = `exited during the run: ${c.proc.outputTail(5)}`;
      return { ...base, ok: false, error: c.failure };
    }
    const capacity = m.wallUs * ncpu;
    return {
      ...base,
      ok: true,
      rate: Math.round(m.value.rate),
      count: m.value.count,
      p50Ms: m.value.p50Ms,
      p99Ms: m.value.p99Ms,
      errors: m.value.errors,
      cpuUsPerUnit: m.value.count > 0 ? r2((cpu1 - cpu0) / m.value.count) : undefined,
      otherLoadPct: m.foreignUs !== undefined && capacity > 0 ? Math.round((1000 * m.foreignUs) / capacity) / 10 : undefined,
    };
  } catch (err) {
    if (c.proc.hasExited) c.failure = `exited during the run: ${c.proc.outputTail(5)}`;
    return { ...base, ok: false, error: (err as Error).message };
  }
}

/** Parses h2load's summary: requests done and failed, and req/s. */
export function parseH2load(out: string): { requests: number; failed: number; rps: number } {
  const req = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored/.exec(out);
  const fin = /finished in [\d.]+\w+, ([\d.]+) req\/s/.exec(out);
  if (!req || !fin) throw new Error(`h2load output not understood: ${out.trim().split('\n').slice(-5).join(' | ')}`);
  return { requests: Number(req[4]), failed: Number(req[5]) + Number(req[6]), rps: Number(fin[1]) };
}

/** Runs h2load (`bin`) with `args` for about `seconds`; its summary, or an Error with its last lines. */
export async function runH2load(bin: string, args: string[], seconds: number): Promise<{ requests: number; failed: number; rps: number }> {
  const res = await runCommand('h2load', bin, args, { timeoutMs: (seconds + 30) * 1000 });
  if (res.code !== 0) throw new Error(`h2load failed: ${`${res.stdout}${res.stderr}`.trim().split('\n').slice(-3).join(' | ')}`);
  return parseH2load(res.stdout);
}

/**
 * What went wrong in a benchmark of measured runs, a line each: contestants that did not
 * start or exited, and runs that failed for another reason.
 */
export function runProblems(names: readonly string[], startErrors: Partial<Record<string, string>>, contestants: ReadonlyArray<{ name: string; failure?: string }>, runs: ReadonlyArray<RunOutcome & { contestant: string; phase: string }>): string[] {
  const problems: string[] = [];
  for (const name of names) {
    if (startErrors[name]) problems.push(`${name}: not started: ${startErrors[name]!.split('\n')[0]}`);
    const c = contestants.find((x) => x.name === name);
    if (c?.failure) problems.push(`${name}: ${c.failure.split('\n')[0]}`);
  }
  for (const r of runs) if (!r.ok && !problems.some((p) => p.includes(r.error ?? ''))) problems.push(`${r.contestant} ${r.phase}: ${r.error}`);
  return problems;
}

/** A target's line: PASS or MISS against `threshold` (a ratio at least this), or n/a when not measured. */
export function targetLine(t: { label: string; value?: number | undefined; threshold: number }): string {
  return `  ${t.value === undefined ? 'n/a ' : t.value >= t.threshold ? 'PASS' : 'MISS'}  ${t.label}  ${fmtRatio(t.value)}`;
}
