import assert from 'node:assert/strict';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { formatIssue, loadConfigFile, loadConfigText } from '../../src/config/load.js';
import type { Config, ConfigIssue, DnsConfig, DnsPoolNameConfig, ZoneConfig } from '../../src/config/types.js';
import { configOk } from '../helpers/config.js';

const FILE = 'dns.yaml';

/** Lines 1..4: a DNS-only file down to its first zone's origin. */
const HEAD = `dns:
  listen: [127.0.0.1:5300]
  zones:
    - origin: example.com
`;

/** Pool `web` (S1, S2 with IP addresses), after the zone. */
const POOLS = `pools:
  web:
    servers:
      - {name: S1, address: 192.0.2.11:80}
      - {name: S2, address: 192.0.2.12:80}
`;

/** A file whose first zone holds `lines`: lines[0] is line 5, its key at column 7. */
function zone(...lines: string[]): string {
  return HEAD + lines.map((l) => `      ${l}\n`).join('') + POOLS;
}

/**
 * A zone with records written in flow style, one per line: records[i] is on line 6 + i,
 * its `{` at column 11, so `name`'s value is at column 18.
 */
function records(...flows: string[]): string {
  return zone('records:', ...flows.map((f) => `  - ${f}`));
}

/** A zone with pool-backed names in flow style: pools[i] on line 6 + i, `{` at column 11. */
function pooled(...flows: string[]): string {
  return zone('pools:', ...flows.map((f) => `  - ${f}`));
}

const ok = (text: string): Config => configOk(text, FILE);

function dns(text: string): DnsConfig {
  const d = ok(text).dns;
  assert.ok(d);
  return d;
}

function firstZone(text: string): ZoneConfig {
  return dns(text).zones[0]!;
}

/** The single issue of a text, asserting there is exactly one. */
function only(text: string): ConfigIssue {
  const { issues, config } = loadConfigText(text, FILE);
  assert.equal(config, undefined);
  assert.equal(issues.length, 1, issues.map(formatIssue).join('\n'));
  return issues[0]!;
}

/** [line, column, path, message] of the single issue. */
function at(text: string): [number, number, string, string] {
  const i = only(text);
  return [i.line, i.column, i.path, i.message];
}

/** Every issue as "LINE:COLUMN PATH: MESSAGE". */
function all(text: string): string[] {
  const { issues, config } = loadConfigText(text, FILE);
  assert.equal(config, undefined);
  return issues.map((i) => `${i.line}:${i.column} ${i.path}: ${i.message}`);
}

const DEFAULT_SOA = { mname: 'ns1.example.com.', rname: 'hostmaster.example.com.', serial: 1, refresh: 3600, retry: 600, expire: 604800, minimum: 60, ttl: 3600 };

const DEFAULT_POOL_NAME: Omit<DnsPoolNameConfig, 'name' | 'pool'> = {
  ttl: 30,
  policy: 'all',
  subsetSize: 1,
  subsetMode: 'rotate',
  groups: [],
  whenNoneUsable: 'all',
  steering: [],
  steeringFile: null,
  geoip: null,
};

describe('dns: defaults', () => {
  it('is null without a dns section', () => {
    const config = ok(`listeners:\n  - {name: www, bind: ":8080", routes: [{pool: web}]}\n${POOLS}`);
    assert.equal(config.dns, null);
  });

  it('fills every default of a minimal zone, with an NS record naming the SOA mname', () => {
    const config = ok(zone('pools: [{name: www, pool: web}]'));
    assert.deepEqual(config.listeners, []);
    assert.deepEqual(config.dns, {
      listen: [{ host: '127.0.0.1', port: 5300 }],
      tcpIdleMs: 10_000,
      tcpMessageMs: 5_000,
      tcpMaxConnections: 1024,
      tcpMaxPerClient: 32,
      zones: [
        {
          origin: 'example.com.',
          soa: DEFAULT_SOA,
          records: [{ name: 'example.com.', type: 'NS', ttl: 3600, data: 'ns1.example.com.' }],
          pools: [{ name: 'www.example.com.', pool: 'web', ...DEFAULT_POOL_NAME }],
          transfer: false,
        },
      ],
    } satisfies DnsConfig);
  });

  it('adds no NS record when the zone lists one at its apex, and none of its own elsewhere', () => {
    const z = firstZone(records('{name: "@", type: NS, data: ns.example.net.}', '{name: "@", type: NS, data: ns2}'));
    assert.deepEqual(
      z.records.map((r) => `${r.name} ${r.type} ${String(r.data)}`),
      ['example.com. NS ns.example.net.', 'example.com. NS ns2.example.com.'],
    );
  });

  it('serves DNS only: a file with a dns section needs neither listeners nor pools', () => {
    const config = ok(`${HEAD}      records: [{name: www, type: A, data: 192.0.2.1}]\n`);
    assert.deepEqual(config.listeners, []);
    assert.equal(config.pools.size, 0);
    assert.equal(config.dns!.zones[0]!.records.length, 2);
  });

  it('still wants listeners and pools without a dns section', () => {
    assert.deepEqual(all('pools: {}\n'), ['1:1 listeners: missing required key `listeners` (a file without listeners needs a `dns` section)']);
    assert.deepEqual(all('listeners: []\n'), [
      '1:1 pools: missing required key `pools`',
      '1:12 listeners: at least one listener is needed, e.g. `- {name: www, bind: ":8080", routes: [{pool: web}]}` (or a `dns` section)',
    ]);
  });

  it('serves DNS beside HTTP listeners', () => {
    const config = ok(`listeners:\n  - {name: www, bind: "127.0.0.1:8080", routes: [{pool: web}]}\n${HEAD}      pools: [{name: www, pool: web}]\n${POOLS}`);
    assert.equal(config.listeners.length, 1);
    assert.equal(config.dns!.zones[0]!.pools[0]!.pool, 'web');
  });
});

describe('dns: normalisation', () => {
  it('writes origins lower-case and absolute, and joins relative names to them', () => {
    const d = dns(`dns:
  listen: [127.0.0.1:5300]
  zones:
    - origin: Example.COM.
      records:
        - {name: "@", type: A, data: 192.0.2.1}
        - {name: WWW, type: A, data: 192.0.2.2}
        - {name: _http._tcp.Www, type: SRV, data: {priority: 1, weight: 2, port: 80, target: WWW}}
        - {name: Host.Example.COM., type: cname, data: Other.Example.NET.}
    - origin: example.org
      soa: {mname: NS1.Example.NET., rname: Admin@Example.ORG}
    - origin: "."
      records: [{name: localhost, type: A, data: 127.0.0.1}]
`);
    const [com, org, root] = d.zones;
    assert.deepEqual(
      [com!.origin, org!.origin, root!.origin],
      ['example.com.', 'example.org.', '.'],
    );
    assert.deepEqual(
      com!.records.map((r) => [r.name, r.type, r.data]),
      [
        ['example.com.', 'NS', 'ns1.example.com.'],
        ['example.com.', 'A', '192.0.2.1'],
        ['www.example.com.', 'A', '192.0.2.2'],
        ['_http._tcp.www.example.com.', 'SRV', { priority: 1, weight: 2, port: 80, target: 'www.example.com.' }],
        ['host.example.com.', 'CNAME', 'other.example.net.'],
      ],
    );
    assert.deepEqual([org!.soa.mname, org!.soa.rname], ['ns1.example.net.', 'admin.example.org.']);
    assert.deepEqual([root!.soa.mname, root!.soa.rname], ['ns1.', 'hostmaster.']);
    assert.deepEqual(root!.records[1], { name: 'localhost.', type: 'A', ttl: 3600, data: '127.0.0.1' });
  });

  it('normalises record data per type', () => {
    const z = firstZone(
      records(
        '{name: v6, type: AAAA, data: "2001:DB8:0:0::0001"}',
        '{name: "@", type: TXT, data: "v=spf1 -all"}',
        '{name: t, type: TXT, data: ["a", "", "ünïcode"]}',
        '{name: "@", type: MX, data: {preference: 10, exchange: mail}}',
        '{name: nomail, type: MX, data: {preference: 0, exchange: .}}',
        '{name: "@", type: CAA, data: {tag: issue, value: letsencrypt.org}}',
        '{name: "@", type: CAA, data: {flags: 128, tag: iodef, value: "mailto:security@example.com"}}',
        '{name: docs, type: CNAME, data: "@"}',
      ),
    );
    assert.deepEqual(
      z.records.slice(1).map((r) => r.data),
      [
        '2001:db8::1',
        ['v=spf1 -all'],
        ['a', '', 'ünïcode'],
        { preference: 10, exchange: 'mail.example.com.' },
        { preference: 0, exchange: '.' },
        { flags: 0, tag: 'issue', value: 'letsencrypt.org' },
        { flags: 128, tag: 'iodef', value: 'mailto:security@example.com' },
        'example.com.',
      ],
    );
  });

  it('reads TTLs and SOA timers as seconds, with or without units', () => {
    const z = firstZone(
      zone(
        'soa: {serial: 4294967295, refresh: 2h, retry: 15m, expire: 2w, minimum: "300", ttl: 1d}',
        'records:',
        '  - {name: a, type: A, data: 192.0.2.1, ttl: 0}',
        '  - {name: b, type: A, data: 192.0.2.1, ttl: 1h30m}',
        '  - {name: c, type: A, data: 192.0.2.1, ttl: 2147483647}',
        'pools: [{name: www, pool: web, ttl: 5s}]',
      ),
    );
    assert.deepEqual(z.soa, { ...DEFAULT_SOA, serial: 4294967295, refresh: 7200, retry: 900, expire: 1_209_600, minimum: 300, ttl: 86400 });
    assert.deepEqual(
      z.records.map((r) => r.ttl),
      [86400, 0, 5400, 2147483647],
    );
    assert.equal(z.pools[0]!.ttl, 5);
  });

  it('reads listen addresses: HOST:PORT, a bare address (port 53), ":PORT", IPv6 in brackets, port 0', () => {
    const d = dns(`dns:
  listen: ["127.0.0.1:5300", "::1", "192.0.2.1", ":0", "[::1]:5353", "localhost:5301"]
  tcp_idle_timeout: 2s
  tcp_message_timeout: 1500ms
  tcp_max_connections: 200
  tcp_max_per_client: 4
  zones: [{origin: example.com}]
`);
    assert.deepEqual([d.tcpMessageMs, d.tcpMaxConnections, d.tcpMaxPerClient], [1500, 200, 4]);
    assert.deepEqual(d.listen, [
      { host: '127.0.0.1', port: 5300 },
      { host: '::1', port: 53 },
      { host: '192.0.2.1', port: 53 },
      { host: '0.0.0.0', port: 0 },
      { host: '::1', port: 5353 },
      { host: 'localhost', port: 5301 },
    ]);
    assert.equal(d.tcpIdleMs, 2000);
    assert.deepEqual(dns('dns: {listen: "127.0.0.1:53", zones: [{origin: example.com}]}\n').listen, [{ host: '127.0.0.1', port: 53 }]);
  });

  it('fills every key of a pool-backed name: subset, failover groups, steering, GeoIP', () => {
    const text = `dns:
  listen: [127.0.0.1:5300]
  zones:
    - origin: example.com
      transfer: true
      pools:
        - name: "@"
          pool: web
          policy: subset
          subset: {size: 2, mode: weighted-random}
          when_none_usable: none
          steering:
            - {cidr: 198.51.100.0/24, pool: eu}
            - {cidr: 203.0.113.7, pool: eu}
            - {cidr: "2001:DB8::/32", pool: eu}
          steering_file: tables/steering.txt
          geoip: {database: /var/lib/GeoLite2-Country.mmdb, countries: {de: eu, FR: eu}, continents: {eu: eu}}
        - {name: www, pool: web, policy: failover, groups: [S2, [S1]], ttl: 10}
        - {name: w, pool: web, policy: weighted}
pools:
  web:
    servers:
      - {name: S1, address: 192.0.2.11:80}
      - {name: S2, address: "[2001:db8::12]:80"}
  eu:
    servers: [{address: 198.51.100.1:80}]
`;
    const { config, issues } = loadConfigText(text, '/etc/fulcrum/lb.yaml');
    assert.deepEqual(issues, []);
    const z = config!.dns!.zones[0]!;
    assert.equal(z.transfer, true);
    assert.deepEqual(z.pools, [
      {
        name: 'example.com.',
        pool: 'web',
        ttl: 30,
        policy: 'subset',
        subsetSize: 2,
        subsetMode: 'weighted-random',
        groups: [],
        whenNoneUsable: 'none',
        steering: [
          { cidr: '198.51.100.0/24', pool: 'eu' },
          { cidr: '203.0.113.7/32', pool: 'eu' },
          { cidr: '2001:db8::/32', pool: 'eu' },
        ],
        steeringFile: '/etc/fulcrum/tables/steering.txt',
        geoip: { database: '/var/lib/GeoLite2-Country.mmdb', countries: { DE: 'eu', FR: 'eu' }, continents: { EU: 'eu' } },
      },
      { ...DEFAULT_POOL_NAME, name: 'www.example.com.', pool: 'web', ttl: 10, policy: 'failover', groups: [['S2'], ['S1']] },
      { ...DEFAULT_POOL_NAME, name: 'w.example.com.', pool: 'web', policy: 'weighted' },
    ]);
  });

  it('resolves a relative steering file against the working directory for text without a directory', () => {
    const z = firstZone(zone('pools: [{name: www, pool: web, steering_file: steering.txt}]'));
    assert.equal(z.pools[0]!.steeringFile, resolve('steering.txt'));
  });

  it('names default servers s1, s2, ... in failover groups', () => {
    const z = firstZone(`${HEAD}      pools: [{name: www, pool: p, policy: failover, groups: [[s1], [s2]]}]\npools:\n  p:\n    servers: [{address: 192.0.2.1:80}, {address: 192.0.2.2:80}]\n`);
    assert.deepEqual(z.pools[0]!.groups, [['s1'], ['s2']]);
  });
});

describe('dns: names', () => {
  it('refuses a relative name that already ends in the origin, naming both spellings meant', () => {
    assert.deepEqual(at(records('{name: www.example.com, type: A, data: 192.0.2.1}')), [
      6,
      18,
      'dns.zones[0].records[0].name',
      '"www.example.com" has no trailing dot, so it is relative to the zone and means www.example.com.example.com.: write "www", or "www.example.com." with the dot',
    ]);
    assert.deepEqual(at(records('{name: "@", type: CNAME, data: www}')).slice(2), [
      'dns.zones[0].records[0].type',
      'a CNAME cannot be at the zone\'s apex, which always holds the SOA and NS records (RFC 1034 section 3.6.2); to answer for `example.com.` from a pool, use a pool-backed name with name: "@"',
    ]);
    assert.deepEqual(at(records('{name: docs, type: CNAME, data: Example.com}')), [
      6,
      43,
      'dns.zones[0].records[0].data',
      '"example.com" has no trailing dot, so it is relative to the zone and means example.com.example.com.: write "@", or "example.com." with the dot',
    ]);
    assert.deepEqual(at(zone('soa: {mname: ns1.example.com}')), [
      5,
      20,
      'dns.zones[0].soa.mname',
      '"ns1.example.com" has no trailing dot, so it is relative to the zone and means ns1.example.com.example.com.: write "ns1", or "ns1.example.com." with the dot',
    ]);
  });

  it('checks labels: characters, empty labels, wildcards, 63 characters', () => {
    const long = 'a'.repeat(64);
    assert.deepEqual(all(records('{name: "w w", type: A, data: 192.0.2.1}', '{name: "a..b", type: A, data: 192.0.2.1}', '{name: "*.x", type: A, data: 192.0.2.1}', `{name: ${long}, type: A, data: 192.0.2.1}`, '{name: .x, type: A, data: 192.0.2.1}')), [
      '6:18 dns.zones[0].records[0].name: invalid name "w w": a label holds letters, digits, "-" and "_" only (labels are separated by ".")',
      '7:18 dns.zones[0].records[1].name: invalid name "a..b": it has an empty label (two dots in a row)',
      '8:18 dns.zones[0].records[2].name: invalid name "*.x": wildcard names are not supported; list each name',
      `9:18 dns.zones[0].records[3].name: invalid name "${long}": the label "aaaaaaaaaaaa..." is 64 characters long, and a label holds at most 63`,
      '10:18 dns.zones[0].records[4].name: invalid name ".x": a name cannot start with "."',
    ]);
  });

  it('limits a name to 255 bytes once joined to the origin', () => {
    const label = 'a'.repeat(63);
    // 4 labels of 63 + "example.com." would be 4 * 64 + 13 = 269 bytes in wire format.
    const name = [label, label, label, label].join('.');
    assert.deepEqual(at(records(`{name: ${name}, type: A, data: 192.0.2.1}`)).slice(0, 3), [6, 18, 'dns.zones[0].records[0].name']);
    assert.match(only(records(`{name: ${name}, type: A, data: 192.0.2.1}`)).message, /is too long: a DNS name holds at most 255 bytes/);
    // Three labels fit: 3 * 64 + 13 = 205 bytes.
    ok(records(`{name: ${[label, label, label].join('.')}, type: A, data: 192.0.2.1}`));
  });

  it('keeps names inside their zone, and out of a more specific zone of the file', () => {
    const text = `dns:
  listen: [127.0.0.1:5300]
  zones:
    - origin: example.com
      records:
        - {name: www.example.net., type: A, data: 192.0.2.1}
        - {name: a.sub, type: A, data: 192.0.2.1}
      pools: [{name: x.sub.example.com., pool: web}]
    - origin: sub.example.com
${POOLS}`;
    assert.deepEqual(all(text), [
      '6:18 dns.zones[0].records[0].name: `www.example.net.` is outside zone `example.com.`: write a name relative to the zone, such as "www", or an absolute one ending in ".example.com."',
      '7:18 dns.zones[0].records[1].name: `a.sub.example.com.` is in zone `sub.example.com.` (dns.zones[1]), which is more specific and answers every query for it: move this entry to that zone',
      '8:22 dns.zones[0].pools[0].name: `x.sub.example.com.` is in zone `sub.example.com.` (dns.zones[1]), which is more specific and answers every query for it: move this entry to that zone',
    ]);
  });

  it('refuses a zone served twice', () => {
    const text = `dns:\n  listen: [127.0.0.1:5300]\n  zones:\n    - origin: example.com\n    - origin: EXAMPLE.com.\n`;
    assert.deepEqual(at(text), [5, 15, 'dns.zones[1].origin', 'zone `example.com.` is already served by dns.zones[0]: put its records and pools in one zone']);
  });

  it('checks origins and SOA mailboxes', () => {
    const text = `dns:
  listen: [127.0.0.1:5300]
  zones:
    - origin: "@"
    - origin: example.com
      soa: {rname: first.last@example.com}
    - origin: example.net
      soa: {rname: "@example.net"}
`;
    assert.deepEqual(all(text), [
      '4:15 dns.zones[0].origin: "@" stands for the origin itself: write the zone\'s name, e.g. "example.com"',
      '6:20 dns.zones[1].soa.rname: the mailbox "first.last@example.com" has a "." before "@", which the SOA record cannot hold here: use a mailbox without one, such as hostmaster@example.com',
      '8:20 dns.zones[2].soa.rname: invalid mailbox "@example.net": the part before "@" holds letters, digits, "-" and "_" only',
    ]);
  });
});

describe('dns: record data', () => {
  it('wants IPv4 in A and IPv6 in AAAA records, one address each', () => {
    assert.deepEqual(all(records('{name: a, type: A, data: "2001:db8::1"}', '{name: b, type: AAAA, data: 192.0.2.1}', '{name: c, type: A, data: [192.0.2.1, 192.0.2.2]}', '{name: d, type: A, data: 192.0.2.300}', '{name: e, type: AAAA, data: "fe80::1%eth0"}')), [
      '6:36 dns.zones[0].records[0].data: "2001:db8::1" is an IPv6 address: it goes in an AAAA record',
      '7:39 dns.zones[0].records[1].data: "192.0.2.1" is an IPv4 address: it goes in an A record',
      '8:36 dns.zones[0].records[2].data: one address per record: write a record for each address',
      '9:36 dns.zones[0].records[3].data: expected an IPv4 address such as "192.0.2.1", got the string "192.0.2.300"',
      '10:39 dns.zones[0].records[4].data: expected an IPv6 address such as "2001:db8::1", got the string "fe80::1%eth0"',
    ]);
  });

  it('checks MX, SRV and CAA fields and ranges, key by key', () => {
    assert.deepEqual(
      all(
        records(
          '{name: "@", type: MX, data: {preference: 65536, exchang: mail}}',
          '{name: _s._tcp, type: SRV, data: {priority: -1, weight: 1.5, port: 70000, target: "a b"}}',
          '{name: "@", type: CAA, data: {flags: 256, tag: "is-sue", value: 5}}',
          '{name: x, type: MX, data: "10 mail.example.com."}',
        ),
      ),
      [
        '6:39 dns.zones[0].records[0].data.exchange: missing required key `exchange`',
        '6:52 dns.zones[0].records[0].data.preference: must be an integer from 0 to 65535, got 65536',
        '6:59 dns.zones[0].records[0].data.exchang: unknown key `exchang`; did you mean `exchange`?',
        '7:55 dns.zones[0].records[1].data.priority: must be an integer from 0 to 65535, got -1',
        '7:67 dns.zones[0].records[1].data.weight: must be an integer from 0 to 65535, got 1.5',
        '7:78 dns.zones[0].records[1].data.port: must be an integer from 0 to 65535, got 70000',
        '7:93 dns.zones[0].records[1].data.target: invalid name "a b": a label holds letters, digits, "-" and "_" only (labels are separated by ".")',
        '8:48 dns.zones[0].records[2].data.flags: must be an integer from 0 to 255, got 256',
        '8:58 dns.zones[0].records[2].data.tag: expected a CAA tag such as issue, issuewild or iodef (1 to 15 letters and digits), got the string "is-sue"',
        '8:75 dns.zones[0].records[2].data.value: expected text such as "letsencrypt.org", got 5; quote it',
        '9:37 dns.zones[0].records[3].data: MX data is a mapping such as {preference: 10, exchange: mail.example.com.}, got the string "10 mail.example.com."',
      ],
    );
  });

  it('limits TXT strings to 255 bytes, counting UTF-8 bytes', () => {
    const ascii = 'a'.repeat(256);
    const utf8 = 'é'.repeat(128); // 256 bytes
    assert.deepEqual(all(records(`{name: a, type: TXT, data: ${ascii}}`, `{name: b, type: TXT, data: [ok, "${utf8}", 5]}`, '{name: c, type: TXT, data: []}')), [
      '6:38 dns.zones[0].records[0].data: this string is 256 bytes long, and a TXT string holds at most 255: split it into a list of strings (["first part", "second part"]), which clients join',
      '7:43 dns.zones[0].records[1].data[1]: this string is 256 bytes long, and a TXT string holds at most 255: split it into a list of strings (["first part", "second part"]), which clients join',
      '7:175 dns.zones[0].records[1].data[2]: expected text, got 5; quote it',
      '8:38 dns.zones[0].records[2].data: the list is empty: a TXT record holds at least one string (it may be "")',
    ]);
    ok(records(`{name: a, type: TXT, data: ${'a'.repeat(255)}}`));
  });

  it('names the supported types, and where the SOA goes', () => {
    assert.deepEqual(all(records('{name: a, type: PTR, data: x}', '{name: b, type: AAA, data: x}', '{name: "@", type: SOA, data: x}', '{name: c, type: A}')), [
      '6:27 dns.zones[0].records[0].type: record type "PTR" is not supported (types: A, AAAA, CNAME, MX, NS, TXT, SRV, CAA)',
      '7:27 dns.zones[0].records[1].type: record type "AAA" is not supported (types: A, AAAA, CNAME, MX, NS, TXT, SRV, CAA); did you mean `AAAA`?',
      '8:29 dns.zones[0].records[2].type: the SOA record is the zone\'s `soa` key, not one of its records',
      '9:11 dns.zones[0].records[3].data: missing required key `data`',
    ]);
  });

  it('keeps NS records at the apex', () => {
    assert.deepEqual(at(records('{name: sub, type: NS, data: ns1.example.net.}')), [
      6,
      29,
      'dns.zones[0].records[0].type',
      "NS records go at the zone's apex (\"@\"): one at `sub.example.com.` would delegate that name to other servers, which Fulcrum does not do; to serve `sub.example.com.`, make it a zone of its own",
    ]);
  });
});

describe('dns: names that share data', () => {
  it('refuses a CNAME beside other data (RFC 1034), whichever comes first', () => {
    assert.deepEqual(all(records('{name: docs, type: CNAME, data: www}', '{name: docs, type: TXT, data: hi}', '{name: d2, type: A, data: 192.0.2.1}', '{name: d2, type: CNAME, data: www}', '{name: d3, type: CNAME, data: a.}', '{name: d3, type: CNAME, data: b.}')), [
      '7:30 dns.zones[0].records[1].type: `docs.example.com.` has a CNAME record (records[0]), so it can hold no other data (RFC 1034 section 3.6.2): remove this record or the CNAME',
      '9:28 dns.zones[0].records[3].type: `d2.example.com.` already has an A record (records[2]), and a name with a CNAME can hold no other data (RFC 1034 section 3.6.2)',
      '11:28 dns.zones[0].records[5].type: `d3.example.com.` already has a CNAME record (records[4]), and a name with a CNAME can hold no other data (RFC 1034 section 3.6.2)',
    ]);
  });

  it('refuses a pool-backed name with a CNAME or static addresses, or listed twice', () => {
    const text = zone(
      'records:',
      '  - {name: docs, type: CNAME, data: www}',
      '  - {name: www, type: AAAA, data: "2001:db8::1"}',
      '  - {name: www, type: TXT, data: fine}',
      'pools:',
      '  - {name: docs, pool: web}',
      '  - {name: www, pool: web}',
      '  - {name: www, pool: web}',
    );
    assert.deepEqual(all(text), [
      '10:18 dns.zones[0].pools[0].name: `docs.example.com.` has a CNAME record (records[0]), so it can hold no other data (RFC 1034 section 3.6.2): remove the CNAME or this pool-backed name',
      '11:18 dns.zones[0].pools[1].name: `www.example.com.` also has an AAAA record (records[1]), and a pool-backed name\'s A and AAAA answers come from its pool alone: remove the static record or this pool-backed name',
      '12:18 dns.zones[0].pools[2].name: duplicate pool-backed name `www.example.com.`: pools[1] already answers for it',
    ]);
  });

  it('refuses duplicate records and a record set with two TTLs (RFC 2181)', () => {
    assert.deepEqual(all(records('{name: a, type: A, data: 192.0.2.1}', '{name: A., type: A, data: 192.0.2.1}', '{name: a, type: A, data: 192.0.2.2, ttl: 60}', '{name: b, type: A, data: 192.0.2.2, ttl: 60}', '{name: b, type: A, data: 192.0.2.3}')), [
      '7:18 dns.zones[0].records[1].name: `a.` is outside zone `example.com.`: write a name relative to the zone, such as "www", or an absolute one ending in ".example.com."',
      '8:52 dns.zones[0].records[2].ttl: the A records of `a.example.com.` form one set with one TTL (RFC 2181 section 5.2), but records[0] has ttl 3600 and this one 60: give them the same ttl',
      '10:11 dns.zones[0].records[4]: the A records of `b.example.com.` form one set with one TTL (RFC 2181 section 5.2), but records[3] has ttl 60 and this one 3600 (the default): give them the same ttl',
    ]);
    assert.deepEqual(all(records('{name: a, type: A, data: 192.0.2.1}', '{name: A.example.com., type: A, data: 192.0.2.1}')), [
      '7:11 dns.zones[0].records[1]: duplicate record: records[0] has the same name, type and data',
    ]);
  });

  it('refuses MX, NS and SRV targets that are aliases (RFC 2181 section 10.3)', () => {
    assert.deepEqual(all(records('{name: mail, type: CNAME, data: mx.example.net.}', '{name: "@", type: MX, data: {preference: 10, exchange: mail}}', '{name: _s._tcp, type: SRV, data: {priority: 0, weight: 0, port: 25, target: mail.example.com.}}')), [
      '7:66 dns.zones[0].records[1].data.exchange: `mail.example.com.` is an alias (the CNAME at dns.zones[0].records[0]), and an MX record must name a host, not an alias (RFC 2181 section 10.3): give the CNAME\'s target instead',
      '8:87 dns.zones[0].records[2].data.target: `mail.example.com.` is an alias (the CNAME at dns.zones[0].records[0]), and a SRV record must name a host, not an alias (RFC 2181 section 10.3): give the CNAME\'s target instead',
    ]);
    assert.match(only(records('{name: loop, type: CNAME, data: loop}')).message, /points at its own name, `loop.example.com.`/);
  });
});

describe('dns: pool-backed names', () => {
  it('names an existing pool, with a suggestion', () => {
    assert.deepEqual(at(pooled('{name: www, pool: wbe}')), [6, 29, 'dns.zones[0].pools[0].pool', 'no pool named `wbe`; did you mean `web`?']);
  });

  it('needs IP addresses for the servers of pools it answers with, pointing at each server once', () => {
    const text = `${HEAD}      pools:
        - {name: www, pool: named}
        - {name: w2, pool: named}
        - {name: w3, pool: web, steering: [{cidr: 10.0.0.0/8, pool: eu}]}
pools:
  named:
    servers:
      - {address: "web1.internal:80"}
      - {address: 192.0.2.1:80}
      - {address: "web3.internal:80"}
  web:
    servers: [{address: 192.0.2.2:80}]
  eu:
    servers: [{address: "eu.internal:80"}]
`;
    assert.deepEqual(all(text), [
      '12:19 pools.named.servers[0].address: pool `named` answers DNS queries (dns.zones[0].pools[0]), which give out its servers\' addresses, so each must be an IP address, not the host name "web1.internal"',
      '14:19 pools.named.servers[2].address: pool `named` answers DNS queries (dns.zones[0].pools[0]), which give out its servers\' addresses, so each must be an IP address, not the host name "web3.internal"',
      '18:25 pools.eu.servers[0].address: pool `eu` answers DNS queries (dns.zones[0].pools[2]), which give out its servers\' addresses, so each must be an IP address, not the host name "eu.internal"',
    ]);
  });

  it('checks the policy, the subset size and the TTL range', () => {
    assert.deepEqual(all(pooled('{name: a, pool: web, policy: random}', '{name: b, pool: web, policy: subset, subset: {size: 0, mode: rotated}}', '{name: c, pool: web, ttl: 2147483648}', '{name: d, pool: web, ttl: -1}')), [
      '6:40 dns.zones[0].pools[0].policy: expected one of `all`, `subset`, `weighted`, `failover`, got the string "random"',
      '7:63 dns.zones[0].pools[1].subset.size: must be an integer from 1 to 65535, got 0',
      '7:72 dns.zones[0].pools[1].subset.mode: expected one of `rotate`, `weighted-random`, got the string "rotated"; did you mean `rotate`?',
      '8:37 dns.zones[0].pools[2].ttl: must be a whole number of seconds from 0 to 2147483647, or a time with a unit such as "30s", "5m", "1h" or "1d", got 2147483648',
      '9:37 dns.zones[0].pools[3].ttl: must be a whole number of seconds from 0 to 2147483647, or a time with a unit such as "30s", "5m", "1h" or "1d", got -1',
    ]);
  });

  it('refuses keys of another policy', () => {
    assert.deepEqual(all(pooled('{name: a, pool: web, subset: {size: 1}}', '{name: b, pool: web, policy: weighted, groups: [[S1]]}', '{name: c, pool: web, policy: failover}')), [
      '6:32 dns.zones[0].pools[0].subset: subset is used only by policy: subset, and this name uses policy all (the default): remove `subset` or set `policy: subset`',
      '7:50 dns.zones[0].pools[1].groups: groups are used only by policy: failover, and this name uses policy weighted: remove `groups` or set `policy: failover`',
      '8:11 dns.zones[0].pools[2].groups: missing required key `groups`: policy failover answers from the first group with a usable server, e.g. groups: [[S1], [S2]]',
    ]);
  });

  it('checks failover groups against the pool\'s servers, each in one group', () => {
    assert.deepEqual(all(pooled('{name: a, pool: web, policy: failover, groups: [S1, [S3, s2], [S1]]}', '{name: b, pool: web, policy: failover, groups: [[], 5]}')), [
      '6:64 dns.zones[0].pools[0].groups[1][0]: pool `web` has no server named `S3`; did you mean `S1`?',
      '6:68 dns.zones[0].pools[0].groups[1][1]: pool `web` has no server named `s2`; did you mean `S2`?',
      '6:74 dns.zones[0].pools[0].groups[2][0]: server `S1` is already in groups[0]: a server belongs to one group at most',
      '7:59 dns.zones[0].pools[1].groups[0]: the group is empty: list at least one server, or remove the group',
      '7:63 dns.zones[0].pools[1].groups[1]: expected a group (a list of server names such as [S2, S3]), got 5',
    ]);
  });

  it('does not steer failover names', () => {
    assert.deepEqual(at(pooled('{name: a, pool: web, policy: failover, groups: [[S1]], steering_file: /t.txt}')), [
      6,
      66,
      'dns.zones[0].pools[0].steering_file',
      "steering_file answers from another pool by the client's network, and failover groups name servers of pool `web` only: steer with policy all, subset or weighted, or remove `steering_file`",
    ]);
  });

  it('checks steering entries: CIDRs, pools, duplicates', () => {
    const text = zone(
      'pools:',
      '  - name: www',
      '    pool: web',
      '    steering:',
      '      - {cidr: 198.51.100.7/24, pool: web}',
      '      - {cidr: 198.51.100.0/24, pool: wbe}',
      '      - {cidr: 198.51.100.0/24, pool: web, weight: 1}',
      '      - {cidr: 198.51.100.0/24, pool: web}',
    );
    assert.deepEqual(all(text), [
      '9:22 dns.zones[0].pools[0].steering[0].cidr: "198.51.100.7/24" has bits set after the /24 prefix; did you mean "198.51.100.0/24"?',
      '10:45 dns.zones[0].pools[0].steering[1].pool: no pool named `wbe`; did you mean `web`?',
      '11:22 dns.zones[0].pools[0].steering[2].cidr: 198.51.100.0/24 is already steered by steering[1]: keep one of them',
      '11:50 dns.zones[0].pools[0].steering[2].weight: unknown key `weight` (expected one of: `cidr`, `pool`)',
      '12:22 dns.zones[0].pools[0].steering[3].cidr: 198.51.100.0/24 is already steered by steering[1]: keep one of them',
    ]);
  });

  it('checks GeoIP codes, pools and that something is mapped', () => {
    const text = zone(
      'pools:',
      '  - {name: a, pool: web, geoip: {database: /g.mmdb, countries: {DEU: web, de: wbe, DE: web}, continents: {EUR: web}}}',
      '  - {name: b, pool: web, geoip: {database: /g.mmdb}}',
      '  - {name: c, pool: web, geoip: {countries: {DE: web}}}',
    );
    assert.deepEqual(all(text), [
      '6:71 dns.zones[0].pools[0].geoip.countries.DEU: "DEU" is not a country code: use ISO 3166-1 alpha-2 codes such as DE or US',
      '6:90 dns.zones[0].pools[0].geoip.countries.DE: `DE` is the same code as `de` (codes ignore case): keep one of them',
      '6:113 dns.zones[0].pools[0].geoip.continents.EUR: "EUR" is not a continent code; did you mean `EU`?',
      '6:85 dns.zones[0].pools[0].geoip.countries.de: no pool named `wbe`; did you mean `web`?',
      '7:39 dns.zones[0].pools[1].geoip: geoip maps no country and no continent to a pool: add `countries` or `continents`, or remove `geoip`',
      '8:39 dns.zones[0].pools[2].geoip.database: missing required key `database`',
    ].sort(byPosition));
  });
});

/** Orders "LINE:COLUMN ..." lines the way issues are sorted. */
function byPosition(a: string, b: string): number {
  const [la, ca] = a.split(' ')[0]!.split(':').map(Number);
  const [lb, cb] = b.split(' ')[0]!.split(':').map(Number);
  return la! - lb! || ca! - cb!;
}

describe('dns: listen, timeouts and keys', () => {
  it('checks listen addresses and refuses clashes, also with a listener (TCP)', () => {
    const text = `listeners:
  - {name: www, bind: "0.0.0.0:8053", routes: [{pool: web}]}
dns:
  listen: ["127.0.0.1:5300", "127.0.0.1:5300", "127.0.0.1:8053", "127.0.0.1", "[::1]", "127.0.0.1:70000", 5300, "[::1]:0", "[::1]:0"]
  zones: [{origin: example.com}]
${POOLS}`;
    assert.deepEqual(all(text), [
      '4:30 dns.listen[1]: 127.0.0.1:5300 repeats listen[0] (127.0.0.1:5300): each address is served once',
      '4:48 dns.listen[2]: 127.0.0.1:8053 overlaps listeners[0] (0.0.0.0:8053): the DNS server listens on TCP there too, so give it another address or port',
      '4:79 dns.listen[4]: "[::1]": missing ":PORT" after the address, e.g. "127.0.0.1:8080"',
      '4:88 dns.listen[5]: port 70000 in "127.0.0.1:70000" is out of range: expected 0 to 65535',
      '4:107 dns.listen[6]: expected HOST:PORT such as "127.0.0.1:5300", got 5300',
    ]);
    assert.deepEqual(at('dns: {listen: [], zones: [{origin: example.com}]}\n'), [
      1,
      15,
      'dns.listen',
      'the list is empty: give at least one address to serve DNS on, e.g. ["127.0.0.1:53"]',
    ]);
  });

  it('wants listen and zones, a duration for tcp_idle_timeout, and suggests misspelt keys', () => {
    assert.deepEqual(all('dns:\n  tcp_idle_timeout: 10\n  zone: []\n'), [
      '2:3 dns.listen: missing required key `listen`',
      '2:3 dns.zones: missing required key `zones`',
      '2:21 dns.tcp_idle_timeout: duration 10 needs a unit: write "10ms" or "10s" (units: ms, s, m, h); only 0 may be written without one',
      '3:3 dns.zone: unknown key `zone`; did you mean `zones`?',
    ]);
    assert.deepEqual(all('dns: {listen: ":53", tcp_max_connections: 0, tcp_max_per_client: x, zones: [{origin: example.com}]}\n').map((m) => m.replace(/:.*?: /, ': ')).length, 2);
    assert.deepEqual(at('dns: {listen: ":53", zones: []}\n'), [1, 29, 'dns.zones', 'the DNS server needs at least one zone, e.g. `- {origin: example.com, records: [...]}`']);
    assert.deepEqual(all(zone('transfr: true', 'soa: {serail: 2}', 'records: [{name: a, type: A, data: 192.0.2.1, tll: 60}]', 'pools: [{name: b, pool: web, when_none: all}]')), [
      '5:7 dns.zones[0].transfr: unknown key `transfr`; did you mean `transfer`?',
      '6:13 dns.zones[0].soa.serail: unknown key `serail`; did you mean `serial`?',
      '7:53 dns.zones[0].records[0].tll: unknown key `tll`; did you mean `ttl`?',
      '8:36 dns.zones[0].pools[0].when_none: unknown key `when_none` (expected one of: `name`, `pool`, `ttl`, `policy`, `subset`, `groups`, `when_none_usable`, `steering`, `steering_file`, `geoip`)',
    ]);
  });

  it('checks SOA fields: serial range and DNS times', () => {
    assert.deepEqual(all(zone('soa: {serial: 4294967296, refresh: 1.5h, retry: 500ms, expire: 1d1w, minimum: [60]}')), [
      '5:21 dns.zones[0].soa.serial: must be an integer from 0 to 4294967295, got 4294967296',
      '5:42 dns.zones[0].soa.refresh: must be a whole number of seconds from 0 to 2147483647, or a time with a unit such as "30s", "5m", "1h" or "1d", got the string "1.5h": DNS times are whole seconds, so write "90m" rather than "1.5h"',
      '5:55 dns.zones[0].soa.retry: "500ms": DNS times are whole seconds, so milliseconds cannot be written',
      '5:70 dns.zones[0].soa.expire: "1d1w": write the units from largest to smallest, each once (w, d, h, m, s), e.g. "1h30m"',
      '5:85 dns.zones[0].soa.minimum: must be a whole number of seconds from 0 to 2147483647, or a time with a unit such as "30s", "5m", "1h" or "1d", got a list',
    ]);
  });

  it('reports DNS problems together with the rest of the file, in file order', () => {
    const text = `listeners:
  - {name: www, bind: ":8080", routes: [{pool: wbe}]}
dns:
  listen: [127.0.0.1:5300]
  zones:
    - origin: example.com
      records:
        - {name: www, type: A, data: 192.0.2.1}
      pools:
        - {name: www, pool: web, policy: subset, subset: {size: 0}}
pools:
  web:
    servers: [{address: 192.0.2.11:80, weight: 300}]
`;
    assert.deepEqual(loadConfigText(text, 'lb.yaml').issues.map(formatIssue), [
      'lb.yaml:2:48: listeners[0].routes[0].pool: no pool named `wbe`; did you mean `web`?',
      'lb.yaml:10:18: dns.zones[0].pools[0].name: `www.example.com.` also has an A record (records[0]), and a pool-backed name\'s A and AAAA answers come from its pool alone: remove the static record or this pool-backed name',
      'lb.yaml:10:65: dns.zones[0].pools[0].subset.size: must be an integer from 1 to 65535, got 0',
      'lb.yaml:13:48: pools.web.servers[0].weight: must be an integer from 0 to 256, got 300',
    ]);
  });
});

describe('examples/dns.yaml', () => {
  it('serves example.com on 127.0.0.1:5300 with www backed by S1 and S2, checked on / every second, rise 1, fall 1', async () => {
    const dir = fileURLToPath(new URL('../../../examples/', import.meta.url));
    const { config, issues } = await loadConfigFile(join(dir, 'dns.yaml'));
    assert.deepEqual(issues.map(formatIssue), []);
    const d = config!.dns!;
    assert.deepEqual(d.listen, [{ host: '127.0.0.1', port: 5300 }]);
    const z = d.zones[0]!;
    assert.equal(z.origin, 'example.com.');
    const www = z.pools.find((p) => p.name === 'www.example.com.')!;
    const web = config!.pools.get(www.pool)!;
    assert.deepEqual(
      web.servers.map((s) => `${s.name}=${s.host}:${s.port}`),
      ['S1=127.0.0.11:8081', 'S2=127.0.0.12:8081'],
    );
    const h = web.health!;
    assert.deepEqual([h.type, h.http.path, h.intervalMs, h.rise, h.fall], ['http', '/', 1_000, 1, 1]);
    const types = new Set(z.records.map((r) => r.type));
    for (const t of ['NS', 'A', 'MX', 'TXT', 'CAA', 'SRV', 'CNAME']) assert.ok(types.has(t as never), t);
  });
});
