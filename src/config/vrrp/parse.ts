/**
 * The `vrrp:` section's own parsers (virtual addresses with an optional prefix, IPv4
 * addresses, the advertisement interval, the notify command), its defaults, and the step
 * that turns the schema's output into the normalised VrrpConfig once every check has
 * passed. Each parser returns the normalised form or throws an Error whose message says
 * what to write.
 */
import { isIPv4 } from 'node:net';
import { describeValue } from '../common/field-error.js';
import type { VrrpConfig, VrrpInstanceConfig } from '../types.js';
import { formatDuration, parseDuration } from '../common/units.js';

/** The advertisement interval is sent in centiseconds, 12 bits (RFC 5798 5.2.7). */
export const MIN_ADVERT_MS = 10;
export const MAX_ADVERT_MS = 4095 * 10;
/** A VRRPv3 advertisement carries at most 255 addresses; keepalived sends at most 20 per packet by default. */
export const MAX_VIPS = 20;

/** A dotted-quad IPv4 address ("192.0.2.10"); anything else throws. */
export function ipv4Text(v: unknown): string {
  if (typeof v !== 'string' || !isIPv4(v)) throw new Error(`expected an IPv4 address such as "192.0.2.10", got ${describeValue(v)}`);
  return v;
}

/**
 * A virtual address: "192.0.2.10" or "192.0.2.10/24" (the prefix the address gets on the
 * interface; /32 when absent, as keepalived). Host bits are expected here, so unlike a
 * CIDR, "192.0.2.10/24" is the address 192.0.2.10 in 192.0.2.0/24.
 */
export function parseVip(v: unknown): { address: string; prefix: number } {
  if (typeof v !== 'string') throw new Error(`expected an IPv4 address such as "192.0.2.10/24", got ${describeValue(v)}`);
  const [address, prefixText, extra] = v.split('/');
  if (extra !== undefined || !isIPv4(address!)) {
    const v6 = address !== undefined && address.includes(':') ? ' (IPv6 virtual addresses are not supported yet)' : '';
    throw new Error(`"${v}" is not an IPv4 address with an optional prefix such as "192.0.2.10/24"${v6}`);
  }
  if (prefixText === undefined) return { address: address!, prefix: 32 };
  if (!/^\d{1,2}$/.test(prefixText) || Number(prefixText) > 32) throw new Error(`invalid prefix length "/${prefixText}" in "${v}": expected 0 to 32`);
  return { address: address!, prefix: Number(prefixText) };
}

/** advert_interval: a duration from 10ms to 40.95s in whole centiseconds; returns centiseconds. */
export function parseAdvertInterval(v: unknown): number {
  if (typeof v !== 'string' && typeof v !== 'number') throw new Error(`expected a duration such as "1s" or "100ms", got ${describeValue(v)}`);
  const ms = parseDuration(v);
  if (ms < MIN_ADVERT_MS || ms > MAX_ADVERT_MS) {
    throw new Error(`the advertisement interval must be from 10ms to 40.95s (VRRPv3 sends it in centiseconds, 12 bits), got ${formatDuration(ms)}`);
  }
  if (ms % 10 !== 0) throw new Error(`the advertisement interval is sent in centiseconds: use a multiple of 10ms, such as "${Math.round(ms / 10) * 10}ms"`);
  return ms / 10;
}

/** notify: a command line split at spaces ("/usr/local/bin/vip-changed --quiet"), or a list of arguments. */
export function parseNotify(v: unknown): string[] {
  const argv = typeof v === 'string' ? v.trim().split(/\s+/).filter((a) => a !== '') : Array.isArray(v) && v.every((a) => typeof a === 'string') ? (v as string[]) : null;
  if (argv === null) throw new Error(`expected a command such as "/usr/local/bin/vip-changed", or a list of its arguments, got ${describeValue(v)}`);
  if (argv.length === 0 || argv[0] === '') throw new Error('the notify command is empty: give the program to run, e.g. "/usr/local/bin/vip-changed"');
  return argv;
}

/** Is `addr` inside `network`/`prefix`? Both dotted quads. */
export function inSubnet(addr: string, network: string, prefix: number): boolean {
  if (prefix === 0) return true;
  const mask = prefix === 32 ? 0xffffffff : ~(0xffffffff >>> prefix) >>> 0;
  return ((toInt(addr) & mask) >>> 0) === ((toInt(network) & mask) >>> 0);
}

function toInt(a: string): number {
  return a.split('.').reduce((n, p) => n * 256 + Number(p), 0);
}

/** What the schema yields for one instance (already normalised field by field). */
export type ParsedVrrpInstance = Omit<VrrpInstanceConfig, 'notify'> & { notify: string[] | null };

/** The normalised section, copied so that nothing is shared with the parse tree. */
export function buildVrrp(instances: ParsedVrrpInstance[]): VrrpConfig {
  return {
    instances: instances.map((i) => ({
      ...i,
      virtualIps: i.virtualIps.map((v) => ({ ...v })),
      unicastPeers: [...i.unicastPeers],
      garp: { ...i.garp },
      track: i.track.map((t) => ({ ...t })),
      notify: i.notify === null ? null : [...i.notify],
    })),
  };
}
