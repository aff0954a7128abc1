/**
 * The pure renderer: desired state in, one nftables JSON transaction out (for `nft -j -f`).
 *
 * The transaction first empties Fulcrum's own tables by the idiom `add table` (a no-op
 * when it exists) then `delete table`, for each family Fulcrum may use, and then builds
 * the tables the state needs. nft applies a file as one kernel transaction, so the old
 * rules are replaced atomically: a packet sees either the old rules or the new ones, and
 * a transaction that fails changes nothing. Tables of any other name are never named.
 *
 * - NAT services go in `table ip fulcrum`: chain `prerouting` (nat hook, dstnat
 *   priority) rewrites the destination of a flow's first packet to the server that the
 *   Maglev table gives for the flow's hash; conntrack then rewrites the rest of the flow
 *   both ways. With `snat`, chain `postrouting` (srcnat) rewrites the source as well.
 * - DSR services go in `table netdev fulcrum`: one chain per interface on its ingress
 *   hook sets the frame's destination MAC to the chosen server's, the source MAC to the
 *   balancer's, and sends it back out of the same interface (`fwd`), before the IP stack.
 *
 * The rules are written the way `nft -j list` prints them, so the live rules can be
 * compared with the rendered ones (see expectedListing).
 */
import { TABLE_NAME, type DesiredState, type ServiceState } from './state.js';

/** One command or listed object of nftables' JSON (libnftables-json(5)). */
export type NftObject = Record<string, unknown>;

/** A document `nft -j -f -` reads. */
export interface NftDocument {
  nftables: NftObject[];
}

/** The families whose `fulcrum` table Fulcrum manages. */
export const FAMILIES = ['ip', 'netdev'] as const;
export type Family = (typeof FAMILIES)[number];

/** Priority of the DSR ingress chains: before the usual filter chains at 0. */
export const INGRESS_PRIORITY = -300;
const DSTNAT = -100;
const SRCNAT = 100;

/** The comment on a service's rules: `dataplane show` and `which` find services by it. */
export function serviceComment(name: string): string {
  return `fulcrum service ${name}`;
}

/**
 * The named counter of a service's server: the packets and bytes the data plane sent
 * it (NAT: both directions of its flows, in chain `forward`; DSR: what the balancer
 * forwarded to it, on the ingress hook). Read by `nft -j list counters`.
 */
export function counterName(service: string, server: string): string {
  return `${service}/${server}`;
}

/** The comment on the rules that count a service's packets per server. */
export function counterComment(name: string): string {
  return `fulcrum counter ${name}`;
}

/** The DSR chain of an interface. */
export function ingressChain(iface: string): string {
  return `ingress_${iface}`;
}

const payload = (protocol: string, field: string) => ({ payload: { protocol, field } });
const eq = (left: unknown, right: unknown) => ({ match: { op: '==', left, right } });

/** The hash expression: `jhash ip saddr . tcp sport . ip daddr . tcp dport mod M seed S` (or `ip saddr` alone). */
export function hashExpr(s: Pick<ServiceState, 'hash' | 'protocol' | 'seed'>, size: number): NftObject {
  const expr =
    s.hash === 'client'
      ? payload('ip', 'saddr')
      : { concat: [payload('ip', 'saddr'), payload(s.protocol, 'sport'), payload('ip', 'daddr'), payload(s.protocol, 'dport')] };
  return { jhash: { mod: size, seed: s.seed, expr } };
}

/**
 * `value` of each backend looked up by the flow's hash: a constant when there is one
 * backend (or all give the same), else an anonymous map from table entry to value.
 */
function lookup<T extends string | number>(s: ServiceState, value: (i: number) => T): T | NftObject {
  const values = s.backends.map((_, i) => value(i));
  if (values.every((v) => v === values[0])) return values[0]!;
  const elems: Array<[number, T]> = new Array(s.table.length);
  for (let slot = 0; slot < s.table.length; slot++) elems[slot] = [slot, values[s.table[slot]!]!];
  return { map: { key: hashExpr(s, s.table.length), data: { set: elems } } };
}

/** Matches of the service's packets: VIP, protocol and port(s). */
function matches(s: ServiceState): NftObject[] {
  const port = s.ports.length === 1 ? s.ports[0] : { set: [...s.ports] };
  return [eq(payload('ip', 'daddr'), s.vip), eq(payload(s.protocol, 'dport'), port)];
}

/**
 * The destination port after DNAT: none (kept) when the service has several ports or
 * every server listens on the service's port, else the server's port.
 */
function natPort(s: ServiceState): number | NftObject | undefined {
  if (s.ports.length > 1 || s.backends.every((b) => b.port === s.ports[0])) return undefined;
  return lookup(s, (i) => s.backends[i]!.port);
}

function natRule(s: ServiceState): NftObject[] {
  const port = natPort(s);
  const dnat: NftObject = { addr: lookup(s, (i) => s.backends[i]!.host) };
  if (port !== undefined) dnat.port = port;
  const iif = s.interface === null ? [] : [eq({ meta: { key: 'iifname' } }, s.interface)];
  return [...iif, ...matches(s), { dnat }];
}

/**
 * Full NAT: the packets of the service's flows to `port` leave for the server with the
 * balancer's source. One rule per port: nft 1.0.6 lists a set of `ct original
 * proto-dst` values as "[invalid type]".
 */
function snatRule(s: ServiceState, port: number): NftObject[] {
  return [
    eq({ ct: { key: 'ip daddr', dir: 'original' } }, s.vip),
    eq({ meta: { key: 'l4proto' } }, s.protocol),
    eq({ ct: { key: 'proto-dst', dir: 'original' } }, port),
    { match: { op: 'in', left: { ct: { key: 'status' } }, right: 'dnat' } },
    s.snat === 'masquerade' ? { masquerade: null } : { snat: { addr: s.snat } },
  ];
}

function dsrRule(s: ServiceState): NftObject[] {
  return [
    ...matches(s),
    { mangle: { key: payload('ether', 'saddr'), value: s.interfaceMac } },
    { mangle: { key: payload('ether', 'daddr'), value: lookup(s, (i) => s.backends[i]!.mac!) } },
    { fwd: { dev: s.interface } },
  ];
}

/** A named counter object per server of each service. */
function counters(family: Family, services: readonly ServiceState[]): NftObject[] {
  return services.flatMap((s) => s.backends.map((b) => ({ counter: { family, table: TABLE_NAME, name: counterName(s.name, b.name) } })));
}

/**
 * NAT: the flows a server has from the service, matched by connection tracking (the
 * original destination is the VIP and port, the reply's source the server), counted in
 * both directions as the balancer forwards them. One rule per port (see snatRule).
 */
function natCountRules(s: ServiceState): NftObject[][] {
  const portChanges = natPort(s) !== undefined;
  return s.backends.flatMap((b) =>
    s.ports.map((port) => [
      eq({ ct: { key: 'ip daddr', dir: 'original' } }, s.vip),
      eq({ meta: { key: 'l4proto' } }, s.protocol),
      eq({ ct: { key: 'proto-dst', dir: 'original' } }, port),
      eq({ ct: { key: 'ip saddr', dir: 'reply' } }, b.host),
      ...(portChanges ? [eq({ ct: { key: 'proto-src', dir: 'reply' } }, b.port)] : []),
      { counter: counterName(s.name, b.name) },
    ]),
  );
}

/** DSR: before the service's rule, one rule per server counts the packets whose hash gives that server's table entries. */
function dsrCountRules(s: ServiceState): NftObject[][] {
  if (s.backends.length === 1) return [[...matches(s), { counter: counterName(s.name, s.backends[0]!.name) }]];
  const slots: number[][] = s.backends.map(() => []);
  for (let slot = 0; slot < s.table.length; slot++) slots[s.table[slot]!]!.push(slot);
  return s.backends.flatMap((b, i) =>
    slots[i]!.length === 0 ? [] : [[...matches(s), eq(hashExpr(s, s.table.length), { set: slots[i]! }), { counter: counterName(s.name, b.name) }]],
  );
}

function table(family: Family): NftObject {
  return { family, name: TABLE_NAME };
}

/** The tables, chains and rules the state needs, as `nft -j list` shows them (without handles). */
export function renderObjects(state: DesiredState): NftObject[] {
  const out: NftObject[] = [];
  const live = state.services.filter((s) => s.backends.length > 0 && s.table.length > 0);
  const nat = live.filter((s) => s.mode === 'nat');
  const dsr = live.filter((s) => s.mode === 'dsr');
  // in the order `nft -j list` prints a table: its counters, its chains, then the rules chain by chain
  if (nat.length > 0) {
    const base = { family: 'ip', table: TABLE_NAME };
    out.push({ table: table('ip') });
    out.push(...counters('ip', nat));
    out.push({ chain: { ...base, name: 'prerouting', type: 'nat', hook: 'prerouting', prio: DSTNAT, policy: 'accept' } });
    const snat = nat.filter((s) => s.snat !== null);
    if (snat.length > 0) out.push({ chain: { ...base, name: 'postrouting', type: 'nat', hook: 'postrouting', prio: SRCNAT, policy: 'accept' } });
    out.push({ chain: { ...base, name: 'forward', type: 'filter', hook: 'forward', prio: 0, policy: 'accept' } });
    for (const s of nat) out.push({ rule: { ...base, chain: 'prerouting', expr: natRule(s), comment: serviceComment(s.name) } });
    for (const s of snat) {
      for (const port of s.ports) out.push({ rule: { ...base, chain: 'postrouting', expr: snatRule(s, port), comment: serviceComment(s.name) } });
    }
    for (const s of nat) for (const expr of natCountRules(s)) out.push({ rule: { ...base, chain: 'forward', expr, comment: counterComment(s.name) } });
  }
  if (dsr.length > 0) {
    const base = { family: 'netdev', table: TABLE_NAME };
    out.push({ table: table('netdev') });
    out.push(...counters('netdev', dsr));
    const ifaces = [...new Set(dsr.map((s) => s.interface!))];
    for (const dev of ifaces) {
      out.push({ chain: { ...base, name: ingressChain(dev), type: 'filter', hook: 'ingress', dev, prio: INGRESS_PRIORITY, policy: 'accept' } });
    }
    for (const s of dsr) {
      const chain = ingressChain(s.interface!);
      for (const expr of dsrCountRules(s)) out.push({ rule: { ...base, chain, expr, comment: counterComment(s.name) } });
      out.push({ rule: { ...base, chain, expr: dsrRule(s), comment: serviceComment(s.name) } });
    }
  }
  return out;
}

/** Empties Fulcrum's tables of every family (creating an empty one first, so deleting never fails). */
function clearAll(): NftObject[] {
  return FAMILIES.flatMap((f) => [{ add: { table: table(f) } }, { delete: { table: table(f) } }]);
}

/**
 * The one transaction that makes the kernel hold exactly `state`: Fulcrum's tables are
 * removed and rebuilt together, atomically. Pure; O(total table size).
 */
export function renderTransaction(state: DesiredState): NftDocument {
  return { nftables: [...clearAll(), ...renderObjects(state).map((o) => ({ add: o }))] };
}

/** The transaction that removes every table Fulcrum owns (on stop). */
export function renderRemoval(): NftDocument {
  return { nftables: clearAll() };
}

/**
 * Brings a listing (`nft -j list table ...`) or rendered objects to one form for
 * comparison: no metainfo, no handles, no counts on counters, and no `dev` on chains (nft 1.0.6 does not list
 * a netdev chain's device). Returns new objects.
 */
export function normalizeObjects(objects: readonly NftObject[]): NftObject[] {
  const out: NftObject[] = [];
  for (const o of objects) {
    const [kind] = Object.keys(o);
    if (kind === undefined || kind === 'metainfo') continue;
    const body = { ...(o[kind] as Record<string, unknown>) };
    delete body.handle;
    if (kind === 'chain') delete body.dev;
    if (kind === 'counter') {
      delete body.packets;
      delete body.bytes;
    }
    out.push({ [kind]: body });
  }
  return out;
}

