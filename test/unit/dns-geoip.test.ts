/**
 * GeoIP steering of pool-backed names: the test MMDB writer read back by the `maxmind`
 * package, the database loader (missing, damaged, reloaded files), and the responder
 * choosing pools by country and continent under the CIDR table, with the ECS SCOPE of
 * the database network.
 */
import assert from 'node:assert/strict';
import { rmSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, it, type TestContext } from 'node:test';
import maxmind, { Reader, type CountryResponse } from 'maxmind';
import { Pool } from '../../src/backend/pool.js';
import type { DnsPoolNameConfig } from '../../src/config/types.js';
import { dnsConfig, poolConfig, poolName, zoneConfig } from '../../src/dns/build-config.js';
import { GeoIpDatabase, GeoIpSteering } from '../../src/dns/geoip.js';
import { TextClient } from '../../src/dns/policy.js';
import { decodeMessage, encodeQuery, type DecodedMessage, type QuerySpec } from '../../src/dns/message.js';
import { Responder } from '../../src/dns/responder.js';
import { TYPE } from '../../src/dns/wire.js';
import { countryRecord, encodeValue, SAMPLE_NETWORKS, u16, u64, writeMmdb, type MmdbNetwork } from '../helpers/mmdb-writer.js';
import { waitFor } from '../helpers/wait.js';
import { tempDir } from '../helpers/files.js';

function writeDb(file: string, networks: readonly MmdbNetwork[] = SAMPLE_NETWORKS): string {
  // Written beside, then renamed over: a reader never sees half a file.
  writeFileSync(`${file}.tmp`, writeMmdb(networks));
  renameSync(`${file}.tmp`, file);
  return file;
}


describe('mmdb writer (test helper) read back by the maxmind package', () => {
  it('writes the sample networks: records, prefix lengths and misses', async (t) => {
    const file = writeDb(join(tempDir('fulcrum-dns-geoip-', t).dir, 'sample.mmdb'));
    const reader = await maxmind.open<CountryResponse>(file);
    const cases: Array<[string, string | undefined, string | undefined, number]> = [
      ['192.0.2.5', 'DE', 'EU', 25],
      ['192.0.2.127', 'DE', 'EU', 25],
      ['198.51.100.7', 'US', 'NA', 24],
      ['203.0.113.9', undefined, 'OC', 24],
      ['2001:db8:1:2::1', 'DE', 'EU', 48],
    ];
    for (const [ip, country, continent, prefix] of cases) {
      const [rec, len] = reader.getWithPrefixLength(ip);
      assert.ok(rec !== null, ip);
      assert.equal(rec.country?.iso_code, country, ip);
      assert.equal(rec.continent?.code, continent, ip);
      assert.equal(len, prefix, ip);
    }
    assert.equal(reader.get('192.0.2.200'), null);
    assert.equal(reader.getWithPrefixLength('192.0.2.200')[1], 25);
    assert.equal(reader.get('10.0.0.1'), null);
    assert.equal(reader.get('2001:db8:2::1'), null);
    assert.deepEqual((reader.get('192.0.2.5') as CountryResponse).country?.names, { en: 'country DE' });
  });

  it('writes the metadata map', () => {
    const buf = writeMmdb(SAMPLE_NETWORKS, { databaseType: 'Test-Type', description: 'hello', languages: ['en', 'de'], buildEpoch: 1_700_000_000 });
    const md = new Reader(buf).metadata;
    assert.equal(md.binaryFormatMajorVersion, 2);
    assert.equal(md.binaryFormatMinorVersion, 0);
    assert.equal(md.ipVersion, 6);
    assert.equal(md.recordSize, 24);
    assert.equal(md.nodeByteSize, 6);
    assert.equal(md.databaseType, 'Test-Type');
    assert.deepEqual(md.languages, ['en', 'de']);
    assert.deepEqual(md.description, { en: 'hello' } as unknown);
    assert.equal(md.buildEpoch.getTime(), 1_700_000_000_000);
    assert.equal(md.searchTreeSize, md.nodeCount * 6);
    assert.ok(md.nodeCount > 96, 'IPv4 sits below 96 zero bits');
  });

  it('nested networks, long strings, big maps and every scalar type survive the round trip', () => {
    const big: { [k: string]: string } = {};
    for (let i = 0; i < 40; i++) big[`k${i}`] = `v${i}`;
    const value = {
      long: 'x'.repeat(300),
      longer: 'y'.repeat(70_000),
      big,
      list: ['a', 'b', 3],
      n16: u16(65_535),
      n32: 4_000_000_000,
      zero: 0,
      n64: u64(2n ** 40n),
      dbl: 1.5,
      yes: true,
      no: false,
    };
    const buf = writeMmdb([
      { cidr: '10.0.0.0/8', data: countryRecord(null, 'XX') },
      { cidr: '10.1.2.0/24', data: value },
      { cidr: '10.1.2.128/25', data: countryRecord('ZZ', null) },
    ]);
    const reader = new Reader<Record<string, unknown>>(buf);
    const [rec, len] = reader.getWithPrefixLength('10.1.2.3');
    assert.equal(len, 25);
    assert.deepEqual({ ...rec, n64: String(rec!.n64) }, { ...value, n16: 65_535, n64: String(2n ** 40n) });
    assert.deepEqual(reader.getWithPrefixLength('10.1.2.200'), [{ country: { iso_code: 'ZZ', geoname_id: 2_921_044, names: { en: 'country ZZ' } } }, 25]);
    const [outer, outerLen] = reader.getWithPrefixLength('10.200.0.1');
    assert.deepEqual((outer as { continent: { code: string } }).continent.code, 'XX');
    assert.equal(outerLen, 9);
    assert.equal(reader.get('11.0.0.1'), null);
    assert.equal(encodeValue('abc').toString('latin1'), '\x43abc');
  });
});

describe('geoip database loader', () => {
  const logger = () => {
    const logs: string[] = [];
    return { logs, log: (m: string) => logs.push(m) };
  };

  it('loads the file at start, looks up IPv4 and IPv6 with the network prefix', (t) => {
    const file = writeDb(join(tempDir('fulcrum-dns-geoip-', t).dir, 'geo.mmdb'));
    const { logs, log } = logger();
    const db = new GeoIpDatabase(file, log);
    t.after(() => db.close());
    assert.equal(db.loads, 1);
    assert.match(logs.join('\n'), /geo\.mmdb: loaded Fulcrum-Test-Country \(built \d{4}-\d\d-\d\d, \d+ nodes\)/);
    assert.deepEqual({ ...db.lookup('192.0.2.1') }, { country: 'DE', continent: 'EU', prefix: 25 });
    assert.deepEqual({ ...db.lookup('203.0.113.1') }, { country: undefined, continent: 'OC', prefix: 24 });
    assert.deepEqual({ ...db.lookup('2001:db8:1::9') }, { country: 'DE', continent: 'EU', prefix: 48 });
    assert.deepEqual({ ...db.lookup('10.9.9.9') }, { country: undefined, continent: undefined, prefix: 1 });
    assert.deepEqual({ ...db.lookup('') }, { country: undefined, continent: undefined, prefix: -1 });
  });

  it('a missing, damaged, gzip-compressed or truncated file is logged and leaves no database; lookups miss', (t) => {
    const dir = tempDir('fulcrum-dns-geoip-', t).dir;
    const good = writeMmdb(SAMPLE_NETWORKS);
    const files: Array<[string, Buffer | null, RegExp]> = [
      ['missing.mmdb', null, /missing\.mmdb: cannot read it \(ENOENT\); answering without geoip until it can be loaded/],
      ['garbage.mmdb', Buffer.from('this is not a database at all'.repeat(10)), /garbage\.mmdb: cannot load it: not a MaxMind DB file/],
      ['zipped.mmdb', gzipSync(good), /zipped\.mmdb: cannot load it: the file is gzip-compressed/],
      ['cut.mmdb', good.subarray(0, good.length - 40), /cut\.mmdb: cannot load it: /],
      ['empty.mmdb', Buffer.alloc(0), /empty\.mmdb: cannot load it: /],
    ];
    for (const [name, bytes, expected] of files) {
      const file = join(dir, name);
      if (bytes !== null) writeFileSync(file, bytes);
      const { logs, log } = logger();
      const db = new GeoIpDatabase(file, log);
      assert.equal(db.reader, null, name);
      assert.equal(db.loads, 0, name);
      assert.match(logs.join('\n'), expected);
      assert.equal(db.lookup('192.0.2.1').prefix, -1);
      db.close();
    }
  });

  it('a damaged search tree (records pointing past the data) is refused at load', (t) => {
    const buf = Buffer.from(writeMmdb(SAMPLE_NETWORKS));
    // Every record of every node -> a huge data pointer.
    const md = new Reader(buf).metadata;
    for (let i = 0; i < md.nodeCount * 6; i += 3) buf.writeUIntBE(0xfffff0, i, 3);
    const file = join(tempDir('fulcrum-dns-geoip-', t).dir, 'bad-tree.mmdb');
    writeFileSync(file, buf);
    const logs: string[] = [];
    const db = new GeoIpDatabase(file, (m) => logs.push(m));
    assert.equal(db.reader, null, logs.join('\n'));
    assert.match(logs.join('\n'), /cannot load it: the file is damaged/);
  });

  it('reload keeps the previous database when the new file cannot be loaded', async (t) => {
    const file = writeDb(join(tempDir('fulcrum-dns-geoip-', t).dir, 'geo.mmdb'));
    const logs: string[] = [];
    const db = new GeoIpDatabase(file, (m) => logs.push(m));
    writeFileSync(file, 'broken');
    assert.equal(await db.reload(), false);
    assert.match(logs.join('\n'), /cannot load it: .*; keeping the previous database/);
    assert.equal(db.lookup('192.0.2.1').country, 'DE');
    rmSync(file);
    assert.equal(await db.reload(), false);
    assert.match(logs.join('\n'), /cannot read it \(ENOENT\); keeping the previous database/);
    writeDb(file, [{ cidr: '192.0.2.0/24', data: countryRecord('FR', 'EU') }]);
    assert.equal(await db.reload(), true);
    assert.equal(db.loads, 2);
    assert.deepEqual({ ...db.lookup('192.0.2.1') }, { country: 'FR', continent: 'EU', prefix: 24 });
  });

  it('steering: country first, then continent; ECS /0 is not looked up; unknown pools dropped', (t) => {
    const file = writeDb(join(tempDir('fulcrum-dns-geoip-', t).dir, 'geo.mmdb'));
    const logs: string[] = [];
    const db = new GeoIpDatabase(file, () => {});
    const g = new GeoIpSteering({ database: file, countries: { DE: 'eu', US: 'us', FR: 'nowhere' }, continents: { NA: 'oc', OC: 'oc' } }, db, new Set(['eu', 'us', 'oc']), (m) => logs.push(m), 'geo.example.com.');
    assert.deepEqual(logs, ['geo.example.com.: geoip country FR -> nowhere ignored: no pool named "nowhere"']);
    const none = new Uint8Array(16);
    const m = (client: string) => ({ ...g.match(false, 0, none, 0, new TextClient(client)) });
    assert.deepEqual(m('192.0.2.9'), { pool: 'eu', prefix: 25 });
    assert.deepEqual(m('::ffff:198.51.100.9'), { pool: 'us', prefix: 24 });
    assert.deepEqual(m('203.0.113.9'), { pool: 'oc', prefix: 24 });
    assert.deepEqual(m('2001:db8:1::1%eth0'), { pool: 'eu', prefix: 48 });
    assert.deepEqual(m('127.0.0.1'), { pool: undefined, prefix: 1 });
    const ecs = (family: number, prefix: number, bytes: number[]) => {
      const a = new Uint8Array(16);
      a.set(bytes);
      return { ...g.match(true, family, a, prefix, new TextClient('198.51.100.1')) };
    };
    assert.deepEqual(ecs(1, 24, [192, 0, 2]), { pool: 'eu', prefix: 25 });
    assert.deepEqual(ecs(1, 0, []), { pool: undefined, prefix: -1 });
    assert.deepEqual(ecs(2, 56, [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0x20]), { pool: 'eu', prefix: 48 });
  });
});

// ---- the responder ------------------------------------------------------------------------

function pools(): Map<string, Pool> {
  return new Map([
    ['web', new Pool(poolConfig('web', [{ name: 's1', host: '192.0.2.11' }, { name: 's2', host: '192.0.2.12' }, { name: 's6', host: '2001:db8::11' }]))],
    ['eu', new Pool(poolConfig('eu', [{ name: 'e1', host: '198.51.100.1' }, { name: 'e2', host: '198.51.100.2' }]))],
    ['us', new Pool(poolConfig('us', [{ name: 'u1', host: '203.0.113.1' }]))],
    ['oc', new Pool(poolConfig('oc', [{ name: 'o1', host: '192.0.2.41' }]))],
  ]);
}

function geoName(database: string, over: Partial<DnsPoolNameConfig> = {}): DnsPoolNameConfig {
  return poolName('geo.example.com.', 'web', {
    geoip: { database, countries: { DE: 'eu', US: 'us' }, continents: { NA: 'oc', OC: 'oc' } },
    ...over,
  });
}

function setup(t: TestContext, names: DnsPoolNameConfig[], watch = false) {
  const logs: string[] = [];
  const p = pools();
  const cfg = dnsConfig([], [zoneConfig('example.com', { pools: [poolName('www.example.com.', 'web'), ...names] })]);
  const r = new Responder(cfg, p, { log: (m) => logs.push(m), watch });
  t.after(() => r.close());
  const ask = (spec: QuerySpec, from = '127.0.0.1'): DecodedMessage => {
    const out = r.respond(encodeQuery(spec), from, 'udp');
    assert.ok(out !== null);
    return decodeMessage(out);
  };
  const addrs = (from: string, ecs?: QuerySpec['ecs'], type: number = TYPE.A) =>
    ask({ name: 'geo.example.com', type, ecs }, from)
      .answers.filter((a) => a.type === type)
      .map((a) => a.data as string);
  const ecs4 = (prefix: number, addr: number[]) => ({ family: 1, sourcePrefix: prefix, address: Uint8Array.from(addr) });
  return { r, p, logs, ask, addrs, ecs4 };
}

const EU = ['198.51.100.1', '198.51.100.2'];
const US = ['203.0.113.1'];
const OC = ['192.0.2.41'];
const WEB = ['192.0.2.11', '192.0.2.12'];

describe('dns responder: geoip steering', () => {
  it('country match on the resolver address, continent fallback, no match -> the name\'s own pool', (t) => {
    const { addrs, ask, logs } = setup(t, [geoName(writeDb(join(tempDir('fulcrum-dns-geoip-', t).dir, 'geo.mmdb')))]);
    assert.ok(logs.some((l) => /loaded Fulcrum-Test-Country/.test(l)), logs.join('\n'));
    assert.deepEqual(addrs('192.0.2.7'), EU, 'DE');
    assert.deepEqual(addrs('::ffff:192.0.2.7'), EU, 'DE, IPv4-mapped');
    assert.deepEqual(addrs('2001:db8:1::53'), EU, 'DE over IPv6');
    assert.deepEqual(addrs('198.51.100.53'), US, 'US: the country wins over continent NA');
    assert.deepEqual(addrs('203.0.113.53'), OC, 'no country, continent OC');
    assert.deepEqual(addrs('192.0.2.200'), WEB, 'in no database network');
    assert.deepEqual(addrs('127.0.0.1'), WEB, 'in no database network');
    assert.equal(ask({ name: 'geo.example.com', type: TYPE.A }, '192.0.2.7').opt, null, 'no ECS, no OPT');
    // Names without geoip are not steered.
    assert.deepEqual(ask({ name: 'www.example.com', type: TYPE.A }, '192.0.2.7').answers.map((a) => a.data), WEB);
  });

  it('ECS: matched on the subnet (over the resolver address), SCOPE = the prefix of the database network', (t) => {
    const { ask, ecs4 } = setup(t, [geoName(writeDb(join(tempDir('fulcrum-dns-geoip-', t).dir, 'geo.mmdb')))]);
    const cases: Array<[QuerySpec['ecs'], string[], number]> = [
      [ecs4(24, [192, 0, 2]), EU, 25],
      [ecs4(25, [192, 0, 2, 0]), EU, 25],
      [ecs4(32, [192, 0, 2, 99]), EU, 25],
      [ecs4(32, [192, 0, 2, 130]), WEB, 25],
      [ecs4(24, [198, 51, 100]), US, 24],
      [ecs4(22, [198, 51, 100]), US, 24], // the subnet's first address is in the /24: SCOPE > SOURCE, as RFC 7871 allows
      [ecs4(16, [198, 51]), WEB, 18],
      [ecs4(24, [203, 0, 113]), OC, 24],
      [ecs4(23, [10, 1, 0]), WEB, 1],
      [ecs4(0, []), WEB, 0],
      [{ family: 2, sourcePrefix: 48, address: Uint8Array.from([0x20, 0x01, 0x0d, 0xb8, 0, 1]) }, EU, 48],
      [{ family: 2, sourcePrefix: 64, address: Uint8Array.from([0x20, 0x01, 0x0d, 0xb8, 0, 1, 0xab, 0xcd]) }, EU, 48],
    ];
    for (const [ecs, want, scope] of cases) {
      const m = ask({ name: 'geo.example.com', type: TYPE.A, ecs }, '198.51.100.1');
      const label = `${ecs!.family}/${ecs!.sourcePrefix} ${[...ecs!.address].join('.')}`;
      assert.deepEqual(m.answers.map((a) => a.data), want, label);
      assert.deepEqual(m.opt?.ecs, { family: ecs!.family, sourcePrefix: ecs!.sourcePrefix, scopePrefix: scope, address: Buffer.from(ecs!.address) }, label);
    }
  });

  it('the CIDR table (steering and steering_file) wins over geoip; its SCOPE counts when longer', (t) => {
    const dir = tempDir('fulcrum-dns-geoip-', t).dir;
    const steeringFile = join(dir, 'steering.txt');
    writeFileSync(steeringFile, '198.51.100.128/25 eu\n');
    const { ask, addrs, ecs4 } = setup(t, [geoName(writeDb(join(dir, 'geo.mmdb')), { steering: [{ cidr: '192.0.2.0/28', pool: 'us' }], steeringFile })]);
    assert.deepEqual(addrs('192.0.2.5'), US, 'inline steering over DE');
    assert.deepEqual(addrs('192.0.2.20'), EU, 'outside the steering range: DE');
    assert.deepEqual(addrs('198.51.100.200'), EU, 'steering file over US');
    assert.deepEqual(addrs('198.51.100.20'), US, 'outside the file range: US');
    const scope = (ecs: QuerySpec['ecs']) => {
      const m = ask({ name: 'geo.example.com', type: TYPE.A, ecs });
      return [m.answers[0]!.data, m.opt?.ecs?.scopePrefix];
    };
    assert.deepEqual(scope(ecs4(32, [192, 0, 2, 5])), ['203.0.113.1', 28], 'steered: the table decides');
    assert.deepEqual(scope(ecs4(32, [192, 0, 2, 20])), ['198.51.100.1', 28], 'geoip /25 answered, the /28 had to be ruled out');
    assert.deepEqual(scope(ecs4(24, [203, 0, 113])), ['192.0.2.41', 24], 'geoip alone');
  });

  it('a geoip pool with nothing usable falls back to the name\'s pool; AAAA from the pool\'s IPv6 servers', (t) => {
    const { p, addrs } = setup(t, [geoName(writeDb(join(tempDir('fulcrum-dns-geoip-', t).dir, 'geo.mmdb')))]);
    assert.deepEqual(addrs('192.0.2.7', undefined, TYPE.AAAA), ['2001:db8::11'], 'eu has no IPv6 server');
    const eu = p.get('eu')!;
    for (const s of eu.servers) eu.setHealthy(s, false, 'test');
    assert.deepEqual(addrs('192.0.2.7'), WEB);
    eu.setHealthy(eu.servers[0]!, true, 'test');
    assert.deepEqual(addrs('192.0.2.7'), ['198.51.100.1']);
  });

  it('answers are cached per geoip choice: alternating clients each get their own pool, built once each', (t) => {
    const { r, addrs, ecs4 } = setup(t, [geoName(writeDb(join(tempDir('fulcrum-dns-geoip-', t).dir, 'geo.mmdb')))]);
    for (let i = 0; i < 3; i++) {
      assert.deepEqual(addrs('192.0.2.7'), EU);
      assert.deepEqual(addrs('198.51.100.9'), US);
      assert.deepEqual(addrs('127.0.0.1'), WEB);
      assert.deepEqual(addrs('1.1.1.1', ecs4(24, [203, 0, 113])), OC);
      assert.deepEqual(addrs('203.0.113.4', ecs4(24, [192, 0, 2])), EU);
    }
    assert.equal(r.stats.poolBuilds, 4, 'one build per pool');
  });

  it('a missing database is logged and ignored: answers and SCOPE as without geoip', (t) => {
    const { logs, addrs, ask, ecs4 } = setup(t, [geoName(join(tempDir('fulcrum-dns-geoip-', t).dir, 'absent.mmdb'))]);
    assert.ok(logs.some((l) => /absent\.mmdb: cannot read it \(ENOENT\); answering without geoip/.test(l)), logs.join('\n'));
    assert.deepEqual(addrs('192.0.2.7'), WEB);
    assert.equal(ask({ name: 'geo.example.com', type: TYPE.A, ecs: ecs4(24, [192, 0, 2]) }).opt?.ecs?.scopePrefix, 0);
  });

  it('names sharing a database file share one reader', (t) => {
    const file = writeDb(join(tempDir('fulcrum-dns-geoip-', t).dir, 'geo.mmdb'));
    const { r, logs } = setup(t, [geoName(file), geoName(file, { name: 'geo2.example.com.' })]);
    assert.equal(r.geoipDatabases().length, 1);
    assert.equal(logs.filter((l) => /loaded/.test(l)).length, 1);
  });

  it('reloads the database when the file changes; a bad new file keeps the old one; a file that appears later is loaded', async (t) => {
    const dir = tempDir('fulcrum-dns-geoip-', t).dir;
    const file = writeDb(join(dir, 'geo.mmdb'));
    const late = join(dir, 'late.mmdb');
    const { r, logs, addrs, ask, ecs4 } = setup(t, [geoName(file), geoName(late, { name: 'late.example.com.' })], true);
    const [db, lateDb] = r.geoipDatabases() as [GeoIpDatabase, GeoIpDatabase];
    assert.deepEqual(addrs('192.0.2.7'), EU);

    // 192.0.2.0/24 becomes US.
    writeDb(file, [{ cidr: '192.0.2.0/24', data: countryRecord('US', 'NA') }]);
    await waitFor(() => db.loads === 2, 8_000, 'the changed file to be loaded');
    assert.deepEqual(addrs('192.0.2.7'), US);
    assert.equal(ask({ name: 'geo.example.com', type: TYPE.A, ecs: ecs4(24, [192, 0, 2]) }).opt?.ecs?.scopePrefix, 24);
    assert.deepEqual(addrs('198.51.100.9'), WEB, 'gone from the new file');

    // A broken file is reported, and the database in use stays.
    writeFileSync(file, 'not a database');
    await waitFor(() => logs.some((l) => /geo\.mmdb: cannot load it: .*keeping the previous database/.test(l)), 8_000, 'the broken file to be reported');
    assert.equal(db.loads, 2);
    assert.deepEqual(addrs('192.0.2.7'), US);

    // A database that was missing at start is picked up when it appears.
    assert.equal(lateDb.reader, null);
    writeDb(late);
    await waitFor(() => lateDb.loads === 1, 8_000, 'the late file to be loaded');
    const m = ask({ name: 'late.example.com', type: TYPE.A }, '192.0.2.7');
    assert.deepEqual(m.answers.map((a) => a.data), EU);
  });
});
