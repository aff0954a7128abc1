/** Machine facts and writing a benchmark's JSON to bench/results/NAME-YYYYMMDD-HHMMSS.json. */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { join, relative } from 'node:path';
import { setClockTicks } from './cpu.js';
import { repoRoot, resultsDir } from './paths.js';
import { runCommand } from './process.js';

export interface MachineInfo {
  readonly nproc: number | string;
  readonly cpuModel: string;
  readonly memTotalGiB: number;
  readonly kernel: string;
  readonly node: string;
  readonly clockTicks: number;
  readonly loadavgAtStart: number[];
  /** Tool name -> first line of its version output. */
  readonly versions: Record<string, string>;
}

function cpuModel(): string {
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) return m[1]!.trim();
  } catch {
    // fall through
  }
  return cpus()[0]?.model ?? 'unknown';
}

async function firstLine(command: string, args: readonly string[]): Promise<string> {
  try {
    const r = await runCommand(command, command, args, { timeoutMs: 10_000 });
    const text = `${r.stdout}\n${r.stderr}`.split('\n').map((l) => l.trim()).find((l) => l !== '');
    return text ?? '(no output)';
  } catch (err) {
    return `(unavailable: ${(err as Error).message})`;
  }
}

/**
 * Collects machine facts. `tools` maps a label to the command printing its version,
 * e.g. { haproxy: ['/usr/sbin/haproxy', '-v'], nginx: ['/usr/sbin/nginx', '-v'] }.
 * Also reads CLK_TCK for the CPU accounting.
 */
export async function machineInfo(tools: Record<string, readonly string[]>): Promise<MachineInfo> {
  const nprocOut = (await firstLine('nproc', [])).trim();
  const ticks = Number((await firstLine('getconf', ['CLK_TCK'])).trim());
  setClockTicks(ticks);
  const versions: Record<string, string> = {};
  for (const [label, [cmd, ...args]] of Object.entries(tools)) {
    if (cmd) versions[label] = await firstLine(cmd, args);
  }
  return {
    nproc: /^\d+$/.test(nprocOut) ? Number(nprocOut) : nprocOut,
    cpuModel: cpuModel(),
    memTotalGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: release(),
    node: process.version,
    clockTicks: Number.isFinite(ticks) && ticks > 0 ? ticks : 100,
    loadavgAtStart: loadavg().map((x) => Math.round(x * 100) / 100),
    versions,
  };
}

/** YYYYMMDD-HHMMSS in UTC. */
export function fileTimestamp(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}${p(d.getUTCMonth() + 1)}${p(d.getUTCDate())}-${p(d.getUTCHours())}${p(d.getUTCMinutes())}${p(d.getUTCSeconds())}`;
}

/** Writes bench/results/<name>-<timestamp>.json and returns its path relative to the repo root. */
export function writeResults(name: string, startedAt: Date, data: unknown): string {
  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, `${name}-${fileTimestamp(startedAt)}.json`);
  writeFileSync(file, `${JSON.stringify(data, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`);
  return relative(repoRoot, file);
}
