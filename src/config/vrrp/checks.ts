/**
 * Cross-checks of the `vrrp:` section that no single field can make: unique instance
 * names, one instance per VRID and interface, an address held by one instance only,
 * tracked listeners and pools that exist, tracking weights on the address owner (whose
 * priority 255 is never lowered), and virtual addresses outside the interface's subnet.
 *
 * The subnet is known in two ways. Statically, when the file gives the virtual address
 * with a prefix and a `source`: the source must lie in that subnet. On the machine
 * (`fulcrum check` and `fulcrum run` pass `machineSubnets`; the library loader does not,
 * so a file means the same everywhere), when the interface exists there: every virtual
 * address must lie in one of the interface's IPv4 subnets. An interface missing here is
 * not an error of the file (the check may run on another machine); starting refuses it
 * with a clear error (src/vrrp/interface.ts).
 * They read each instance field by field (common/parsed.ts) and skip values the schema
 * rejects.
 */
import { networkInterfaces } from 'node:os';
import type { KeyPath } from '../locate.js';
import { parseEach, parseItems, type Obj, type Parsed, type PathIssue } from '../common/parsed.js';
import type { FileParts } from '../parts.js';
import { inSubnet } from './parse.js';
import { instanceFields, trackFields } from './schema.js';

type InstancePart = Parsed<typeof instanceFields>;

/** The IPv4 subnets of an interface on this machine, or undefined when it has none here. */
export type InterfaceSubnets = (name: string) => Array<{ address: string; prefix: number }> | undefined;

/** Reads the interfaces of this machine (os.networkInterfaces). */
export const machineSubnets: InterfaceSubnets = (name) => {
  const addrs = networkInterfaces()[name];
  if (addrs === undefined) return undefined;
  return addrs.filter((a) => a.family === 'IPv4').map((a) => ({ address: a.address, prefix: Number(a.cidr?.split('/')[1] ?? 32) }));
};

/** Runs every check of the `vrrp` section; `subnets` (this machine's interfaces) enables the machine checks. */
export function checkVrrp(vrrp: Obj, parts: FileParts, issues: PathIssue[], subnets?: InterfaceSubnets): void {
  const listeners = new Set(parts.listeners.flatMap((l) => (l?.fields.name === undefined ? [] : [l.fields.name])));
  const pools = [...(parts.pools?.keys() ?? [])];
  const names = new Map<string, number>();
  const vrids = new Map<string, number>();
  const vips = new Map<string, KeyPath>();
  parseEach(instanceFields, vrrp.instances).forEach((inst, i) => {
    if (!inst) return;
    const base: KeyPath = ['vrrp', 'instances', i];
    const { name, interface: ifname, vrid } = inst.fields;
    if (name !== undefined) {
      const first = names.get(name);
      if (first !== undefined) issues.push({ path: [...base, 'name'], message: `duplicate instance name \`${name}\`: vrrp.instances[${first}] already uses it` });
      else names.set(name, i);
    }
    if (ifname !== undefined && vrid !== undefined) {
      const key = `${ifname}\0${vrid}`;
      const first = vrids.get(key);
      if (first !== undefined) {
        issues.push({ path: [...base, 'vrid'], message: `vrid ${vrid} on ${ifname} is already used by vrrp.instances[${first}]: each virtual router on an interface needs its own vrid` });
      } else vrids.set(key, i);
    }
    checkTrack(inst, base, listeners, pools, issues);
    const parsedVips = parseItems(instanceFields.shape.virtual_ips.element, inst.raw.virtual_ips);
    parsedVips.forEach((vip, j) => {
      if (vip === undefined) return;
      const first = vips.get(vip.address);
      if (first !== undefined) issues.push({ path: [...base, 'virtual_ips', j], message: `${vip.address} is already a virtual address of ${pathText(first)}: an address can belong to one instance only` });
      else vips.set(vip.address, [...base, 'virtual_ips', j]);
    });
    checkSubnets(inst, base, parsedVips, ifname, subnets, issues);
  });
}

function pathText(p: KeyPath): string {
  return `vrrp.instances[${p[2]}]`;
}

function checkTrack(inst: InstancePart, base: KeyPath, listeners: Set<string>, pools: string[], issues: PathIssue[]): void {
  parseEach(trackFields, inst.raw.track).forEach((t, k) => {
    if (!t) return;
    const at: KeyPath = [...base, 'track', k];
    const { listener, pool } = t.fields;
    if (listener !== undefined && !listeners.has(listener)) {
      const known = [...listeners].map((n) => `\`${n}\``).join(', ') || 'none';
      issues.push({ path: [...at, 'listener'], message: `no listener named \`${listener}\` (listeners: ${known})` });
    }
    if (pool !== undefined && !pools.includes(pool)) {
      const known = pools.map((n) => `\`${n}\``).join(', ') || 'none';
      issues.push({ path: [...at, 'pool'], message: `no pool named \`${pool}\` (pools: ${known})` });
    }
    if (inst.fields.priority === 255 && t.given('weight')) {
      issues.push({
        path: [...at, 'weight'],
        at: 'key',
        message: 'the address owner (priority 255) keeps priority 255 whatever fails: remove `weight` so that a failure puts it in fault, or give the instance a priority below 255',
      });
    }
  });
}

function checkSubnets(
  inst: InstancePart,
  base: KeyPath,
  vips: Array<{ address: string; prefix: number } | undefined>,
  ifname: string | undefined,
  subnets: InterfaceSubnets | undefined,
  issues: PathIssue[],
): void {
  const source = inst.fields.source;
  const here = ifname === undefined || subnets === undefined ? undefined : subnets(ifname);
  vips.forEach((vip, j) => {
    if (vip === undefined) return;
    const at: KeyPath = [...base, 'virtual_ips', j];
    const written = `${vip.address}${vip.prefix === 32 ? '' : `/${vip.prefix}`}`;
    if (source !== undefined && vip.prefix < 32 && !inSubnet(source, vip.address, vip.prefix)) {
      issues.push({
        path: at,
        message: `${written} is outside the subnet of the interface's address ${source} (\`source\`): a virtual address must be reachable on the same link, so give it an address of ${source}'s subnet`,
      });
      return;
    }
    if (here === undefined) return;
    const v4 = here.filter((s) => s.address !== vip.address);
    if (v4.length === 0) return;
    if (!v4.some((s) => inSubnet(vip.address, s.address, s.prefix))) {
      const list = v4.map((s) => `${s.address}/${s.prefix}`).join(', ');
      issues.push({
        path: at,
        message: `${written} is outside every subnet of interface ${ifname} on this machine (${list}): neighbours on that link would not reach it; use an address of the interface's subnet`,
      });
    }
  });
  if (source !== undefined && here !== undefined && here.length > 0 && !here.some((s) => s.address === source)) {
    issues.push({ path: [...base, 'source'], message: `${source} is not an address of interface ${ifname} on this machine (it has ${here.map((s) => s.address).join(', ')})` });
  }
}
