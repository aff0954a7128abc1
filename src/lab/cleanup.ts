/**
 * Finding and removing what a lab left behind: every network namespace whose name starts
 * with the lab's prefix (after killing, by pid, the processes still in it; nftables
 * tables made inside go with the namespace), and a veth still named with the prefix in
 * the host's namespace (a run that died between creating a pair and moving it away).
 */
import { IP, sh } from './topology.js';

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
    const pids = (await sh(IP, ['netns', 'pids', ns]).catch(() => '')).split('\n').filter((p) => /^\d+$/.test(p));
    for (const pid of pids) {
      try {
        process.kill(Number(pid), 'SIGKILL');
        removed.push(`process ${pid} (in ${ns})`);
      } catch {
        /* already gone */
      }
    }
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
