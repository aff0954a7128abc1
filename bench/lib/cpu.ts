/**
 * CPU time of a process and its descendants, read from /proc/PID/stat.
 * utime+stime count every thread of a process; cutime+cstime add children it has
 * already reaped, so a delta stays right even if a child exits during a run.
 * Live descendants (e.g. nginx workers under the master) are found by walking ppid.
 */
import { readFileSync, readdirSync } from 'node:fs';

export interface ProcStat {
  readonly pid: number;
  readonly state: string;
  readonly ppid: number;
  /** Clock ticks (USER_HZ). */
  readonly utime: number;
  readonly stime: number;
  readonly cutime: number;
  readonly cstime: number;
  /** Ticks since boot: with pid, identifies a process across pid reuse. */
  readonly starttime: number;
}

/**
 * USER_HZ, the unit of /proc/PID/stat times. Linux fixes it at 100 for userspace on
 * every mainstream architecture (sysconf(_SC_CLK_TCK)); setClockTicks() overrides it
 * from `getconf CLK_TCK` when that was run.
 */
let clockTicks = 100;
export function setClockTicks(n: number): void {
  if (Number.isFinite(n) && n > 0) clockTicks = n;
}
export function getClockTicks(): number {
  return clockTicks;
}

export function readProcStat(pid: number): ProcStat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may contain spaces: split after it.
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // f[0] is field 3 (state); field N is f[N - 3].
  return {
    pid,
    state: f[0] ?? '?',
    ppid: Number(f[1]),
    utime: Number(f[11]),
    stime: Number(f[12]),
    cutime: Number(f[13]),
    cstime: Number(f[14]),
    starttime: Number(f[19]),
  };
}

/** The process and all its live descendants (root first), or [] if root is gone. */
export function processTree(rootPid: number): ProcStat[] {
  const root = readProcStat(rootPid);
  if (!root || root.state === 'Z') return [];
  const children = new Map<number, ProcStat[]>();
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return [root];
  }
  for (const name of names) {
    if (!/^\d+$/.test(name)) continue;
    const st = readProcStat(Number(name));
    if (!st) continue;
    const list = children.get(st.ppid);
    if (list) list.push(st);
    else children.set(st.ppid, [st]);
  }
  const out: ProcStat[] = [root];
  for (let i = 0; i < out.length; i++) {
    const cur = out[i]!;
    for (const child of children.get(cur.pid) ?? []) out.push(child);
  }
  return out;
}

/** Total CPU (user+system, own and reaped children) of a process tree, in microseconds. */
export function treeCpuMicros(tree: readonly ProcStat[]): number {
  let ticks = 0;
  for (const p of tree) ticks += p.utime + p.stime + p.cutime + p.cstime;
  return (ticks * 1e6) / clockTicks;
}

export interface MachineCpu {
  /** user+nice+system+irq+softirq over all cpus, in microseconds. */
  readonly busyUs: number;
  /** Time the hypervisor gave to someone else, in microseconds. */
  readonly stealUs: number;
}

/** Whole-machine CPU counters from the first line of /proc/stat (undefined if unreadable). */
export function readMachineCpu(): MachineCpu | undefined {
  let line: string | undefined;
  try {
    line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0];
  } catch {
    return undefined;
  }
  const f = (line ?? '').trim().split(/\s+/).slice(1).map(Number);
  if (f.length < 8 || f.some((x) => !Number.isFinite(x))) return undefined;
  const [user, nice, system, , , irq, softirq, steal] = f as [number, number, number, number, number, number, number, number];
  const us = (ticks: number) => (ticks * 1e6) / clockTicks;
  return { busyUs: us(user + nice + system + irq + softirq), stealUs: us(steal) };
}

/**
 * Measures how much CPU the rest of the machine used while `fn` ran: whole-machine busy
 * time minus the CPU of our own process tree (this process, everything it started, and
 * reaped children such as wrk). On a shared machine this says how noisy a run was.
 */
export async function withForeignCpu<T>(fn: () => Promise<T>): Promise<{ value: T; foreignUs?: number; stealUs?: number; wallUs: number }> {
  const m0 = readMachineCpu();
  const own0 = treeCpuMicros(processTree(process.pid));
  const t0 = process.hrtime.bigint();
  const value = await fn();
  const wallUs = Number(process.hrtime.bigint() - t0) / 1000;
  const m1 = readMachineCpu();
  const own1 = treeCpuMicros(processTree(process.pid));
  if (!m0 || !m1) return { value, wallUs };
  return { value, wallUs, foreignUs: Math.max(0, m1.busyUs - m0.busyUs - (own1 - own0)), stealUs: m1.stealUs - m0.stealUs };
}
