/**
 * What the lab reads from the kernel: the bytes an interface received and sent (its
 * counters, through `ip -s -j link`), and the CPU time of a process and its children
 * (the nanoseconds on CPU of each thread, /proc/PID/task/TID/schedstat, or else utime +
 * stime of /proc/PID/stat in 10 ms ticks), which for Fulcrum is the primary and its workers,
 * read per process so that a difference of two readings counts the processes living at
 * the second: a helper that ends between them (an `arping` of a VRRP takeover, an `ip`
 * or `nft` run, a few milliseconds each) is left out rather than subtracted.
 */
import { readdir, readFile } from 'node:fs/promises';

/** /proc's clock ticks per second (USER_HZ, 100 on every Linux architecture Node runs on). */
const TICKS_PER_SECOND = 100;

interface Stat {
  ppid: number;
  ticks: number;
}

async function stat(pid: number): Promise<Stat | null> {
  try {
    const text = await readFile(`/proc/${pid}/stat`, 'utf8');
    // after the command name in parentheses: state ppid ... utime (14th field) stime (15th)
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) };
  } catch {
    return null;
  }
}

async function processes(): Promise<Map<number, Stat>> {
  const all = new Map<number, Stat>();
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = await stat(Number(name));
    if (s !== null) all.set(Number(name), s);
  }
  return all;
}

function treeOf(pid: number, all: Map<number, Stat>): Set<number> {
  const tree = new Set([pid]);
  for (let grew = true; grew; ) {
    grew = false;
    for (const [p, s] of all) if (!tree.has(p) && tree.has(s.ppid)) (tree.add(p), (grew = true));
  }
  return tree;
}

/** `pid` and its living descendants (for Fulcrum: the primary, its workers and helpers). */
export async function processTree(pid: number): Promise<number[]> {
  return [...treeOf(pid, await processes())];
}

/** CPU milliseconds (user + system) used so far by `pid` and each of its living descendants, by pid. */
export async function cpuTimes(pid: number): Promise<Map<number, number>> {
  const all = await processes();
  const times = new Map<number, number>();
  for (const p of treeOf(pid, all)) times.set(p, (await schedMs(p)) ?? ((all.get(p)?.ticks ?? 0) * 1000) / TICKS_PER_SECOND);
  return times;
}

/** The CPU milliseconds spent between two readings of cpuTimes, by the processes living at the second. */
export function cpuDelta(before: Map<number, number>, after: Map<number, number>): number {
  let ms = 0;
  for (const [p, t] of after) ms += Math.max(0, t - (before.get(p) ?? 0));
  return ms;
}

/** The CPU milliseconds of every thread of `pid` by the scheduler's own count, or null when /proc has no schedstat. */
async function schedMs(pid: number): Promise<number | null> {
  try {
    let ns = 0;
    for (const tid of await readdir(`/proc/${pid}/task`)) ns += Number((await readFile(`/proc/${pid}/task/${tid}/schedstat`, 'utf8')).split(' ')[0]);
    return Number.isFinite(ns) ? ns / 1e6 : null;
  } catch {
    return null;
  }
}

/** Bytes in and out of an interface between two readings. */
export interface Traffic {
  rx: number;
  tx: number;
}

export function delta(before: Traffic, after: Traffic): Traffic {
  return { rx: after.rx - before.rx, tx: after.tx - before.tx };
}
