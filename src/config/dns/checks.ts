/**
 * Cross-checks of the `dns:` section that no single field can make: record data against
 * the record's type and zone, names inside their zone (and not inside a more specific
 * zone), zones served twice, NS records below the apex, CNAMEs sharing a name with other
 * data (RFC 1034 section 3.6.2), duplicate records and RRsets with mixed TTLs, MX, NS
 * and SRV targets that are aliases, pool-backed names naming missing pools or pools of
 * servers with host-name addresses, keys given for another policy, failover groups, and
 * `listen` addresses that clash with a listener's. They read the section field by field
 * (common/parsed.ts) and skip values the schema rejects, so each problem is reported
 * once; names and record data are resolved against their zone's origin here.
 */
import { isIP } from 'node:net';
import { bindsClash } from '../common/address.js';
import { inZone, parseRecordData, resolveName } from './parse.js';
import { PathedError } from '../common/field-error.js';
import { formatPath, type KeyPath } from '../locate.js';
import { didYouMean, noPoolMessage } from '../common/suggest.js';
import type { DnsRecordType } from '../types.js';
import { isObj, list, parseEach, parseFields, parseItems, type Obj, type Parsed, type PathIssue } from '../common/parsed.js';
import type { FileParts } from '../parts.js';
import { nameOf, serversOf, type PoolPart } from '../pools/checks.js';
import { dns as dnsSchema, dnsRecord, poolNameFields, soaFields, zone as zoneFields } from './schema.js';


/** What the checks of one file share. */
interface State {
  pools: FileParts['pools'];
  /** Every zone with a valid origin, first of each origin only. */
  zones: Array<{ index: number; origin: string }>;
  issues: PathIssue[];
  /** Servers already reported for a host-name address ("POOL\0INDEX"). */
  hostNamesReported: Set<string>;
  /** Owners of CNAME records, across zones. */
  cnames: Map<string, KeyPath>;
  /** Names that MX, NS and SRV records point at, which must not be aliases. */
  targets: Array<{ name: string; type: DnsRecordType; path: KeyPath }>;
}

/** A name of a zone that holds data: a static record or a pool-backed name. */
interface Entry {
  name: string;
  path: KeyPath;
  /** "records[3]" or "pools[0]". */
  label: string;
  kind: 'record' | 'pool';
  type?: DnsRecordType;
  /** Normalised data, when valid. */
  data?: unknown;
  /** Seconds, when valid; `ttlGiven` says whether the file set it. */
  ttl?: number;
  ttlGiven?: boolean;
}

/** Runs every check of a `dns:` section and appends what it finds to `issues`. */
export function checkDns(dns: Obj, parts: FileParts, issues: PathIssue[]): void {
  checkListenClash(dns, parts.listeners, issues);
  const st: State = { pools: parts.pools, zones: [], issues, hostNamesReported: new Set(), cnames: new Map(), targets: [] };
  const valid: Array<{ zone: Obj; index: number; origin: string }> = [];
  parseEach(zoneFields, dns.zones).forEach((z, index) => {
    const origin = z?.fields.origin;
    if (!z || origin === undefined) return;
    const zone = z.raw;
    const first = st.zones.find((z) => z.origin === origin);
    if (first) {
      issues.push({ path: ['dns', 'zones', index, 'origin'], message: `zone \`${origin}\` is already served by dns.zones[${first.index}]: put its records and pools in one zone` });
      return;
    }
    st.zones.push({ index, origin });
    valid.push({ zone, index, origin });
  });
  for (const { zone, index, origin } of valid) checkZone(zone, ['dns', 'zones', index], origin, st);
  for (const t of st.targets) {
    const cname = st.cnames.get(t.name);
    if (cname === undefined) continue;
    issues.push({
      path: t.path,
      message: `\`${t.name}\` is an alias (the CNAME at ${formatPath(cname)}), and ${t.type === 'MX' ? 'an' : 'a'} ${t.type} record must name a host, not an alias (RFC 2181 section 10.3): give the CNAME's target instead`,
    });
  }
}

/** A DNS `listen` address that the DNS server (UDP and TCP) and a listener (one of them) would both bind. */
function checkListenClash(dns: Obj, listeners: FileParts['listeners'], issues: PathIssue[]): void {
  const listen = dns.listen;
  const items = typeof listen === 'string' ? [listen] : list(listen);
  const addresses = parseItems(dnsSchema.in.shape.listen, items);
  items.forEach((item, i) => {
    const at = addresses[i]?.[0];
    if (!at) return;
    listeners.forEach((l, k) => {
      const b = l?.fields.bind;
      if (!l || !b || !bindsClash(at, b)) return;
      const bind = String(l.raw.bind);
      const how = at.host === b.host ? 'is already used by' : 'overlaps';
      issues.push({
        path: typeof listen === 'string' ? ['dns', 'listen'] : ['dns', 'listen', i],
        message: `${String(item)} ${how} listeners[${k}] (${bind}): the DNS server listens on ${l.fields.mode === 'udp' ? 'UDP' : 'TCP'} there too, so give it another address or port`,
      });
    });
  });
}

/** Adds the errors a parser threw, each at `base` plus its own path. */
function pushErrors(e: unknown, base: KeyPath, issues: PathIssue[]): void {
  const errors = e instanceof AggregateError ? (e.errors as unknown[]) : [e];
  for (const err of errors) {
    const path = err instanceof PathedError ? [...base, ...err.path] : [...base];
    issues.push({ path, message: (err as Error).message, ...(err instanceof PathedError && err.at === 'key' ? { at: 'key' as const } : {}) });
  }
}

/**
 * The absolute name an entry of zone `origin` owns, or undefined when it cannot (a bad
 * spelling, which the schema reports; a name outside the zone or inside a more specific
 * zone of the file, reported here).
 */
function ownerName(text: string | undefined, path: KeyPath, origin: string, st: State): string | undefined {
  if (text === undefined) return undefined;
  let name: string;
  try {
    name = resolveName(text, origin);
  } catch (e) {
    pushErrors(e, path, st.issues);
    return undefined;
  }
  if (!inZone(name, origin)) {
    st.issues.push({ path, message: `\`${name}\` is outside zone \`${origin}\`: write a name relative to the zone, such as "www", or an absolute one ending in ".${origin === '.' ? '' : origin}"` });
    return undefined;
  }
  const deeper = st.zones
    .filter((z) => z.origin !== origin && inZone(z.origin, origin) && inZone(name, z.origin))
    .sort((a, b) => b.origin.length - a.origin.length)[0];
  if (deeper) {
    st.issues.push({
      path,
      message: `\`${name}\` is in zone \`${deeper.origin}\` (dns.zones[${deeper.index}]), which is more specific and answers every query for it: move this entry to that zone`,
    });
    return undefined;
  }
  return name;
}

function checkZone(zone: Obj, base: KeyPath, origin: string, st: State): void {
  const soa = parseFields(soaFields, zone.soa);
  if (soa) {
    for (const key of ['mname', 'rname'] as const) {
      const text = soa.fields[key];
      if (text === undefined) continue;
      try {
        resolveName(text, origin);
      } catch (e) {
        pushErrors(e, [...base, 'soa', key], st.issues);
      }
    }
  }

  const entries: Entry[] = [];
  parseEach(dnsRecord, zone.records).forEach((record, i) => {
    if (!record) return;
    const r = record.raw;
    const path: KeyPath = [...base, 'records', i];
    const name = ownerName(record.fields.name, [...path, 'name'], origin, st);
    const { type, ttl } = record.fields;
    let data: unknown;
    let dataValid = false;
    if (type !== undefined && r.data !== undefined) {
      try {
        data = parseRecordData(type, r.data, origin);
        dataValid = true;
      } catch (e) {
        pushErrors(e, [...path, 'data'], st.issues);
      }
    }
    if (name === undefined || type === undefined) return;
    const entry: Entry = { name, path, label: `records[${i}]`, kind: 'record', type, ttl, ttlGiven: record.given('ttl'), ...(dataValid ? { data } : {}) };
    if (type === 'NS' && name !== origin) {
      st.issues.push({
        path: [...path, 'type'],
        message: `NS records go at the zone's apex ("@"): one at \`${name}\` would delegate that name to other servers, which Fulcrum does not do; to serve \`${name}\`, make it a zone of its own`,
      });
      return;
    }
    if (type === 'CNAME' && name === origin) {
      st.issues.push({
        path: [...path, 'type'],
        message: `a CNAME cannot be at the zone's apex, which always holds the SOA and NS records (RFC 1034 section 3.6.2); to answer for \`${origin}\` from a pool, use a pool-backed name with name: "@"`,
      });
      return;
    }
    if (type === 'CNAME' && dataValid && data === name) {
      st.issues.push({ path: [...path, 'data'], message: `this CNAME points at its own name, \`${name}\`, a loop that no resolver can follow` });
    }
    if (type === 'CNAME' && !st.cnames.has(name)) st.cnames.set(name, path);
    if (dataValid) {
      if (type === 'NS') st.targets.push({ name: data as string, type, path: [...path, 'data'] });
      if (type === 'MX') st.targets.push({ name: (data as { exchange: string }).exchange, type, path: [...path, 'data', 'exchange'] });
      if (type === 'SRV') st.targets.push({ name: (data as { target: string }).target, type, path: [...path, 'data', 'target'] });
    }
    entries.push(entry);
  });

  parseEach(poolNameFields, zone.pools).forEach((p, j) => {
    if (!p) return;
    const path: KeyPath = [...base, 'pools', j];
    checkPoolName(p, path, st);
    const name = ownerName(p.fields.name, [...path, 'name'], origin, st);
    if (name !== undefined) entries.push({ name, path, label: `pools[${j}]`, kind: 'pool' });
  });

  checkConflicts(entries, st.issues);
}

/** Data that cannot share a name: CNAMEs, duplicates, mixed TTLs, pool-backed names twice or with static addresses. */
function checkConflicts(entries: Entry[], issues: PathIssue[]): void {
  const byName = new Map<string, Entry[]>();
  const what = (x: Entry) => (x.kind === 'pool' ? `a pool-backed name (${x.label})` : `${x.type === 'A' || x.type === 'AAAA' ? 'an' : 'a'} ${x.type} record (${x.label})`);
  for (const e of entries) {
    const prior = byName.get(e.name) ?? [];
    byName.set(e.name, [...prior, e]);
    if (prior.length === 0) continue;
    const cname = prior.find((x) => x.type === 'CNAME');
    if (e.kind === 'pool') {
      const twice = prior.find((x) => x.kind === 'pool');
      const address = prior.find((x) => x.type === 'A' || x.type === 'AAAA');
      if (twice) {
        issues.push({ path: [...e.path, 'name'], message: `duplicate pool-backed name \`${e.name}\`: ${twice.label} already answers for it` });
      } else if (cname) {
        issues.push({
          path: [...e.path, 'name'],
          message: `\`${e.name}\` has a CNAME record (${cname.label}), so it can hold no other data (RFC 1034 section 3.6.2): remove the CNAME or this pool-backed name`,
        });
      } else if (address) {
        issues.push({
          path: [...e.path, 'name'],
          message: `\`${e.name}\` also has ${what(address)}, and a pool-backed name's A and AAAA answers come from its pool alone: remove the static record or this pool-backed name`,
        });
      }
      continue;
    }
    if (e.type === 'CNAME') {
      issues.push({ path: [...e.path, 'type'], message: `\`${e.name}\` already has ${what(prior[0]!)}, and a name with a CNAME can hold no other data (RFC 1034 section 3.6.2)` });
      continue;
    }
    if (cname) {
      issues.push({ path: [...e.path, 'type'], message: `\`${e.name}\` has a CNAME record (${cname.label}), so it can hold no other data (RFC 1034 section 3.6.2): remove this record or the CNAME` });
      continue;
    }
    const same = prior.filter((x) => x.kind === 'record' && x.type === e.type);
    const duplicate = e.data !== undefined && same.find((x) => x.data !== undefined && JSON.stringify(x.data) === JSON.stringify(e.data));
    if (duplicate) {
      issues.push({ path: e.path, message: `duplicate record: ${duplicate.label} has the same name, type and data` });
      continue;
    }
    const otherTtl = e.ttl !== undefined && same.find((x) => x.ttl !== undefined && x.ttl !== e.ttl);
    if (otherTtl) {
      issues.push({
        path: e.ttlGiven ? [...e.path, 'ttl'] : e.path,
        message: `the ${e.type} records of \`${e.name}\` form one set with one TTL (RFC 2181 section 5.2), but ${otherTtl.label} has ttl ${otherTtl.ttl} and this one ${e.ttl}${e.ttlGiven ? '' : ' (the default)'}: give them the same ttl`,
      });
    }
  }
}

/** The name each server of a pool goes by, in order. */
function serverNames(pool: PoolPart): string[] {
  return serversOf(pool).flatMap((s, i) => {
    // A name the schema rejects still counts, so that only the schema reports it.
    return s ? [nameOf(s, i) ?? String(s.raw.name)] : [];
  });
}

/**
 * A pool named at `path` by the DNS section: it must exist, and its servers' addresses
 * must be IP addresses (an answer gives them out). Returns the pool when it exists.
 */
function checkPoolRef(poolName: unknown, path: KeyPath, user: KeyPath, st: State): PoolPart | undefined {
  if (typeof poolName !== 'string' || !st.pools) return undefined;
  if (!st.pools.has(poolName)) {
    st.issues.push({ path, message: noPoolMessage(poolName, [...st.pools.keys()]) });
    return undefined;
  }
  const pool = st.pools.get(poolName);
  if (!pool) return undefined;
  serversOf(pool).forEach((s, k) => {
    const at = s?.fields.address;
    if (!at || isIP(at.host) !== 0) return;
    const key = `${poolName}\0${k}`;
    if (st.hostNamesReported.has(key)) return;
    st.hostNamesReported.add(key);
    st.issues.push({
      path: ['pools', poolName, 'servers', k, 'address'],
      message: `pool \`${poolName}\` answers DNS queries (${formatPath(user)}), which give out its servers' addresses, so each must be an IP address, not the host name "${at.host}"`,
    });
  });
  return pool;
}

function checkPoolName(p: Parsed<typeof poolNameFields>, path: KeyPath, st: State): void {
  const poolName = p.fields.pool;
  const pool = checkPoolRef(poolName, [...path, 'pool'], path, st);

  const policy = p.fields.policy;
  if (policy !== undefined && poolName !== undefined) {
    const uses = `this name uses policy ${policy}${p.given('policy') ? '' : ' (the default)'}`;
    if (p.given('subset') && policy !== 'subset') {
      st.issues.push({ path: [...path, 'subset'], at: 'key', message: `subset is used only by policy: subset, and ${uses}: remove \`subset\` or set \`policy: subset\`` });
    }
    if (p.given('groups') && policy !== 'failover') {
      st.issues.push({ path: [...path, 'groups'], at: 'key', message: `groups are used only by policy: failover, and ${uses}: remove \`groups\` or set \`policy: failover\`` });
    }
    if (policy === 'failover') {
      if (!p.given('groups')) {
        st.issues.push({ path: [...path, 'groups'], message: 'missing required key `groups`: policy failover answers from the first group with a usable server, e.g. groups: [[S1], [S2]]' });
      } else {
        checkGroups(p, [...path, 'groups'], pool, poolName, st.issues);
      }
      for (const key of ['steering', 'steering_file', 'geoip'] as const) {
        if (!p.given(key)) continue;
        st.issues.push({
          path: [...path, key],
          at: 'key',
          message: `${key} answers from another pool by the client's network, and failover groups name servers of pool \`${poolName}\` only: steer with policy all, subset or weighted, or remove \`${key}\``,
        });
      }
    }
  }

  const cidrs = new Map<string, number>();
  const steering = poolNameFields.shape.steering.unwrap().element;
  parseEach(steering, p.raw.steering).forEach((e, k) => {
    if (!e) return;
    checkPoolRef(e.fields.pool, [...path, 'steering', k, 'pool'], path, st);
    const cidr = e.fields.cidr;
    if (cidr === undefined) return;
    const first = cidrs.get(cidr);
    if (first !== undefined) st.issues.push({ path: [...path, 'steering', k, 'cidr'], message: `${cidr} is already steered by steering[${first}]: keep one of them` });
    else cidrs.set(cidr, k);
  });

  if (isObj(p.raw.geoip)) {
    const geoip = p.raw.geoip;
    let mapped = 0;
    for (const kind of ['countries', 'continents'] as const) {
      const codes = geoip[kind];
      if (!isObj(codes)) {
        if (codes !== undefined) mapped++; // the schema reports it
        continue;
      }
      for (const [code, target] of Object.entries(codes)) {
        mapped++;
        checkPoolRef(target, [...path, 'geoip', kind, code], path, st);
      }
    }
    if (mapped === 0) {
      st.issues.push({ path: [...path, 'geoip'], message: 'geoip maps no country and no continent to a pool: add `countries` or `continents`, or remove `geoip`' });
    }
  }
}

/** Failover groups: names of servers of the pool, each in one group at most. */
function checkGroups(p: Parsed<typeof poolNameFields>, path: KeyPath, pool: PoolPart | undefined, poolName: string, issues: PathIssue[]): void {
  const groups = p.fields.groups;
  const raw = p.raw.groups;
  if (!groups || !pool) return;
  const names = serverNames(pool);
  const seen = new Map<string, number>();
  groups.forEach((group, g) => {
    const alone = typeof (raw as unknown[])[g] === 'string';
    group.forEach((server, n) => {
      const at: KeyPath = alone ? [...path, g] : [...path, g, n];
      if (!names.includes(server)) {
        issues.push({ path: at, message: `pool \`${poolName}\` has no server named \`${server}\`${didYouMean(server, names)}` });
        return;
      }
      const first = seen.get(server);
      if (first !== undefined) {
        issues.push({ path: at, message: `server \`${server}\` is already in groups[${first}]: a server belongs to one group at most` });
        return;
      }
      seen.set(server, g);
    });
  });
}
