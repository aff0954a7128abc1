/**
 * GeoIP steering end to end: a YAML configuration (the database path relative to the
 * file) loaded and started as `fulcrum run` does, a test MaxMind database written by
 * test/helpers/mmdb-writer.ts, and dig (Debian dnsutils) asking with +subnet on
 * 127.0.0.1. Skips, saying so, when dig is not installed.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { loadConfigFile } from '../../src/config/load.js';
import { startInstance, type Instance } from '../../src/runtime/instance.js';
import { countryRecord, SAMPLE_NETWORKS, writeMmdb, type MmdbNetwork } from '../helpers/mmdb-writer.js';
import { dig, missing } from '../helpers/spawn.js';

const run = promisify(execFile);
const DIG = missing('dig', 'Debian package dnsutils');

const CONFIG = `dns:
  listen: 127.0.0.1:0
  zones:
    - origin: example.com
      pools:
        - name: geo
          pool: web
          steering: [{cidr: 198.51.100.128/25, pool: eu}]
          geoip:
            database: geo.mmdb
            countries: {DE: eu, us: us}
            continents: {OC: oc, NA: oc}
        - name: nodb
          pool: web
          geoip: {database: missing.mmdb, countries: {DE: eu}}
pools:
  web:
    servers:
      - {name: S1, address: 192.0.2.11:80}
      - {name: S2, address: 192.0.2.12:80}
  eu:
    servers: [{name: e1, address: 198.51.100.1:80}]
  us:
    servers: [{name: u1, address: 203.0.113.1:80}]
  oc:
    servers: [{name: o1, address: 192.0.2.41:80}]
`;

let dir = '';
let instance: Instance | null = null;
let port = 0;

function writeDb(networks: readonly MmdbNetwork[]): void {
  const file = join(dir, 'geo.mmdb');
  writeFileSync(`${file}.new`, writeMmdb(networks));
  renameSync(`${file}.new`, file); // as geoipupdate replaces it
}


/** [first A address of the answer, the CLIENT-SUBNET echoed] for one query. */
async function ask(name: string, subnet: string | null): Promise<[string | undefined, string | undefined]> {
  const out = await dig(port, ...(subnet === null ? [] : [`+subnet=${subnet}`]), name, 'A');
  const a = /^\S+\s+\d+\s+IN\s+A\s+(\S+)$/m.exec(out)?.[1];
  return [a, /CLIENT-SUBNET: (\S+)$/m.exec(out)?.[1]];
}

describe('dns geoip steering with dig', { skip: DIG }, () => {
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fulcrum-dns-geoip-it-'));
    writeDb(SAMPLE_NETWORKS);
    writeFileSync(join(dir, 'fulcrum.yaml'), CONFIG);
    const loaded = await loadConfigFile(join(dir, 'fulcrum.yaml'));
    assert.deepEqual(loaded.issues, []);
    instance = await startInstance(loaded.config!);
    port = instance.dns!.addresses()[0]!.port;
  });

  after(async () => {
    await instance?.stop({ graceMs: 0 });
    if (dir !== '') rmSync(dir, { recursive: true, force: true });
  });

  it('+subnet: country, continent, CIDR table over the database, no match; SCOPE from the database network', async () => {
    const cases: Array<[string, string, string]> = [
      ['192.0.2.0/24', '198.51.100.1', '192.0.2.0/24/25'], // DE in 192.0.2.0/25
      ['192.0.2.0/23', '198.51.100.1', '192.0.2.0/23/25'], // a non-octet prefix
      ['192.0.2.64/26', '198.51.100.1', '192.0.2.64/26/25'],
      ['192.0.2.128/25', '192.0.2.11', '192.0.2.128/25/25'], // in no database network
      ['198.51.100.0/25', '203.0.113.1', '198.51.100.0/25/25'], // US (the country wins over NA); the table's /25 ruled out
      ['198.51.100.128/25', '198.51.100.1', '198.51.100.128/25/25'], // the CIDR table wins over US
      ['203.0.113.0/24', '192.0.2.41', '203.0.113.0/24/24'], // continent OC only
      ['10.0.0.0/8', '192.0.2.11', '10.0.0.0/8/1'],
      ['0.0.0.0/0', '192.0.2.11', '0.0.0.0/0/0'],
      ['2001:db8:1::/48', '198.51.100.1', '2001:db8:1::/48/48'],
      ['2001:db8:1:ab00::/56', '198.51.100.1', '2001:db8:1:ab00::/56/48'],
    ];
    for (const [subnet, first, echoed] of cases) {
      assert.deepEqual(await ask('geo.example.com', subnet), [first, echoed], subnet);
    }
  });

  it('without ECS the resolver address decides (127.0.0.1: in no network, the name\'s pool)', async () => {
    assert.deepEqual((await dig(port, '+short', 'geo.example.com', 'A')).trim().split('\n'), ['192.0.2.11', '192.0.2.12']);
  });

  it('a missing database is ignored: the name answers from its pool with SCOPE 0', async () => {
    assert.deepEqual(await ask('nodb.example.com', '192.0.2.0/24'), ['192.0.2.11', '192.0.2.0/24/0']);
  });

  it('a replaced database file is reloaded without a restart', async () => {
    const db = instance!.dns!.responder.geoipDatabases().find((d) => d.path.endsWith('geo.mmdb'))!;
    const before = db.loads;
    writeDb([{ cidr: '192.0.2.0/24', data: countryRecord('US', 'NA') }, { cidr: '203.0.113.0/24', data: countryRecord('DE', 'EU') }]);
    const deadline = Date.now() + 8_000;
    while (db.loads === before && Date.now() < deadline) await new Promise((res) => setTimeout(res, 25));
    assert.ok(db.loads > before, 'the new file was loaded');
    assert.deepEqual(await ask('geo.example.com', '192.0.2.0/24'), ['203.0.113.1', '192.0.2.0/24/24']);
    assert.deepEqual(await ask('geo.example.com', '203.0.113.0/24'), ['198.51.100.1', '203.0.113.0/24/24']);
    // Gone from the new file: the empty network 2000::/3 decides.
    assert.deepEqual(await ask('geo.example.com', '2001:db8:1::/48'), ['192.0.2.11', '2001:db8:1::/48/3']);
  });
});
