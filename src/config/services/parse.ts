/**
 * The `services:` section (virtual services of the kernel data plane): its types, field
 * parsers and defaults. Each parser returns the normalised value or throws an Error whose
 * message says what to write; the zod schema (schema.ts) wraps them, and
 * checks.ts checks what one field cannot know (pools, clashes, ports).
 */
import { isIPv4, isIPv6 } from 'node:net';
import { describeValue, PathedError } from '../common/field-error.js';

/** nat: the balancer rewrites destinations (and with `snat`, sources); dsr: only client-to-server packets pass the balancer. */
export type ServiceMode = 'nat' | 'dsr';
export const SERVICE_MODES = ['nat', 'dsr'] as const satisfies readonly ServiceMode[];
export const SERVICE_PROTOCOLS = ['tcp', 'udp'] as const;
/** flow: hash of the 4-tuple (source and destination address and port); client: source address only. */
export const SERVICE_HASHES = ['flow', 'client'] as const;

/** A virtual service: a VIP and port(s) whose packets the kernel sends to a pool's servers. */
export interface VirtualServiceConfig {
  name: string;
  /** IPv4 address, dotted quad. */
  vip: string;
  /** Destination ports, ascending, without repeats (at least one). */
  ports: number[];
  protocol: 'tcp' | 'udp';
  mode: ServiceMode;
  pool: string;
  /**
   * The interface the clients' packets arrive on. Required for dsr (its ingress hook and
   * the link to the servers); optional for nat, where it limits the rule to that interface.
   */
  interface: string | null;
  /**
   * nat only. null: servers send replies back through the balancer (it is their route to
   * the clients); 'masquerade': the balancer also rewrites the source to its own address
   * towards the server (full NAT); an address: rewrites the source to that address.
   */
  snat: null | 'masquerade' | string;
  hash: (typeof SERVICE_HASHES)[number];
  /** Entries of the Maglev table: a prime. */
  tableSize: number;
  /** nat: how long a server that went down keeps its TCP flows' conntrack entries (UDP: removed at once). */
  drainMs: number;
}

/**
 * Prime table sizes the default picks from: the first that gives every configured server
 * at least 100 entries (shares then follow weights to within about 1%). Small tables keep
 * each transaction small: 1031 entries apply in a few milliseconds, 65537 in ~0.4 s.
 */
export const TABLE_SIZES = [1031, 4099, 16411, 65537, 262147] as const;
export const MIN_TABLE_SIZE = 13;
export const MAX_TABLE_SIZE = 1_048_573;

/** The default Maglev table size for a pool of `servers` servers. */
export function defaultTableSize(servers: number): number {
  return TABLE_SIZES.find((m) => m >= 100 * servers) ?? TABLE_SIZES[TABLE_SIZES.length - 1]!;
}

export function isPrime(m: number): boolean {
  if (!Number.isInteger(m) || m < 2) return false;
  if (m % 2 === 0) return m === 2;
  for (let d = 3; d * d <= m; d += 2) if (m % d === 0) return false;
  return true;
}

/** `vip`: an IPv4 address. */
export function parseVip(v: unknown): string {
  if (typeof v !== 'string') throw new Error(`expected an IPv4 address such as "203.0.113.10", got ${describeValue(v)}`);
  if (isIPv6(v)) throw new Error(`${v}: the kernel data plane handles IPv4 virtual services only; give an IPv4 address`);
  if (!isIPv4(v)) throw new Error(`"${v}" is not an IPv4 address such as "203.0.113.10" (no port: put it in \`port\`)`);
  if (v === '0.0.0.0' || v.startsWith('127.') || Number(v.split('.')[0]) >= 224) {
    throw new Error(`${v} cannot be a virtual IP: give a unicast address clients can reach (not 0.0.0.0, loopback, multicast or broadcast)`);
  }
  return v;
}

function onePort(v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 65535) throw new Error(`expected a port from 1 to 65535, got ${describeValue(v)}`);
  return v;
}

/** `port`: one port, or a non-empty list of distinct ports; returned ascending. */
export function parsePorts(v: unknown): number[] {
  if (!Array.isArray(v)) return [onePort(v)];
  if (v.length === 0) throw new Error('the port list is empty: give at least one port, e.g. 80 or [80, 443]');
  const errors: Error[] = [];
  const seen = new Set<number>();
  v.forEach((p: unknown, i) => {
    try {
      const port = onePort(p);
      if (seen.has(port)) errors.push(new PathedError([i], `port ${port} is listed twice`));
      seen.add(port);
    } catch (e) {
      errors.push(new PathedError([i], (e as Error).message));
    }
  });
  if (errors.length > 0) throw new AggregateError(errors);
  return [...seen].sort((a, b) => a - b);
}

/** `interface`: a Linux interface name (1..15 bytes, no "/", ":" or white space). */
export function parseInterface(v: unknown): string {
  if (typeof v !== 'string') throw new Error(`expected an interface name such as "eth0", got ${describeValue(v)}`);
  if (v === '' || v.length > 15 || /[\s/:]/.test(v) || v === '.' || v === '..') {
    throw new Error(`"${v}" is not an interface name: 1 to 15 characters without spaces, "/" or ":" (see \`ip link\`)`);
  }
  return v;
}

/** `snat`: false (off), true (the balancer's own address towards the server), or an IPv4 address. */
export function parseSnat(v: unknown): null | 'masquerade' | string {
  if (v === false) return null;
  if (v === true) return 'masquerade';
  if (typeof v === 'string' && isIPv4(v)) return v;
  throw new Error(`expected false (servers route replies through the balancer), true (the balancer's address towards the server) or an IPv4 address, got ${describeValue(v)}`);
}

/** `table_size`: a prime from MIN_TABLE_SIZE to MAX_TABLE_SIZE. */
export function parseTableSize(v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < MIN_TABLE_SIZE || v > MAX_TABLE_SIZE) {
    throw new Error(`expected a prime number from ${MIN_TABLE_SIZE} to ${MAX_TABLE_SIZE}, got ${describeValue(v)}`);
  }
  if (!isPrime(v)) {
    let up = v;
    while (!isPrime(up)) up++;
    throw new Error(`${v} is not a prime, and a Maglev table needs a prime size so every server's permutation reaches every entry: use ${up}`);
  }
  return v;
}

/** What the schema returns for one service: the table size may still be left to the pool's size. */
export type ParsedService = Omit<VirtualServiceConfig, 'tableSize'> & { tableSize: number | null };

/** Fills in what depends on other sections: the table size from the pool's server count. */
export function buildServices(parsed: readonly ParsedService[], poolSizes: ReadonlyMap<string, number>): VirtualServiceConfig[] {
  return parsed.map((s) => ({ ...s, tableSize: s.tableSize ?? defaultTableSize(poolSizes.get(s.pool) ?? 1) }));
}
