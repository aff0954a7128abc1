/**
 * The zod schema of the `bgp:` section: Fulcrum's AS and router id, its peers (routers),
 * and the prefixes it announces, each with the condition that decides whether it is
 * announced. Checks across sections (pools and listeners named in conditions exist,
 * peers are unique) are in checks.ts.
 */
import { z } from 'zod';
import { integer, text } from '../common/field-meta.js';
import { converted, durationOrZeroMs, intRange, name, requireString, describeValue } from '../common/fields.js';
import { parseBind } from '../common/address.js';
import { isIP } from 'node:net';
import { parsePrefix } from '../../bgp/wire.js';
import { DEFAULT_BGP } from './defaults.js';
import { parseDuration } from '../common/units.js';

const asn = converted((v) => {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 4_294_967_294) throw new Error(`expected an AS number from 1 to 4294967294, got ${describeValue(v)}`);
  if (v === 23456) throw new Error('AS 23456 (AS_TRANS) stands for a 4-octet AS number and cannot be configured');
  return v;
}, integer(1, 4_294_967_294));

const ipv4 = converted((v) => {
  const s = requireString('an IPv4 address', '"192.0.2.10"')(v);
  if (isIP(s) !== 4) throw new Error(`expected an IPv4 address such as "192.0.2.10", got ${describeValue(v)}`);
  return s;
}, text('IPv4 address'));

const ip = converted((v) => {
  const s = requireString('an IP address', '"192.0.2.1"')(v);
  if (isIP(s) === 0) throw new Error(`expected an IP address such as "192.0.2.1" or "2001:db8::1", got ${describeValue(v)}`);
  return s;
}, text('IP address'));

const holdTime = converted((v) => {
  const s = typeof v === 'string' ? /^(\d+)s?$/.exec(v.trim()) : null;
  const n = typeof v === 'number' ? v : s === null ? NaN : Number(s[1]);
  if (!Number.isInteger(n) || (n !== 0 && (n < 3 || n > 65535))) throw new Error(`expected whole seconds, 0 (no keepalives) or 3 to 65535, such as "9s", got ${describeValue(v)}`);
  return n;
}, { type: 'seconds, 0 or 3..65535', input: { anyOf: [{ type: 'integer', minimum: 0, maximum: 65535 }, { type: 'string', pattern: '^\\d+s?$' }] } });

const community = converted((v) => {
  const m = typeof v === 'string' ? /^(\d+):(\d+)$/.exec(v) : null;
  if (m === null || Number(m[1]) > 65535 || Number(m[2]) > 65535) throw new Error(`expected a community ASN:VALUE with both parts 0..65535, such as "65001:100", got ${describeValue(v)}`);
  return Number(m[1]) * 65536 + Number(m[2]);
}, text('ASN:VALUE'));

const largeCommunity = converted((v): [number, number, number] => {
  const m = typeof v === 'string' ? /^(\d+):(\d+):(\d+)$/.exec(v) : null;
  const parts = m === null ? [] : [Number(m[1]), Number(m[2]), Number(m[3])];
  if (m === null || parts.some((x) => x > 4_294_967_295)) throw new Error(`expected a large community ASN:DATA1:DATA2 (each 0..4294967295), such as "65001:1:2", got ${describeValue(v)}`);
  return parts as [number, number, number];
}, text('ASN:DATA1:DATA2'));

const prefix = converted((v) => {
  const s = requireString('a prefix', '"203.0.113.10/32"')(v);
  try {
    parsePrefix(s);
  } catch (err) {
    throw new Error(`expected an IP prefix such as "203.0.113.10/32" or "2001:db8::/48": ${(err as Error).message}`);
  }
  return s.includes('/') ? s : `${s}/${s.includes(':') ? 128 : 32}`;
}, text('PREFIX'));

const DEFAULT_BFD = { minTxMs: DEFAULT_BGP.bfdIntervalMs, minRxMs: DEFAULT_BGP.bfdIntervalMs, multiplier: DEFAULT_BGP.bfdMultiplier };

const bfdOption = converted((v): { minTxMs: number; minRxMs: number; multiplier: number } | null => {
  if (v === false) return null;
  if (v === true) return { ...DEFAULT_BFD };
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`expected true, false or {interval: 100ms, multiplier: 3}, got ${describeValue(v)}`);
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) if (k !== 'interval' && k !== 'multiplier') throw new Error(`unknown key \`${k}\` (expected \`interval\` or \`multiplier\`)`);
  const ms = o.interval === undefined ? DEFAULT_BGP.bfdIntervalMs : parseDuration(o.interval as string);
  if (!Number.isFinite(ms) || ms < 10 || ms > 10_000) throw new Error(`interval: expected 10ms to 10s, got ${describeValue(o.interval)}`);
  const mult = o.multiplier ?? DEFAULT_BGP.bfdMultiplier;
  if (typeof mult !== 'number' || !Number.isInteger(mult) || mult < 1 || mult > 255) throw new Error(`multiplier: expected an integer from 1 to 255, got ${describeValue(mult)}`);
  return { minTxMs: ms, minRxMs: ms, multiplier: mult };
}, {
  type: 'boolean or {interval, multiplier}',
  input: {
    anyOf: [
      { type: 'boolean' },
      {
        type: 'object',
        properties: {
          interval: { type: 'string', description: 'how often packets go each way (10ms..10s, default 100ms)' },
          multiplier: { type: 'integer', minimum: 1, maximum: 255, description: 'packets missed before the peer is declared down (default 3)' },
        },
        additionalProperties: false,
      },
    ],
  },
});

export const peerFields = z.strictObject({
  name: name.optional().meta({ defaultText: 'its address', description: 'a name for logs and `fulcrum bgp show`' }),
  address: ip.describe('the peer\'s address (a router on the same link, usually)'),
  asn: asn.describe('the peer\'s AS number: the same as `bgp.asn` makes an iBGP session, another an eBGP one'),
  port: intRange(1, 65535).default(DEFAULT_BGP.port).describe('the peer\'s TCP port'),
  passive: z.boolean().default(false).describe('wait for the peer to connect instead of connecting (needs `bgp.listen`)'),
  local_address: ip.optional().meta({ defaultText: 'chosen by the kernel', description: 'the local address to connect from; the next hop of the routes unless an announcement sets one' }),
  hold_time: holdTime.optional().meta({ defaultText: '`bgp.hold_time`', description: 'the hold time offered to this peer' }),
  bfd: bfdOption.default(null).meta({ default: false, description: 'BFD (RFC 5880, single hop) with this peer: `true` for packets every 100ms, 3 missed mean down, or `{interval, multiplier}`; the router notices a dead balancer in interval x multiplier instead of the hold time' }),
});

const when = converted((v): { kind: 'always' } | { kind: 'pool'; name: string; minUsable: number } | { kind: 'listener'; name: string } => {
  if (v === 'always') return { kind: 'always' };
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`expected always, {pool: NAME, min_usable: N} or {listener: NAME}, got ${describeValue(v)}`);
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o);
  if (typeof o.pool === 'string' && keys.every((k) => k === 'pool' || k === 'min_usable')) {
    const min = o.min_usable ?? DEFAULT_BGP.minUsable;
    if (typeof min !== 'number' || !Number.isInteger(min) || min < 1 || min > 10_000) throw new Error(`min_usable: expected an integer from 1 to 10000, got ${describeValue(min)}`);
    return { kind: 'pool', name: o.pool, minUsable: min };
  }
  if (typeof o.listener === 'string' && keys.length === 1) return { kind: 'listener', name: o.listener };
  throw new Error(`expected always, {pool: NAME, min_usable: N} or {listener: NAME}, got ${describeValue(v)}`);
}, {
  type: 'always, {pool, min_usable} or {listener}',
  input: {
    anyOf: [
      { const: 'always' },
      {
        type: 'object',
        properties: {
          pool: { type: 'string', description: 'announced while this pool has enough usable servers' },
          min_usable: { type: 'integer', minimum: 1, maximum: 10000, description: 'how many usable servers are enough (default 1)' },
        },
        required: ['pool'],
        additionalProperties: false,
      },
      { type: 'object', properties: { listener: { type: 'string', description: 'announced while a connection to this listener completes' } }, required: ['listener'], additionalProperties: false },
    ],
  },
});

export const announceFields = z.strictObject({
  prefix: prefix.describe('the prefix announced: a virtual IP as /32 (or /128), or a block'),
  when: when.default({ kind: 'always' }).meta({ defaultText: '`always`', description: 'announced while this holds: `always`, `{pool: NAME, min_usable: N}` (N usable servers, default 1) or `{listener: NAME}` (a connection to the listener completes); withdrawn as soon as it does not' }),
  next_hop: ip.optional().meta({ defaultText: 'the session\'s local address', description: 'the next hop sent with the route (next hop self by default)' }),
  med: intRange(0, 4_294_967_295).optional().describe('MULTI_EXIT_DISC: routers prefer the lowest (primary and backup sites)'),
  communities: z.array(community).default([]).describe('communities sent with the route, "ASN:VALUE"'),
  large_communities: z.array(largeCommunity).default([]).describe('large communities (RFC 8092), "ASN:DATA1:DATA2"'),
  prepend: intRange(0, 10).default(0).describe('extra copies of our AS in AS_PATH on eBGP sessions, to make the route less preferred'),
});

export const bgpFields = z.strictObject({
  asn: asn.describe('Fulcrum\'s AS number (4-octet numbers work)'),
  router_id: ipv4.describe('the BGP identifier, an IPv4 address unique among the peers (usually the balancer\'s own address)'),
  listen: converted((v) => (v === false ? null : parseBind(requireString('HOST:PORT', '"0.0.0.0:179"')(v))), { type: 'HOST:PORT or false', input: { anyOf: [{ type: 'string' }, { const: false }] } })
    .optional()
    .meta({ defaultText: 'no listener (Fulcrum connects)', description: 'where to accept connections from passive peers, such as "0.0.0.0:179"' }),
  hold_time: holdTime.default(DEFAULT_BGP.holdTimeS).describe('the hold time offered (the session uses the smaller of the two sides\'); keepalives go every third of it'),
  graceful_shutdown: durationOrZeroMs.default(DEFAULT_BGP.gracefulShutdownMs).describe('on a planned stop, how long routes carry the GRACEFUL_SHUTDOWN community (RFC 8326) before they are withdrawn, so routers move traffic first (0: withdraw at once)'),
  peers: z.array(peerFields).min(1, 'a bgp section needs at least one peer').describe('the routers Fulcrum talks to'),
  announce: z.array(announceFields).default([]).describe('the prefixes Fulcrum announces, each with its condition'),
});

export const bgp = bgpFields.transform((b) => ({
  asn: b.asn,
  routerId: b.router_id,
  listen: b.listen ?? null,
  holdTimeS: b.hold_time,
  gracefulShutdownMs: b.graceful_shutdown,
  peers: b.peers.map((p) => ({
    name: p.name ?? p.address,
    address: p.address,
    asn: p.asn,
    port: p.port,
    passive: p.passive,
    localAddress: p.local_address ?? null,
    holdTimeS: p.hold_time ?? b.hold_time,
    keepaliveS: null,
    bfd: p.bfd,
  })),
  announce: b.announce.map((a) => ({
    prefix: a.prefix,
    when: a.when,
    nextHop: a.next_hop ?? null,
    med: a.med ?? null,
    communities: a.communities,
    largeCommunities: a.large_communities,
    prepend: a.prepend,
  })),
}));
