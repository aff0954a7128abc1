/**
 * The DNS section's own parsers: domain names (relative to a zone's origin or absolute),
 * record data per type, `listen` addresses, failover groups and GeoIP code maps; and the
 * step that turns the schema's output into the normalised DnsConfig once every check has
 * passed. Each parser returns the normalised form or throws an Error (an AggregateError
 * of PathedErrors for several parts of one value) whose message says what to write.
 *
 * Names follow zone-file rules: "@" is the zone's origin, a name ending in "." is
 * absolute, any other name is relative to the origin ("www" in zone example.com is
 * www.example.com.). A relative name that already ends in the origin ("www.example.com"
 * without the dot) would silently mean www.example.com.example.com., so it is refused
 * with the two spellings that were probably meant.
 */
import { isIP, isIPv4, isIPv6 } from 'node:net';
import { bindsClash, canonicalIp, parseBind, type HostPort } from '../common/address.js';
import { defaultMname, defaultRname, DNS_PORT } from './defaults.js';
import { describeValue, PathedError } from '../common/field-error.js';
import { closest, didYouMean } from '../common/suggest.js';
import type { DnsConfig, DnsPoolNameConfig, DnsRecordConfig, DnsRecordType, ZoneConfig } from '../types.js';
import { filePath } from '../common/paths.js';

/** Every record type a zone may list, in the order messages name them. */
export const DNS_RECORD_TYPES = ['A', 'AAAA', 'CNAME', 'MX', 'NS', 'TXT', 'SRV', 'CAA'] as const satisfies readonly DnsRecordType[];

/** Answer policies of a pool-backed name. */
export const DNS_POLICIES = ['all', 'subset', 'weighted', 'failover'] as const satisfies ReadonlyArray<DnsPoolNameConfig['policy']>;
export const SUBSET_MODES = ['rotate', 'weighted-random'] as const satisfies ReadonlyArray<DnsPoolNameConfig['subsetMode']>;
export const WHEN_NONE_USABLE = ['all', 'none'] as const satisfies ReadonlyArray<DnsPoolNameConfig['whenNoneUsable']>;

/** Largest TTL (RFC 2181 section 8), also the largest SOA timer. */
export const MAX_TTL = 2_147_483_647;
/** Largest SOA serial: an unsigned 32-bit number (RFC 1982 arithmetic wraps it). */
export const MAX_SERIAL = 4_294_967_295;

/** MaxMind's continent codes. */
export const CONTINENT_CODES = ['AF', 'AN', 'AS', 'EU', 'NA', 'OC', 'SA'] as const;

const LABEL_CHARS = /^[A-Za-z0-9_-]+$/;

/** Length of an absolute name in DNS wire format (at most 255). */
function wireLength(absolute: string): number {
  return absolute === '.' ? 1 : absolute.length + 1;
}

function tooLong(absolute: string): Error {
  return new Error(`"${absolute}" is too long: a DNS name holds at most 255 bytes (253 characters without the final dot)`);
}

/**
 * Checks the spelling of a name as the configuration writes it ("@", "www", "_sip._tcp",
 * "www.example.com.", ".") without joining it to an origin, and returns it lower-cased.
 * Labels are 1 to 63 letters, digits, "-" or "_".
 */
export function nameText(v: unknown, example = '"www" or "www.example.com."'): string {
  if (typeof v !== 'string') throw new Error(`expected a DNS name such as ${example}, got ${describeValue(v)}`);
  if (v === '') throw new Error('the name is empty: write "@" for the zone\'s own name');
  if (v === '@' || v === '.') return v;
  const body = v.endsWith('.') ? v.slice(0, -1) : v;
  for (const label of body.split('.')) {
    if (label === '') {
      throw new Error(`invalid name ${JSON.stringify(v)}: ${v.startsWith('.') ? 'a name cannot start with "."' : 'it has an empty label (two dots in a row)'}`);
    }
    if (label === '*') throw new Error(`invalid name ${JSON.stringify(v)}: wildcard names are not supported; list each name`);
    if (label.length > 63) throw new Error(`invalid name ${JSON.stringify(v)}: the label "${label.slice(0, 12)}..." is ${label.length} characters long, and a label holds at most 63`);
    if (!LABEL_CHARS.test(label)) {
      throw new Error(`invalid name ${JSON.stringify(v)}: a label holds letters, digits, "-" and "_" only (labels are separated by ".")`);
    }
  }
  const lower = v.toLowerCase();
  if (lower.endsWith('.') && wireLength(lower) > 255) throw tooLong(lower);
  return lower;
}

/**
 * A zone's origin, absolute and lower-case with the trailing dot: "Example.COM" and
 * "example.com." are both "example.com."; "." is the root.
 */
export function parseOrigin(v: unknown): string {
  const s = nameText(v, '"example.com"');
  if (s === '@') throw new Error('"@" stands for the origin itself: write the zone\'s name, e.g. "example.com"');
  const absolute = s.endsWith('.') ? s : `${s}.`;
  if (wireLength(absolute) > 255) throw tooLong(absolute);
  return absolute;
}

/** Is `name` (absolute) the origin or a name below it? */
export function inZone(name: string, origin: string): boolean {
  return origin === '.' || name === origin || name.endsWith(`.${origin}`);
}

/**
 * Joins a name written in the configuration to the zone's origin (see the module
 * comment): "@" -> origin, "www" -> "www.ORIGIN", "host.example.net." stays. Throws on a
 * bad spelling, on a relative name that already ends in the origin, and on a joined name
 * longer than 255 bytes.
 */
export function resolveName(v: unknown, origin: string): string {
  const s = nameText(v);
  if (s === '@') return origin;
  if (s === '.' || s.endsWith('.')) return s;
  const dotted = `${s}.`;
  if (origin !== '.' && (dotted === origin || dotted.endsWith(`.${origin}`))) {
    const relative = dotted === origin ? '@' : s.slice(0, s.length - origin.length);
    throw new Error(
      `"${s}" has no trailing dot, so it is relative to the zone and means ${s}.${origin}: write "${relative}", or "${dotted}" with the dot`,
    );
  }
  const absolute = origin === '.' ? dotted : `${s}.${origin}`;
  if (wireLength(absolute) > 255) throw tooLong(absolute);
  return absolute;
}

/**
 * The SOA RNAME as written: a name ("hostmaster.example.com.", "hostmaster") or a mailbox
 * ("hostmaster@example.com", which becomes the absolute "hostmaster.example.com.").
 */
export function rnameText(v: unknown): string {
  if (typeof v !== 'string' || !v.includes('@') || v === '@') return nameText(v, '"hostmaster@example.com" or "hostmaster"');
  const at = v.indexOf('@');
  const local = v.slice(0, at);
  const domain = v.slice(at + 1);
  if (local.includes('.')) {
    throw new Error(`the mailbox ${JSON.stringify(v)} has a "." before "@", which the SOA record cannot hold here: use a mailbox without one, such as hostmaster@${domain}`);
  }
  if (domain === '' || domain === '.') throw new Error(`invalid mailbox ${JSON.stringify(v)}: write the domain after "@", e.g. hostmaster@example.com`);
  if (local === '' || !LABEL_CHARS.test(local) || local.length > 63) {
    throw new Error(`invalid mailbox ${JSON.stringify(v)}: the part before "@" holds letters, digits, "-" and "_" only`);
  }
  const name = nameText(domain.endsWith('.') ? domain : `${domain}.`, '"example.com"');
  return nameText(`${local}.${name}`.toLowerCase());
}

/** A record `type`: one of DNS_RECORD_TYPES, any case, returned upper-case. */
export function recordType(v: unknown): DnsRecordType {
  if (typeof v !== 'string') throw new Error(`expected a record type such as A or CNAME, got ${describeValue(v)}`);
  const t = v.toUpperCase();
  const known = DNS_RECORD_TYPES.find((k) => k === t);
  if (known) return known;
  if (t === 'SOA') throw new Error("the SOA record is the zone's `soa` key, not one of its records");
  const hint = closest(t, DNS_RECORD_TYPES);
  const types = DNS_RECORD_TYPES.join(', ');
  throw new Error(`record type ${JSON.stringify(v)} is not supported (types: ${types})${hint ? `; did you mean \`${hint}\`?` : ''}`);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function uint(max: number) {
  return (v: unknown): number => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) throw new Error(`must be an integer from 0 to ${max}, got ${describeValue(v)}`);
    return v;
  };
}

type FieldSpec<T> = { [K in keyof T]: { parse: (v: unknown) => T[K]; default?: T[K] } };

/**
 * The data of a mapping-shaped record (MX, SRV, CAA): every key of `spec`, parsed, with
 * unknown and missing keys reported one by one.
 */
function fields<T extends object>(v: unknown, type: string, example: string, spec: FieldSpec<T>): T {
  if (!isPlainObject(v)) throw new Error(`${type} data is a mapping such as ${example}, got ${describeValue(v)}`);
  const keys = Object.keys(spec);
  const errors: PathedError[] = [];
  for (const key of Object.keys(v)) {
    if (!keys.includes(key)) errors.push(new PathedError([key], `unknown key \`${key}\`${didYouMean(key, keys)}`, 'key'));
  }
  const out: Record<string, unknown> = {};
  for (const key of keys) {
    const field = spec[key as keyof T];
    const value = v[key];
    if (value === undefined) {
      if ('default' in field) out[key] = field.default;
      else errors.push(new PathedError([key], `missing required key \`${key}\``));
      continue;
    }
    try {
      out[key] = field.parse(value);
    } catch (e) {
      errors.push(new PathedError([key], (e as Error).message));
    }
  }
  if (errors.length > 0) throw new AggregateError(errors);
  return out as T;
}

/** A name in record data (a target), joined to the origin; "." (no host) only where `root` allows it. */
function target(origin: string, root: boolean) {
  return (v: unknown): string => {
    const name = resolveName(v, origin);
    if (name === '.' && !root) throw new Error('"." (the root) cannot be the target here: give a host name');
    return name;
  };
}

/**
 * The `data` of a record of `type`, normalised: A an IPv4 address; AAAA an IPv6 address
 * (canonical form); CNAME and NS an absolute name; TXT a list of strings of at most 255
 * bytes (one string may be written alone); MX {preference, exchange}; SRV {priority,
 * weight, port, target}; CAA {flags (default 0), tag, value}. Names in the data follow
 * the same rules as record names (relative to `origin` unless they end with ".").
 */
export function parseRecordData(type: DnsRecordType, v: unknown, origin: string): unknown {
  switch (type) {
    case 'A':
      if (typeof v === 'string' && isIPv4(v)) return v;
      if (typeof v === 'string' && isIPv6(v)) throw new Error(`"${v}" is an IPv6 address: it goes in an AAAA record`);
      if (Array.isArray(v)) throw new Error('one address per record: write a record for each address');
      throw new Error(`expected an IPv4 address such as "192.0.2.1", got ${describeValue(v)}`);
    case 'AAAA':
      if (typeof v === 'string' && isIPv6(v) && !v.includes('%')) return canonicalIp(v);
      if (typeof v === 'string' && isIPv4(v)) throw new Error(`"${v}" is an IPv4 address: it goes in an A record`);
      if (Array.isArray(v)) throw new Error('one address per record: write a record for each address');
      throw new Error(`expected an IPv6 address such as "2001:db8::1", got ${describeValue(v)}`);
    case 'CNAME':
    case 'NS':
      return target(origin, false)(v);
    case 'TXT':
      return txtData(v);
    case 'MX':
      return fields<{ preference: number; exchange: string }>(v, 'MX', '{preference: 10, exchange: mail.example.com.}', {
        preference: { parse: uint(65535) },
        // "." is the null MX of RFC 7505: this domain accepts no mail.
        exchange: { parse: target(origin, true) },
      });
    case 'SRV':
      return fields<{ priority: number; weight: number; port: number; target: string }>(v, 'SRV', '{priority: 0, weight: 5, port: 80, target: www.example.com.}', {
        priority: { parse: uint(65535) },
        weight: { parse: uint(65535) },
        port: { parse: uint(65535) },
        // "." says the service is not offered at this name (RFC 2782).
        target: { parse: target(origin, true) },
      });
    case 'CAA': {
      const caa = fields<{ flags: number; tag: string; value: string }>(v, 'CAA', '{flags: 0, tag: issue, value: letsencrypt.org}', {
        flags: { parse: uint(255), default: 0 },
        tag: {
          parse: (t) => {
            if (typeof t !== 'string' || !/^[A-Za-z0-9]{1,15}$/.test(t)) {
              throw new Error(`expected a CAA tag such as issue, issuewild or iodef (1 to 15 letters and digits), got ${describeValue(t)}`);
            }
            return t;
          },
        },
        value: {
          parse: (s) => {
            if (typeof s !== 'string') throw new Error(`expected text such as "letsencrypt.org", got ${describeValue(s)}; quote it`);
            return s;
          },
        },
      });
      if (2 + caa.tag.length + Buffer.byteLength(caa.value) > 65535) throw new PathedError(['value'], 'the value is too long: a record holds at most 65535 bytes');
      return caa;
    }
  }
}

/** TXT data: one string or a non-empty list of them, each at most 255 bytes (UTF-8). */
function txtData(v: unknown): string[] {
  const single = typeof v === 'string';
  if (!single && !Array.isArray(v)) throw new Error(`expected text, or a list of strings such as ["v=spf1 -all"], got ${describeValue(v)}`);
  const strings = single ? [v] : (v as unknown[]);
  if (strings.length === 0) throw new Error('the list is empty: a TXT record holds at least one string (it may be "")');
  const errors: PathedError[] = [];
  let total = 0;
  strings.forEach((s, i) => {
    const path = single ? [] : [i];
    if (typeof s !== 'string') {
      errors.push(new PathedError(path, `expected text, got ${describeValue(s)}; quote it`));
      return;
    }
    const bytes = Buffer.byteLength(s);
    total += bytes + 1;
    if (bytes > 255) {
      errors.push(
        new PathedError(path, `this string is ${bytes} bytes long, and a TXT string holds at most 255: split it into a list of strings (["first part", "second part"]), which clients join`),
      );
    }
  });
  if (errors.length > 0) throw new AggregateError(errors);
  if (total > 65535) throw new Error(`the strings take ${total} bytes, and a record holds at most 65535`);
  return strings as string[];
}

/**
 * `listen`: one address or a non-empty list, each "HOST:PORT" as a listener's bind
 * ("127.0.0.1:5300", "[::1]:5300", ":53"; port 0 picks a free port) or a bare IP address
 * (port 53). No two may clash.
 */
export function parseListen(v: unknown): HostPort[] {
  const items = typeof v === 'string' ? [v] : v;
  if (!Array.isArray(items)) throw new Error(`expected a list of addresses such as ["127.0.0.1:5300"], got ${describeValue(v)}`);
  if (items.length === 0) throw new Error('the list is empty: give at least one address to serve DNS on, e.g. ["127.0.0.1:53"]');
  const errors: PathedError[] = [];
  const seen: Array<{ at: HostPort; index: number; text: string }> = [];
  items.forEach((item: unknown, i) => {
    const path = typeof v === 'string' ? [] : [i];
    try {
      if (typeof item !== 'string') throw new Error(`expected HOST:PORT such as "127.0.0.1:5300", got ${describeValue(item)}`);
      const at = isIP(item) ? { host: item, port: DNS_PORT } : parseBind(item);
      const clash = seen.find((s) => bindsClash(s.at, at));
      if (clash) {
        const how = clash.at.host === at.host ? 'repeats' : 'overlaps';
        throw new Error(`${item} ${how} listen[${clash.index}] (${clash.text}): each address is served once`);
      }
      seen.push({ at, index: i, text: item });
    } catch (e) {
      errors.push(new PathedError(path, (e as Error).message));
    }
  });
  if (errors.length > 0) throw new AggregateError(errors);
  return seen.map((s) => s.at);
}

/**
 * Failover `groups`: a non-empty list of non-empty groups of server names, first group
 * first; a lone name stands for a group of one ([S1, [S2, S3]]).
 */
export function parseGroups(v: unknown): string[][] {
  const example = 'such as [[S1], [S2, S3]]';
  if (!Array.isArray(v)) throw new Error(`expected a list of groups of server names ${example}, got ${describeValue(v)}`);
  if (v.length === 0) throw new Error(`the list is empty: give the groups of server names in order, ${example}`);
  const errors: PathedError[] = [];
  const groups = v.map((g: unknown, i): string[] => {
    if (typeof g === 'string') return [g];
    if (!Array.isArray(g)) {
      errors.push(new PathedError([i], `expected a group (a list of server names such as [S2, S3]), got ${describeValue(g)}`));
      return [];
    }
    if (g.length === 0) errors.push(new PathedError([i], 'the group is empty: list at least one server, or remove the group'));
    g.forEach((name: unknown, j) => {
      if (typeof name !== 'string') errors.push(new PathedError([i, j], `expected a server name, got ${describeValue(name)}`));
    });
    return g as string[];
  });
  if (errors.length > 0) throw new AggregateError(errors);
  return groups;
}

/** A file path: a non-empty string (made absolute by buildDns). */
export function pathText(v: unknown): string {
  if (typeof v !== 'string' || v.trim() === '') throw new Error(`expected a file path such as "/etc/fulcrum/steering.txt", got ${describeValue(v)}`);
  return v;
}

/**
 * A GeoIP code map (`countries` or `continents`): code -> pool name. Codes are
 * upper-cased; countries are ISO 3166-1 alpha-2 codes ("DE"), continents MaxMind's
 * (AF, AN, AS, EU, NA, OC, SA).
 */
export function codeMap(kind: 'country' | 'continent') {
  return (v: unknown): Record<string, string> => {
    const example = kind === 'country' ? '{DE: web-eu, US: web-us}' : '{EU: web-eu, NA: web-us}';
    if (!isPlainObject(v)) throw new Error(`expected a mapping of ${kind} codes to pools such as ${example}, got ${describeValue(v)}`);
    const errors: PathedError[] = [];
    const out: Record<string, string> = {};
    const written = new Map<string, string>();
    for (const [key, pool] of Object.entries(v)) {
      const code = key.toUpperCase();
      if (kind === 'country' && !/^[A-Z]{2}$/.test(code)) {
        errors.push(new PathedError([key], `"${key}" is not a country code: use ISO 3166-1 alpha-2 codes such as DE or US`, 'key'));
        continue;
      }
      if (kind === 'continent' && !(CONTINENT_CODES as readonly string[]).includes(code)) {
        errors.push(new PathedError([key], `"${key}" is not a continent code${didYouMean(code, CONTINENT_CODES)}`, 'key'));
        continue;
      }
      const first = written.get(code);
      if (first !== undefined) {
        errors.push(new PathedError([key], `\`${key}\` is the same code as \`${first}\` (codes ignore case): keep one of them`, 'key'));
        continue;
      }
      written.set(code, key);
      if (typeof pool !== 'string') {
        errors.push(new PathedError([key], `expected a pool name, got ${describeValue(pool)}`));
        continue;
      }
      out[code] = pool;
    }
    if (errors.length > 0) throw new AggregateError(errors);
    return out;
  };
}

/** A pool-backed name as the schema returns it: its name as written, every default filled in. */
export type ParsedPoolName = Omit<DnsPoolNameConfig, 'name'> & { name: string };

/** What the schema returns for `dns:` (names as written; buildDns joins them to their origins). */
export interface ParsedDns {
  listen: HostPort[];
  tcpIdleMs: number;
  tcpMessageMs: number;
  tcpMaxConnections: number;
  tcpMaxPerClient: number;
  zones: Array<{
    origin: string;
    soa: Omit<ZoneConfig['soa'], 'mname' | 'rname'> & { mname?: string; rname?: string };
    transfer: boolean;
    records: Array<{ name: string; type: DnsRecordType; ttl: number; data: unknown }>;
    pools: ParsedPoolName[];
  }>;
}

/**
 * The normalised DnsConfig of a `dns:` section that passed every check: names joined to
 * their origins, record data converted, the SOA names defaulted, an NS record pointing at
 * the SOA MNAME added to a zone that lists none at its apex, and file paths made absolute
 * (relative to the configuration file's directory).
 */
export function buildDns(parsed: ParsedDns, source: string): DnsConfig {
  return {
    listen: parsed.listen.map((l) => ({ ...l })),
    tcpIdleMs: parsed.tcpIdleMs,
    tcpMessageMs: parsed.tcpMessageMs,
    tcpMaxConnections: parsed.tcpMaxConnections,
    tcpMaxPerClient: parsed.tcpMaxPerClient,
    zones: parsed.zones.map((z): ZoneConfig => {
      const { origin } = z;
      const { mname, rname, ...timers } = z.soa;
      const soa = {
        mname: mname === undefined ? defaultMname(origin) : resolveName(mname, origin),
        rname: rname === undefined ? defaultRname(origin) : resolveName(rname, origin),
        ...timers,
      };
      const records = z.records.map((r): DnsRecordConfig => ({ name: resolveName(r.name, origin), type: r.type, ttl: r.ttl, data: parseRecordData(r.type, r.data, origin) }));
      if (!records.some((r) => r.type === 'NS' && r.name === origin)) records.unshift({ name: origin, type: 'NS', ttl: soa.ttl, data: soa.mname });
      return {
        origin,
        soa,
        records,
        pools: z.pools.map((p) => ({
          ...p,
          name: resolveName(p.name, origin),
          groups: p.groups.map((g) => [...g]),
          steering: p.steering.map((s) => ({ ...s })),
          steeringFile: p.steeringFile === null ? null : filePath(p.steeringFile, source),
          geoip: p.geoip === null ? null : { ...p.geoip, database: filePath(p.geoip.database, source) },
        })),
        transfer: z.transfer,
      };
    }),
  };
}
