/**
 * Reads Fulcrum's live rules back (`nft -j list table`) into services with their Maglev
 * tables, and answers "which server does this flow reach" from them, as Katran's
 * simulator does: the kernel's own table, hashed as the kernel hashes (jhash.ts). Used by
 * `fulcrum dataplane show` and `which`; independent of the running process.
 */
import { flowSlot, type Flow, type HashInput } from './jhash.js';
import type { NftObject } from './render.js';

/** Where a table entry sends a flow: an address (nat, with the port after DNAT when it changes) or a MAC address (dsr). */
export interface LiveTarget {
  /** nat: the server's address; dsr: null. */
  addr: string | null;
  /** nat: the destination port after DNAT, null when kept. */
  port: number | null;
  /** dsr: the server's MAC address. */
  mac: string | null;
}

/** One service as the kernel holds it. */
export interface LiveService {
  name: string;
  mode: 'nat' | 'dsr';
  vip: string;
  protocol: 'tcp' | 'udp';
  ports: number[];
  /** nat: the iifname match, if any; dsr: the ingress interface. */
  interface: string | null;
  /** nat: 'masquerade', an address, or null. */
  snat: string | null;
  hash: HashInput;
  seed: number;
  /** Table entries; 1 when every flow goes to the same server (no map). */
  size: number;
  /** Entry i's target. */
  targets: LiveTarget[];
}

type Expr = Record<string, unknown>;

const COMMENT = /^fulcrum service (.+)$/;

function matchOf(e: Expr): { left: Expr; right: unknown } | null {
  const m = e.match as { left?: Expr; right?: unknown } | undefined;
  return m?.left === undefined ? null : { left: m.left, right: m.right };
}

function payloadOf(left: Expr): { protocol: string; field: string } | null {
  return (left.payload as { protocol: string; field: string } | undefined) ?? null;
}

function portsOf(v: unknown): number[] {
  if (typeof v === 'number') return [v];
  const set = (v as { set?: unknown[] } | null)?.set;
  return Array.isArray(set) ? set.filter((x): x is number => typeof x === 'number') : [];
}

/** A value or a jhash map: its per-entry values, hash input, size and seed. */
function lookupOf(v: unknown): { values: unknown[]; hash: HashInput; size: number; seed: number } | null {
  if (typeof v === 'string' || typeof v === 'number') return { values: [v], hash: 'flow', size: 1, seed: 0 };
  const map = (v as { map?: { key?: Expr; data?: { set?: unknown[] } } } | null)?.map;
  const jhash = map?.key?.jhash as { mod?: number; seed?: number; expr?: Expr } | undefined;
  if (jhash?.mod === undefined || !Array.isArray(map?.data?.set)) return null;
  const values = new Array<unknown>(jhash.mod);
  for (const e of map.data.set) {
    if (Array.isArray(e) && typeof e[0] === 'number') values[e[0]] = e[1];
  }
  const hash: HashInput = jhash.expr !== undefined && 'concat' in jhash.expr ? 'flow' : 'client';
  return { values, hash, size: jhash.mod, seed: jhash.seed ?? 0 };
}

/** What both kinds of rule match on: the VIP, the protocol and the ports. */
interface Matched {
  vip: string | null;
  protocol: 'tcp' | 'udp' | null;
  ports: number[];
}

/** Takes a match on the VIP or the destination ports into `into`; false when `m` is another match. */
function readVipMatch(m: { left: Expr; right: unknown }, into: Matched): boolean {
  const p = payloadOf(m.left);
  if (p?.protocol === 'ip' && p.field === 'daddr' && typeof m.right === 'string') {
    into.vip = m.right;
    return true;
  }
  if ((p?.protocol === 'tcp' || p?.protocol === 'udp') && p.field === 'dport') {
    into.protocol = p.protocol;
    into.ports = portsOf(m.right);
    return true;
  }
  return false;
}

function natService(name: string, expr: Expr[]): LiveService | null {
  const got: Matched = { vip: null, protocol: null, ports: [] };
  let iface: string | null = null;
  let dnat = null as { addr?: unknown; port?: unknown } | null;
  for (const e of expr) {
    const m = matchOf(e);
    if (m !== null && !readVipMatch(m, got) && (m.left.meta as { key?: string } | undefined)?.key === 'iifname' && typeof m.right === 'string') iface = m.right;
    if (e.dnat !== undefined) dnat = e.dnat as typeof dnat;
  }
  const { vip, protocol, ports } = got;
  const addr = lookupOf(dnat?.addr);
  if (vip === null || protocol === null || addr === null) return null;
  const port = dnat?.port === undefined ? null : lookupOf(dnat.port);
  const targets = addr.values.map((a, i) => ({
    addr: typeof a === 'string' ? a : null,
    port: port === null ? null : ((port.values[port.size === 1 ? 0 : i] as number | undefined) ?? null),
    mac: null,
  }));
  return { name, mode: 'nat', vip, protocol, ports, interface: iface, snat: null, hash: addr.hash, seed: addr.seed, size: addr.size, targets };
}

function dsrService(name: string, expr: Expr[]): LiveService | null {
  const got: Matched = { vip: null, protocol: null, ports: [] };
  let dev: string | null = null;
  let macs = null as ReturnType<typeof lookupOf>;
  for (const e of expr) {
    const m = matchOf(e);
    if (m !== null) readVipMatch(m, got);
    const mangle = e.mangle as { key?: Expr; value?: unknown } | undefined;
    if (mangle?.key !== undefined && payloadOf(mangle.key)?.field === 'daddr') macs = lookupOf(mangle.value);
    const fwd = e.fwd as { dev?: string } | undefined;
    if (typeof fwd?.dev === 'string') dev = fwd.dev;
  }
  const { vip, protocol, ports } = got;
  if (vip === null || protocol === null || macs === null) return null;
  const targets = macs.values.map((mac) => ({ addr: null, port: null, mac: typeof mac === 'string' ? mac : null }));
  return { name, mode: 'dsr', vip, protocol, ports, interface: dev, snat: null, hash: macs.hash, seed: macs.seed, size: macs.size, targets };
}

/**
 * The services in a listing of Fulcrum's tables, in rule order. Rules that do not have
 * Fulcrum's shape are skipped (the tables are Fulcrum's, so there should be none).
 */
export function parseLive(objects: readonly NftObject[]): LiveService[] {
  const out: LiveService[] = [];
  const snats: Array<{ name: string; snat: string }> = [];
  for (const o of objects) {
    const rule = o.rule as { family?: string; chain?: string; comment?: string; expr?: Expr[] } | undefined;
    if (rule === undefined || typeof rule.comment !== 'string' || !Array.isArray(rule.expr)) continue;
    const name = COMMENT.exec(rule.comment)?.[1];
    if (name === undefined) continue;
    if (rule.family === 'ip' && rule.chain === 'prerouting') {
      const s = natService(name, rule.expr);
      if (s !== null) out.push(s);
    } else if (rule.family === 'ip' && rule.chain === 'postrouting') {
      for (const e of rule.expr) {
        if ('masquerade' in e) snats.push({ name, snat: 'masquerade' });
        const snat = e.snat as { addr?: string } | undefined;
        if (typeof snat?.addr === 'string') snats.push({ name, snat: snat.addr });
      }
    } else if (rule.family === 'netdev') {
      const s = dsrService(name, rule.expr);
      if (s !== null) out.push(s);
    }
  }
  for (const { name, snat } of snats) {
    const s = out.find((x) => x.name === name && x.mode === 'nat');
    if (s !== undefined) s.snat = snat;
  }
  return out;
}

/** The entry a flow hits and where it goes. */
export function whichTarget(s: LiveService, flow: Flow): { slot: number; target: LiveTarget | undefined } {
  const slot = s.size === 1 ? 0 : flowSlot(flow, s.hash, s.size, s.seed);
  return { slot, target: s.targets[slot] };
}

/** A target as text: "192.0.2.11", "192.0.2.11:8080", or a MAC address. */
export function targetText(t: LiveTarget): string {
  if (t.mac !== null) return t.mac;
  return t.port === null ? (t.addr ?? '?') : `${t.addr ?? '?'}:${t.port}`;
}

/** Entries per target, most first: the Maglev table's shares. */
export function tableShares(s: LiveService): Array<{ target: string; entries: number }> {
  const counts = new Map<string, number>();
  for (const t of s.targets) {
    if (t === undefined) continue;
    const key = targetText(t);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts].map(([target, entries]) => ({ target, entries })).sort((a, b) => b.entries - a.entries || (a.target < b.target ? -1 : 1));
}
