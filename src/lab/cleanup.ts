/**
 * Finding and removing what a lab left behind: every network namespace whose name starts
 * with the lab's prefix (after killing, by pid, the processes still in it; nftables
 * tables made inside go with the namespace), and a veth still named with the prefix in
 * the host's namespace (a run that died between creating a pair and moving it away).
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { IP, killAllIn, sh } from './topology.js';

/** Every lab namespace is named `fulab-` + c, b, s1, s2 or br. */
export const LAB_PREFIX = 'fulab-';

/** The network namespaces whose names start with `prefix`. */
export async function labNamespaces(prefix = LAB_PREFIX): Promise<string[]> {
  const text = await sh(IP, ['netns', 'list']).catch(() => '');
  return text
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter((n) => n.startsWith(prefix));
}

/** Removes a previous lab's namespaces, processes and stray veths; resolves with what it removed. */
export async function removeLeftovers(prefix = LAB_PREFIX): Promise<string[]> {
  const removed: string[] = [];
  for (const ns of await labNamespaces(prefix)) {
    for (const pid of await killAllIn(ns)) removed.push(`process ${pid} (in ${ns})`);
    await sh(IP, ['netns', 'del', ns]).catch(() => undefined);
    removed.push(`namespace ${ns}`);
  }
  const links = JSON.parse((await sh(IP, ['-j', 'link', 'show']).catch(() => '[]')) || '[]') as Array<{ ifname: string }>;
  for (const l of links) {
    if (!l.ifname.startsWith(prefix)) continue;
    await sh(IP, ['link', 'del', l.ifname]).catch(() => undefined);
    removed.push(`link ${l.ifname}`);
  }
  return removed;
}

/** Where a running lab writes its pid: the prefix is fixed, so two labs at once would tear down each other's hosts. */
const PID_FILE = '/run/fulcrum-lab.pid';

/** Takes the lab's pid file; throws when another lab that is still running holds it. */
export function claimLab(): void {
  try {
    const pid = Number(readFileSync(PID_FILE, 'utf8').trim());
    if (pid !== process.pid && pid > 0 && alive(pid)) throw new Error(`another fulcrum lab is running (pid ${pid}); wait for it, or end it first`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  writeFileSync(PID_FILE, `${process.pid}\n`);
}

/** Gives the pid file back (when it is still this process's). */
export function releaseLab(): void {
  try {
    if (Number(readFileSync(PID_FILE, 'utf8').trim()) === process.pid) rmSync(PID_FILE);
  } catch {
    /* gone already */
  }
}

function alive(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('lab');
  } catch {
    return false;
  }
}
