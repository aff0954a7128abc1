/**
 * The zod schema of the `dns:` section: the authoritative DNS server. Field parsers live
 * in parse.ts; cross-checks in checks.ts.
 */
import { z } from 'zod';
import { oneOrList, seconds as secondsMeta, text, type FieldMeta } from '../common/field-meta.js';
import { parseCidr } from '../common/address.js';
import { DEFAULT_DNS_TCP_IDLE_MS, DEFAULT_DNS_TCP_MAX_CONNECTIONS, DEFAULT_DNS_TCP_MAX_PER_CLIENT, DEFAULT_DNS_TCP_MESSAGE_MS, DEFAULT_POOL_NAME, DEFAULT_RECORD_TTL, DEFAULT_SOA } from './defaults.js';
import { codeMap, DNS_POLICIES, DNS_RECORD_TYPES, MAX_SERIAL, MAX_TTL, nameText, parseGroups, parseListen, parseOrigin, pathText, recordType, rnameText, SUBSET_MODES, WHEN_NONE_USABLE, type ParsedDns, type ParsedPoolName } from './parse.js';
import { parseSeconds } from '../common/units.js';
import { converted, requireString, durationMs, intRange, defined } from '../common/fields.js';

/** A DNS time (TTL or SOA timer) in whole seconds, 0..max; see parseSeconds. */
function seconds(max = MAX_TTL) {
  return converted((v) => parseSeconds(v, max), secondsMeta(max));
}

const DNS_NAME = text('DNS name (`www`, `@`, or absolute `www.example.com.`)');
const POOL_NAME = text('pool name');
const CODE_MAP: FieldMeta = { type: 'mapping of codes to pool names', input: { type: 'object', additionalProperties: { type: 'string' } } };

/** A zone's SOA fields, as written (checks.ts reads them one by one). */
export const soaFields = z
  .strictObject({
    mname: converted(nameText, DNS_NAME).optional().meta({ defaultText: '`ns1.<origin>`', description: 'the primary name server' }),
    rname: converted(rnameText, text('DNS name or mailbox')).optional().meta({ defaultText: '`hostmaster@<origin>`', description: 'the responsible person: a name, or a mailbox such as `hostmaster@example.com`' }),
    serial: intRange(0, MAX_SERIAL).default(DEFAULT_SOA.serial).describe('the zone\'s serial number'),
    refresh: seconds().default(DEFAULT_SOA.refresh).describe('how often secondaries check the serial'),
    retry: seconds().default(DEFAULT_SOA.retry).describe('how soon secondaries retry a failed refresh'),
    expire: seconds().default(DEFAULT_SOA.expire).describe('how long secondaries keep answering without a refresh'),
    minimum: seconds().default(DEFAULT_SOA.minimum).describe('the negative-caching TTL (RFC 2308)'),
    ttl: seconds().default(DEFAULT_SOA.ttl).describe('the TTL of the SOA record itself'),
  })
  .describe('the zone\'s SOA record');

const soa = soaFields
  .transform((s) => defined(s) as ParsedDns['zones'][number]['soa']);

/** A static record; its data is checked against its type, and names joined to the origin, by checks.ts and parse.ts. */
export const dnsRecord = z.strictObject({
  name: converted(nameText, DNS_NAME).describe('the owner name, relative to the origin; `@` is the origin itself'),
  type: converted(recordType, { type: DNS_RECORD_TYPES.map((t) => `\`${t}\``).join(' | '), input: { type: 'string' } }).describe('the record type (case does not matter)'),
  ttl: seconds().default(DEFAULT_RECORD_TTL).describe('the record\'s TTL'),
  data: converted((v) => v, { type: 'depends on `type`', input: {} }).describe(
    '`A` an IPv4 address; `AAAA` an IPv6 address; `CNAME` and `NS` a name; `TXT` a string or a list of strings of up to 255 bytes each; `MX` `{preference, exchange}`; `SRV` `{priority, weight, port, target}`; `CAA` `{flags (default 0), tag, value}`',
  ),
}).meta({ title: 'DNS records', description: 'static records; without an NS record at the apex, one naming the SOA `mname` is served' });

/** A pool-backed name. Which keys go with which policy, and the pools and servers named, are checked by checks.ts. */
/** A pool-backed name's fields, as written (checks.ts reads them one by one). */
export const poolNameFields = z
  .strictObject({
    name: converted(nameText, DNS_NAME).describe('the pool-backed name (`www`, or `"@"` for the apex)'),
    pool: converted(requireString('a pool name', '"web"'), POOL_NAME).describe('the pool whose usable servers answer: IPv4 servers in A answers, IPv6 servers in AAAA'),
    ttl: seconds().default(DEFAULT_POOL_NAME.ttl).describe('the answers\' TTL: short, so clients come back soon after a server fails'),
    policy: z
      .enum(DNS_POLICIES)
      .default(DEFAULT_POOL_NAME.policy)
      .describe('`all` usable servers; a `subset` of them per answer; `weighted`: one server per answer, by weight; `failover`: the first of `groups` with a usable server'),
    subset: z
      .strictObject({
        size: intRange(1, 65535).default(DEFAULT_POOL_NAME.subsetSize).describe('servers per answer'),
        mode: z.enum(SUBSET_MODES).default(DEFAULT_POOL_NAME.subsetMode).describe('pick them in rotation, or at random by weight'),
      })
      .optional()
      .describe('with `policy: subset` only'),
    groups: converted(parseGroups, { type: 'list of lists of server names', input: { type: 'array', minItems: 1, items: { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }] } } })
      .optional()
      .meta({ defaultText: 'required by `failover`', description: 'with `policy: failover` only: ordered groups of the pool\'s server names, e.g. `[[S1], [S2, S3]]`; a server in one group at most' }),
    when_none_usable: z
      .enum(WHEN_NONE_USABLE)
      .default(DEFAULT_POOL_NAME.whenNoneUsable)
      .describe('when no server is usable: answer with every server (as PowerDNS and gdnsd do), or `none` (an empty answer)'),
    steering: z
      .array(
        z.strictObject({
          cidr: converted((v) => parseCidr(requireString('a CIDR', '"198.51.100.0/24"')(v)), text('CIDR')).describe('a client range'),
          pool: converted(requireString('a pool name', '"web-eu"'), POOL_NAME).describe('the pool that answers clients in the range'),
        }),
      )
      .default([])
      .describe('clients in a range (EDNS Client Subnet, else the resolver\'s address) get that pool\'s servers; the most specific range wins. Not with `policy: failover`'),
    steering_file: converted(pathText, text('file path'))
      .optional()
      .describe('more steering entries, one `CIDR POOL` per line (`#` comments), reloaded when the file changes; a relative path is relative to the configuration file'),
    geoip: z
      .strictObject({
        database: converted(pathText, text('file path')).describe('a MaxMind GeoIP2/GeoLite2 Country or City database (`.mmdb`), relative to the configuration file; re-read when it changes'),
        countries: converted(codeMap('country'), CODE_MAP).default({}).describe('country codes to pools, e.g. `{DE: web-eu}`'),
        continents: converted(codeMap('continent'), CODE_MAP).default({}).describe('continent codes (AF, AN, AS, EU, NA, OC, SA) to pools, e.g. `{NA: web-us}`'),
      })
      .optional()
      .describe('steering by the client\'s country (else its continent, else the name\'s own `pool`); `steering` and `steering_file` are consulted first. A missing or unreadable database is logged and the name answers as without `geoip`'),
  })
  .meta({ title: 'DNS pool-backed names', description: 'names answered with the addresses of a pool\'s usable servers' });

const poolName = poolNameFields
  .transform(
    (p): ParsedPoolName => ({
      name: p.name,
      pool: p.pool,
      ttl: p.ttl,
      policy: p.policy,
      subsetSize: p.subset?.size ?? DEFAULT_POOL_NAME.subsetSize,
      subsetMode: p.subset?.mode ?? DEFAULT_POOL_NAME.subsetMode,
      groups: p.groups ?? [],
      whenNoneUsable: p.when_none_usable,
      steering: p.steering.map((e) => ({ cidr: e.cidr, pool: e.pool })),
      steeringFile: p.steering_file ?? null,
      geoip: p.geoip ? { database: p.geoip.database, countries: p.geoip.countries, continents: p.geoip.continents } : null,
    }),
  );

export const zone = z.strictObject({
  origin: converted(parseOrigin, text('DNS name')).describe('the zone\'s name, `example.com` or `example.com.`; each zone once'),
  soa: soa.prefault({}),
  transfer: z.boolean().default(false).describe('answer AXFR zone transfers over TCP (otherwise NOTIMP)'),
  records: z.array(dnsRecord).default([]),
  pools: z.array(poolName).default([]),
}).meta({ title: 'DNS zones', description: 'the zones this server is authoritative for' });

/** The `dns:` section: the authoritative DNS server (see parse.ts and checks.ts). */
export const dns = z
  .strictObject({
    listen: converted(parseListen, oneOrList('HOST:PORT, or a list')).describe(
      'addresses served over UDP and TCP; a bare address means port 53, port 0 picks a free port; no address may clash with another or with a listener\'s `bind`',
    ),
    tcp_idle_timeout: durationMs
      .default(DEFAULT_DNS_TCP_IDLE_MS)
      .describe('a TCP connection with no query under way is closed this long after its last answer'),
    tcp_message_timeout: durationMs
      .default(DEFAULT_DNS_TCP_MESSAGE_MS)
      .describe('a query over TCP must arrive whole this long after its first byte, or the connection is closed'),
    tcp_max_connections: intRange(1, 1_000_000)
      .default(DEFAULT_DNS_TCP_MAX_CONNECTIONS)
      .describe('TCP connections at once per listen address; at the cap a new connection closes the least recently useful one (RFC 7766 section 6.2.2)'),
    tcp_max_per_client: intRange(1, 1_000_000)
      .default(DEFAULT_DNS_TCP_MAX_PER_CLIENT)
      .describe('TCP connections at once from one client address; over it, that client\'s least recently useful connection is closed'),
    zones: z.array(zone).min(1, 'the DNS server needs at least one zone, e.g. `- {origin: example.com, records: [...]}`'),
  })
  .describe('the authoritative DNS server: it answers a pool-backed name with the addresses of the pool\'s usable servers. Names follow zone-file rules: `www` is relative to the origin, a name ending in `.` is absolute')
  .transform(
    (d): ParsedDns => ({
      listen: d.listen,
      tcpIdleMs: d.tcp_idle_timeout,
      tcpMessageMs: d.tcp_message_timeout,
      tcpMaxConnections: d.tcp_max_connections,
      tcpMaxPerClient: d.tcp_max_per_client,
      zones: d.zones,
    }),
  );
