import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Pool } from '../../src/backend/pool.js';
import type { DnsConfig, DnsPoolNameConfig, DnsRecordConfig } from '../../src/config/types.js';
import { dnsConfig, poolConfig, poolName, zoneConfig } from '../../src/dns/build-config.js';
import { decodeMessage, encodeQuery, type DecodedMessage, type QuerySpec } from '../../src/dns/message.js';
import { Responder, type Transport } from '../../src/dns/responder.js';
import { RCODE, TYPE } from '../../src/dns/wire.js';
import { tempDir } from '../helpers/files.js';

const rec = (name: string, type: DnsRecordConfig['type'], data: unknown, ttl = 3600): DnsRecordConfig => ({ name, type, data, ttl });

function pools(): Map<string, Pool> {
  return new Map([
    [
      'web',
      new Pool(
        poolConfig('web', [
          { name: 's1', host: '192.0.2.11' },
          { name: 's2', host: '192.0.2.12' },
          { name: 's6', host: '2001:db8::11' },
        ]),
      ),
    ],
    ['eu', new Pool(poolConfig('eu', [{ name: 'e1', host: '198.51.100.1' }, { name: 'e2', host: '198.51.100.2' }]))],
    ['big', new Pool(poolConfig('big', Array.from({ length: 60 }, (_, i) => ({ name: `b${i}`, host: `203.0.113.${i + 1}` }))))],
    [
      'weights',
      new Pool(
        poolConfig('weights', [
          { name: 'w1', host: '192.0.2.21', weight: 1 },
          { name: 'w2', host: '192.0.2.22', weight: 3 },
          { name: 'w3', host: '192.0.2.23', weight: 6 },
        ]),
      ),
    ],
    [
      'four',
      new Pool(
        poolConfig('four', [
          { name: 'a', host: '192.0.2.31' },
          { name: 'b', host: '192.0.2.32' },
          { name: 'c', host: '192.0.2.33' },
          { name: 'd', host: '192.0.2.34' },
        ]),
      ),
    ],
    [
      'backup',
      new Pool(
        poolConfig('backup', [
          { name: 'p', host: '192.0.2.41' },
          { name: 'bk', host: '192.0.2.42', backup: true },
        ]),
      ),
    ],
  ]);
}

function config(extraPools: DnsPoolNameConfig[] = [], soa: { minimum?: number; ttl?: number } = {}, transfer = false): DnsConfig {
  return dnsConfig(
    [],
    [
      zoneConfig('example.com', {
        soa,
        transfer,
        records: [
          rec('example.com.', 'NS', 'ns1.example.com.'),
          rec('ns1.example.com.', 'A', '192.0.2.1'),
          rec('example.com.', 'MX', { preference: 10, exchange: 'mail.example.com.' }),
          rec('mail.example.com.', 'A', '192.0.2.25'),
          rec('example.com.', 'TXT', ['v=spf1 mx -all']),
          rec('example.com.', 'CAA', { flags: 0, tag: 'issue', value: 'letsencrypt.org' }),
          rec('_http._tcp.www.example.com.', 'SRV', { priority: 0, weight: 5, port: 8081, target: 'www.example.com.' }),
          rec('docs.example.com.', 'CNAME', 'www.example.com.', 300),
          rec('alias.example.com.', 'CNAME', 'docs.example.com.', 300),
          rec('mx-alias.example.com.', 'CNAME', 'mail.example.com.', 300),
          rec('dangling.example.com.', 'CNAME', 'missing.example.com.', 300),
          rec('away.example.com.', 'CNAME', 'www.example.net.', 300),
          rec('loop1.example.com.', 'CNAME', 'loop2.example.com.', 300),
          rec('loop2.example.com.', 'CNAME', 'loop1.example.com.', 300),
          rec('deep.a.b.example.com.', 'A', '192.0.2.99'),
          rec('v6only.example.com.', 'AAAA', '2001:db8::99'),
          rec('big-txt.example.com.', 'TXT', Array.from({ length: 6 }, () => 'x'.repeat(200))),
        ],
        pools: [poolName('www.example.com.', 'web'), ...extraPools],
      }),
      zoneConfig('example.org', { records: [rec('www.example.org.', 'A', '192.0.2.80')] }),
    ],
  );
}

class Client {
  constructor(readonly r: Responder) {}
  raw(spec: QuerySpec | Buffer, transport: Transport = 'udp', from = '127.0.0.1'): Buffer | null {
    return this.r.respond(Buffer.isBuffer(spec) ? spec : encodeQuery(spec), from, transport);
  }
  ask(spec: QuerySpec | Buffer, transport: Transport = 'udp', from = '127.0.0.1'): DecodedMessage {
    const out = this.raw(spec, transport, from);
    assert.ok(out !== null, 'expected an answer');
    return decodeMessage(out);
  }
  /** Answer addresses of one A query. */
  addrs(name: string, opts: Partial<QuerySpec> = {}, from = '127.0.0.1'): string[] {
    return this.ask({ name, type: TYPE.A, ...opts }, 'udp', from).answers.filter((a) => a.type === TYPE.A).map((a) => a.data as string);
  }
}

function setup(extra: DnsPoolNameConfig[] = [], soa = {}, transfer = false, random?: () => number) {
  const p = pools();
  const r = new Responder(config(extra, soa, transfer), p, { log: () => {}, random, watch: false });
  return { p, r, c: new Client(r) };
}

describe('dns responder: answers', () => {
  it('pool-backed A: every usable server, AA, the name TTL; AAAA from IPv6 servers', () => {
    const { c } = setup();
    const m = c.ask({ name: 'www.example.com', type: TYPE.A });
    assert.equal(m.qr, true);
    assert.equal(m.aa, true);
    assert.equal(m.rcode, RCODE.NOERROR);
    assert.deepEqual(
      m.answers.map((a) => [a.name, a.type, a.ttl, a.data]),
      [
        ['www.example.com.', TYPE.A, 30, '192.0.2.11'],
        ['www.example.com.', TYPE.A, 30, '192.0.2.12'],
      ],
    );
    const six = c.ask({ name: 'www.example.com', type: TYPE.AAAA });
    assert.deepEqual(six.answers.map((a) => a.data), ['2001:db8::11']);
  });

  it('patches the ID and echoes the question byte for byte (0x20 case), RD and CD copied', () => {
    const { c } = setup();
    const q1 = encodeQuery({ id: 1, name: 'wWw.ExAmPlE.cOm', type: TYPE.A, rd: true, cd: true });
    const q2 = encodeQuery({ id: 0xfffe, name: 'WWW.EXAMPLE.COM', type: TYPE.A });
    const a1 = c.ask(q1);
    const a2 = c.ask(q2);
    assert.equal(a1.id, 1);
    assert.equal(a2.id, 0xfffe);
    assert.deepEqual(a1.questionBytes, q1.subarray(12));
    assert.deepEqual(a2.questionBytes, q2.subarray(12));
    assert.equal(a1.rd, true);
    assert.equal(a1.cd, true);
    assert.equal(a2.rd, false);
    assert.equal(a1.answers[0]!.name, 'wWw.ExAmPlE.cOm.'); // compressed against the question
  });

  it('static records: NS, MX, TXT, SRV, CAA, SOA (TTL from the SOA section), CNAME', () => {
    const { c } = setup();
    assert.deepEqual(c.ask({ name: 'example.com', type: TYPE.NS }).answers.map((a) => a.data), ['ns1.example.com.']);
    assert.deepEqual(c.ask({ name: 'example.com', type: TYPE.MX }).answers.map((a) => a.data), [{ preference: 10, exchange: 'mail.example.com.' }]);
    assert.deepEqual(c.ask({ name: 'example.com', type: TYPE.TXT }).answers.map((a) => a.data), [['v=spf1 mx -all']]);
    assert.deepEqual(c.ask({ name: '_http._tcp.www.example.com', type: TYPE.SRV }).answers.map((a) => a.data), [{ priority: 0, weight: 5, port: 8081, target: 'www.example.com.' }]);
    assert.deepEqual(c.ask({ name: 'example.com', type: TYPE.CAA }).answers.map((a) => a.data), [{ flags: 0, tag: 'issue', value: 'letsencrypt.org' }]);
    const soa = c.ask({ name: 'example.com', type: TYPE.SOA }).answers;
    assert.equal(soa.length, 1);
    assert.equal(soa[0]!.ttl, 3600);
    assert.deepEqual(soa[0]!.data, { mname: 'ns1.example.com.', rname: 'hostmaster.example.com.', serial: 1, refresh: 3600, retry: 600, expire: 604800, minimum: 60 });
    assert.deepEqual(c.ask({ name: 'docs.example.com', type: TYPE.CNAME }).answers.map((a) => a.data), ['www.example.com.']);
  });

  it('CNAME chains are followed inside the zone, to pool-backed and static names', () => {
    const { c } = setup();
    const m = c.ask({ name: 'alias.example.com', type: TYPE.A });
    assert.deepEqual(
      m.answers.map((a) => [a.name, a.type, a.data]),
      [
        ['alias.example.com.', TYPE.CNAME, 'docs.example.com.'],
        ['docs.example.com.', TYPE.CNAME, 'www.example.com.'],
        ['www.example.com.', TYPE.A, '192.0.2.11'],
        ['www.example.com.', TYPE.A, '192.0.2.12'],
      ],
    );
    const mx = c.ask({ name: 'mx-alias.example.com', type: TYPE.A });
    assert.deepEqual(mx.answers.map((a) => a.data), ['mail.example.com.', '192.0.2.25']);
    // The target lacks the type: NODATA after the chain.
    const nodata = c.ask({ name: 'mx-alias.example.com', type: TYPE.TXT });
    assert.equal(nodata.rcode, RCODE.NOERROR);
    assert.equal(nodata.answers.length, 1);
    assert.equal(nodata.authority[0]!.type, TYPE.SOA);
  });

  it('CNAME to a missing in-zone name is NXDOMAIN after the chain; out of zone or a loop gives the chain only', () => {
    const { c } = setup();
    const d = c.ask({ name: 'dangling.example.com', type: TYPE.A });
    assert.equal(d.rcode, RCODE.NXDOMAIN);
    assert.deepEqual(d.answers.map((a) => a.data), ['missing.example.com.']);
    assert.equal(d.authority[0]!.type, TYPE.SOA);
    const away = c.ask({ name: 'away.example.com', type: TYPE.A });
    assert.equal(away.rcode, RCODE.NOERROR);
    assert.deepEqual(away.answers.map((a) => a.data), ['www.example.net.']);
    assert.equal(away.authority.length, 0);
    const loop = c.ask({ name: 'loop1.example.com', type: TYPE.A });
    assert.equal(loop.rcode, RCODE.NOERROR);
    assert.deepEqual(loop.answers.map((a) => a.data), ['loop2.example.com.', 'loop1.example.com.']);
  });

  it('NXDOMAIN and NODATA: SOA in authority with TTL min(SOA TTL, MINIMUM) (RFC 2308)', () => {
    for (const [soa, neg] of [
      [{ minimum: 60, ttl: 3600 }, 60],
      [{ minimum: 900, ttl: 300 }, 300],
    ] as const) {
      const { c } = setup([], soa);
      const nx = c.ask({ name: 'nope.example.com', type: TYPE.A });
      assert.equal(nx.rcode, RCODE.NXDOMAIN);
      assert.equal(nx.aa, true);
      assert.equal(nx.answers.length, 0);
      assert.deepEqual(
        nx.authority.map((a) => [a.name, a.type, a.ttl]),
        [['example.com.', TYPE.SOA, neg]],
      );
      assert.equal((nx.authority[0]!.data as { minimum: number }).minimum, soa.minimum);
      const nodata = c.ask({ name: 'mail.example.com', type: TYPE.AAAA });
      assert.equal(nodata.rcode, RCODE.NOERROR);
      assert.equal(nodata.aa, true);
      assert.equal(nodata.answers.length, 0);
      assert.deepEqual(
        nodata.authority.map((a) => [a.name, a.type, a.ttl]),
        [['example.com.', TYPE.SOA, neg]],
      );
    }
  });

  it('NXDOMAIN of names of different lengths and cases all point at the apex correctly', () => {
    const { c } = setup();
    for (const name of ['a.example.com', 'Much.Longer.Name.Below.EXAMPLE.com', 'x.y.example.com']) {
      const nx = c.ask({ name, type: TYPE.A });
      assert.equal(nx.rcode, RCODE.NXDOMAIN);
      assert.equal(nx.authority[0]!.name.toLowerCase(), 'example.com.');
    }
  });

  it('empty non-terminals are NODATA, not NXDOMAIN', () => {
    const { c } = setup();
    for (const name of ['a.b.example.com', 'b.example.com', '_tcp.www.example.com']) {
      const m = c.ask({ name, type: TYPE.A });
      assert.equal(m.rcode, RCODE.NOERROR, name);
      assert.equal(m.answers.length, 0);
      assert.equal(m.authority[0]!.type, TYPE.SOA);
    }
  });

  it('REFUSED outside our zones (no AA) and for classes other than IN', () => {
    const { c } = setup();
    const m = c.ask({ name: 'www.example.net', type: TYPE.A });
    assert.equal(m.rcode, RCODE.REFUSED);
    assert.equal(m.aa, false);
    assert.equal(c.ask({ name: 'com', type: TYPE.A }).rcode, RCODE.REFUSED);
    assert.equal(c.ask({ name: 'www.example.com', type: TYPE.A, qclass: 3 }).rcode, RCODE.REFUSED);
    // A second zone answers for itself.
    assert.deepEqual(c.addrs('www.example.org'), ['192.0.2.80']);
  });

  it('NOTIMP for unknown opcodes and for zone transfers when they are off', () => {
    const { c } = setup();
    const op = c.ask({ name: 'example.com', type: TYPE.SOA, opcode: 2 });
    assert.equal(op.rcode, RCODE.NOTIMP);
    assert.equal(op.opcode, 2);
    assert.equal(op.question.length, 1);
    assert.equal(c.ask({ name: 'example.com', type: TYPE.AXFR }, 'tcp').rcode, RCODE.NOTIMP);
    assert.equal(c.ask({ name: 'example.com', type: TYPE.IXFR }, 'tcp').rcode, RCODE.NOTIMP);
  });

  it('AXFR over TCP when the zone allows it: SOA first and last, every record; over UDP NOTIMP', () => {
    const { r, c } = setup([], {}, true);
    const msgs = r.respondAll(encodeQuery({ name: 'example.com', type: TYPE.AXFR }), '127.0.0.1', 'tcp').map(decodeMessage);
    const all = msgs.flatMap((m) => m.answers);
    assert.equal(all[0]!.type, TYPE.SOA);
    assert.equal(all.at(-1)!.type, TYPE.SOA);
    assert.ok(all.some((a) => a.name === 'www.example.com.' && a.data === '192.0.2.11'));
    assert.ok(all.some((a) => a.name === 'deep.a.b.example.com.'));
    assert.equal(c.ask({ name: 'example.com', type: TYPE.AXFR }, 'udp').rcode, RCODE.NOTIMP);
    assert.equal(c.ask({ name: 'www.example.com', type: TYPE.AXFR }, 'tcp').rcode, 9); // NOTAUTH: not the apex
  });

  it('FORMERR for malformed queries, with the question when it could be read; drops for QR=1 and short packets', () => {
    const { c } = setup();
    const q = encodeQuery({ id: 77, name: 'www.example.com', type: TYPE.A });
    const two = Buffer.from(q);
    two[5] = 2;
    const m = c.ask(two);
    assert.equal(m.rcode, RCODE.FORMERR);
    assert.equal(m.id, 77);
    assert.equal(m.question.length, 0);
    const an = Buffer.from(q);
    an[7] = 1;
    const m2 = c.ask(an);
    assert.equal(m2.rcode, RCODE.FORMERR);
    assert.equal(m2.question.length, 1);
    assert.equal(c.ask({ name: 'www.example.com', type: TYPE.OPT }).rcode, RCODE.FORMERR);
    const resp = Buffer.from(q);
    resp[2] |= 0x80;
    assert.equal(c.raw(resp), null);
    assert.equal(c.raw(q.subarray(0, 11)), null);
    // ECS with host bits set past the prefix.
    const bad = c.ask({ name: 'www.example.com', type: TYPE.A, ecs: { family: 1, sourcePrefix: 23, address: Uint8Array.from([192, 0, 3]) } });
    assert.equal(bad.rcode, RCODE.FORMERR);
    assert.equal(bad.opt, null);
  });

  it('EDNS: OPT in the reply (1232, DO copied), BADVERS for version 1, unknown options ignored and not echoed', () => {
    const { c } = setup();
    const m = c.ask({ name: 'www.example.com', type: TYPE.A, edns: { udpSize: 4096, dnssecOk: true, options: [{ code: 65001, data: Uint8Array.from([1]) }] } });
    assert.equal(m.rcode, RCODE.NOERROR);
    assert.equal(m.answers.length, 2);
    assert.equal(m.opt?.udpSize, 1232);
    assert.equal(m.opt?.version, 0);
    assert.equal(m.opt?.dnssecOk, true);
    assert.deepEqual(m.opt?.options, []);
    const plain = c.ask({ name: 'www.example.com', type: TYPE.A });
    assert.equal(plain.opt, null);
    const bv = c.ask({ name: 'www.example.com', type: TYPE.A, edns: { version: 1 } });
    assert.equal(bv.rcode, RCODE.BADVERS);
    assert.equal(bv.opt?.version, 0);
    assert.equal(bv.answers.length, 0);
  });

  it('UDP limits: 512 without EDNS, the client size capped at 1232 with it, TC=1 when over; TCP unlimited', () => {
    const { c } = setup([poolName('many.example.com.', 'big')]);
    const small = c.ask({ name: 'many.example.com', type: TYPE.A });
    assert.equal(small.tc, true);
    assert.equal(small.answers.length, 0);
    const e512 = c.ask({ name: 'many.example.com', type: TYPE.A, edns: { udpSize: 512 } });
    assert.equal(e512.tc, true);
    assert.ok(e512.opt !== null, 'OPT kept in a truncated answer');
    // 60 records * 16 + header/question/OPT: about 1000 octets, fits 1232.
    const big = c.ask({ name: 'many.example.com', type: TYPE.A, edns: { udpSize: 4096 } });
    assert.equal(big.tc, false);
    assert.equal(big.answers.length, 60);
    const capped = c.raw({ name: 'big-txt.example.com', type: TYPE.TXT, edns: { udpSize: 65000 } })!;
    assert.ok(capped.length <= 1232);
    assert.equal(decodeMessage(capped).tc, true);
    const tcp = c.ask({ name: 'big-txt.example.com', type: TYPE.TXT }, 'tcp');
    assert.equal(tcp.tc, false);
    assert.equal((tcp.answers[0]!.data as string[]).length, 6);
    const tcpMany = c.ask({ name: 'many.example.com', type: TYPE.A }, 'tcp');
    assert.equal(tcpMany.answers.length, 60);
  });

  it('ANY over TCP answers every record set at the name, pool-backed addresses included', () => {
    const { c } = setup();
    const apex = c.ask({ name: 'example.com', type: TYPE.ANY }, 'tcp');
    assert.deepEqual(new Set(apex.answers.map((a) => a.type)), new Set([TYPE.SOA, TYPE.NS, TYPE.MX, TYPE.TXT, TYPE.CAA]));
    const www = c.ask({ name: 'www.example.com', type: TYPE.ANY }, 'tcp');
    assert.deepEqual(www.answers.map((a) => a.data), ['192.0.2.11', '192.0.2.12', '2001:db8::11']);
  });

  it('ANY over UDP answers one record set (RFC 8482): no amplification', () => {
    const { r, c } = setup();
    const apex = c.ask({ name: 'example.com', type: TYPE.ANY });
    assert.equal(new Set(apex.answers.map((a) => a.type)).size, 1, 'one record set at the apex');
    assert.ok(apex.answers.length >= 1);
    const www = c.ask({ name: 'www.example.com', type: TYPE.ANY });
    assert.deepEqual(www.answers.map((a) => a.data), ['192.0.2.11', '192.0.2.12'], 'the pool addresses of one family');
    // the answer is no larger than an A query's
    const q = encodeQuery({ name: 'example.com', type: TYPE.ANY, edns: {} });
    const out = r.respond(q, '192.0.2.1', 'udp')!;
    const full = r.respond(q, '192.0.2.1', 'tcp')!;
    assert.ok(out.length < full.length / 2, `UDP ANY answer ${out.length} bytes, TCP ${full.length}`);
  });
});

describe('dns responder: policies and health', () => {
  it('health changes reach the very next answer (cache keyed by pool version)', () => {
    const { p, r, c } = setup();
    const web = p.get('web')!;
    assert.deepEqual(c.addrs('www.example.com'), ['192.0.2.11', '192.0.2.12']);
    const builds = r.stats.poolBuilds;
    assert.deepEqual(c.addrs('www.example.com'), ['192.0.2.11', '192.0.2.12']);
    assert.equal(r.stats.poolBuilds, builds, 'second answer from the cache');
    web.setHealthy(web.servers[0]!, false, 'test');
    assert.deepEqual(c.addrs('www.example.com'), ['192.0.2.12']);
    assert.deepEqual(c.addrs('docs.example.com'), ['192.0.2.12']);
    web.setHealthy(web.servers[0]!, true, 'test');
    assert.deepEqual(c.addrs('www.example.com'), ['192.0.2.11', '192.0.2.12']);
  });

  it('nothing usable: every server (whenNoneUsable all) or NODATA (none)', () => {
    const { p, c } = setup([poolName('strict.example.com.', 'eu', { whenNoneUsable: 'none' }), poolName('lenient.example.com.', 'eu')]);
    const eu = p.get('eu')!;
    for (const s of eu.servers) eu.setHealthy(s, false, 'test');
    assert.deepEqual(c.addrs('lenient.example.com'), ['198.51.100.1', '198.51.100.2']);
    const strict = c.ask({ name: 'strict.example.com', type: TYPE.A });
    assert.equal(strict.rcode, RCODE.NOERROR);
    assert.equal(strict.answers.length, 0);
    assert.equal(strict.authority[0]!.type, TYPE.SOA);
    eu.setHealthy(eu.servers[1]!, true, 'test');
    assert.deepEqual(c.addrs('strict.example.com'), ['198.51.100.2']);
  });

  it('backups answer only while no primary is usable', () => {
    const { p, c } = setup([poolName('bk.example.com.', 'backup')]);
    const pool = p.get('backup')!;
    assert.deepEqual(c.addrs('bk.example.com'), ['192.0.2.41']);
    pool.setHealthy(pool.servers[0]!, false, 'test');
    assert.deepEqual(c.addrs('bk.example.com'), ['192.0.2.42']);
  });

  it('subset rotate: N servers per answer, the window moving by one each time', () => {
    const { p, c } = setup([poolName('sub.example.com.', 'four', { policy: 'subset', subsetSize: 2, subsetMode: 'rotate' })]);
    const seen = Array.from({ length: 5 }, () => c.addrs('sub.example.com').map((a) => a.slice(-2)));
    assert.deepEqual(seen, [
      ['31', '32'],
      ['32', '33'],
      ['33', '34'],
      ['34', '31'],
      ['31', '32'],
    ]);
    const four = p.get('four')!;
    four.setHealthy(four.servers[1]!, false, 'test');
    for (let i = 0; i < 6; i++) assert.ok(!c.addrs('sub.example.com').includes('192.0.2.32'));
  });

  it('subset weighted-random: N distinct servers, heavier ones more often', () => {
    let seed = 7;
    const random = () => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646;
    const { c } = setup([poolName('wr.example.com.', 'weights', { policy: 'subset', subsetSize: 2, subsetMode: 'weighted-random' })], {}, false, random);
    const count = new Map<string, number>();
    for (let i = 0; i < 3000; i++) {
      const a = c.addrs('wr.example.com');
      assert.equal(a.length, 2);
      assert.notEqual(a[0], a[1]);
      for (const x of a) count.set(x, (count.get(x) ?? 0) + 1);
    }
    assert.ok(count.get('192.0.2.23')! > count.get('192.0.2.22')!);
    assert.ok(count.get('192.0.2.22')! > count.get('192.0.2.21')!);
  });

  it('weighted: one server per answer, in proportion to weight', () => {
    let seed = 11;
    const random = () => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646;
    const { c } = setup([poolName('w.example.com.', 'weights', { policy: 'weighted' })], {}, false, random);
    const count = new Map<string, number>();
    const n = 10_000;
    for (let i = 0; i < n; i++) {
      const a = c.addrs('w.example.com');
      assert.equal(a.length, 1);
      count.set(a[0]!, (count.get(a[0]!) ?? 0) + 1);
    }
    for (const [addr, share] of [
      ['192.0.2.21', 0.1],
      ['192.0.2.22', 0.3],
      ['192.0.2.23', 0.6],
    ] as const) {
      assert.ok(Math.abs(count.get(addr)! / n - share) < 0.03, `${addr}: ${count.get(addr)}`);
    }
  });

  it('failover: the first group with a usable server answers', () => {
    const { p, c } = setup([poolName('fo.example.com.', 'four', { policy: 'failover', groups: [['a', 'b'], ['c'], ['d']] })]);
    const four = p.get('four')!;
    const [a, b, cc] = four.servers as [typeof four.servers[0], typeof four.servers[0], typeof four.servers[0]];
    assert.deepEqual(c.addrs('fo.example.com'), ['192.0.2.31', '192.0.2.32']);
    four.setHealthy(a, false, 'test');
    assert.deepEqual(c.addrs('fo.example.com'), ['192.0.2.32']);
    four.setHealthy(b, false, 'test');
    assert.deepEqual(c.addrs('fo.example.com'), ['192.0.2.33']);
    four.setHealthy(cc, false, 'test');
    assert.deepEqual(c.addrs('fo.example.com'), ['192.0.2.34']);
    four.setHealthy(a, true, 'test');
    assert.deepEqual(c.addrs('fo.example.com'), ['192.0.2.31']);
  });
});

describe('dns responder: steering and client subnet', () => {
  const steered = () =>
    setup([
      poolName('geo.example.com.', 'web', {
        steering: [
          { cidr: '192.0.2.0/23', pool: 'eu' },
          { cidr: '203.0.113.0/24', pool: 'four' },
          { cidr: '2001:db8::/32', pool: 'eu' },
        ],
      }),
    ]);
  const ecs4 = (prefix: number, addr: number[]) => ({ ecs: { family: 1, sourcePrefix: prefix, address: Uint8Array.from(addr) } });

  it('matches the resolver address without ECS (no ECS in the reply)', () => {
    const { c } = steered();
    assert.deepEqual(c.addrs('geo.example.com', {}, '192.0.3.7'), ['198.51.100.1', '198.51.100.2']);
    assert.deepEqual(c.addrs('geo.example.com', {}, '::ffff:192.0.2.7'), ['198.51.100.1', '198.51.100.2']);
    assert.deepEqual(c.addrs('geo.example.com', {}, '2001:db8::53'), ['198.51.100.1', '198.51.100.2']);
    assert.deepEqual(c.addrs('geo.example.com', {}, '127.0.0.1'), ['192.0.2.11', '192.0.2.12']);
    assert.equal(c.ask({ name: 'geo.example.com', type: TYPE.A }, 'udp', '192.0.2.1').opt, null);
  });

  it('matches ECS when present (over the resolver address) and echoes it with the SCOPE the answer depended on', () => {
    const { c } = steered();
    const cases: Array<[number, number[], string, number]> = [
      [24, [192, 0, 2], '198.51.100.1', 23],
      [23, [192, 0, 2], '198.51.100.1', 23],
      [32, [192, 0, 3, 9], '198.51.100.1', 23],
      [24, [203, 0, 113], '192.0.2.31', 24],
      [17, [10, 1, 0], '192.0.2.11', 1],
      [0, [], '192.0.2.11', 0],
    ];
    for (const [prefix, addr, first, scope] of cases) {
      const m = c.ask({ name: 'geo.example.com', type: TYPE.A, ...ecs4(prefix, addr) }, 'udp', '192.0.2.1');
      assert.equal(m.answers[0]!.data, first, `/${prefix} ${addr.join('.')}`);
      assert.deepEqual(m.opt?.ecs, { family: 1, sourcePrefix: prefix, scopePrefix: scope, address: Buffer.from(addr) }, `/${prefix} ${addr.join('.')}`);
    }
    const v6 = c.ask({ name: 'geo.example.com', type: TYPE.A, ecs: { family: 2, sourcePrefix: 48, address: Uint8Array.from([0x20, 0x01, 0x0d, 0xb8, 0, 1]) } });
    assert.equal(v6.answers[0]!.data, '198.51.100.1');
    assert.equal(v6.opt?.ecs?.scopePrefix, 32);
  });

  it('ECS on names that do not depend on it: echoed with SCOPE 0', () => {
    const { c } = steered();
    for (const name of ['www.example.com', 'mail.example.com', 'nope.example.com', 'www.example.net']) {
      const m = c.ask({ name, type: TYPE.A, ...ecs4(24, [192, 0, 2]) });
      assert.deepEqual(m.opt?.ecs, { family: 1, sourcePrefix: 24, scopePrefix: 0, address: Buffer.from([192, 0, 2]) }, name);
    }
  });

  it('a steered pool with nothing usable falls back to the configured pool', () => {
    const { p, c } = steered();
    const eu = p.get('eu')!;
    for (const s of eu.servers) eu.setHealthy(s, false, 'test');
    assert.deepEqual(c.addrs('geo.example.com', ecs4(24, [192, 0, 2])), ['192.0.2.11', '192.0.2.12']);
  });

  it('steering file: read at start, re-read on change, bad lines skipped, unreadable file keeps the table', async (t) => {
    const dir = tempDir('fulcrum-dns-steer-', t).dir;
    const file = join(dir, 'steering.txt');
    writeFileSync(file, '# start\n203.0.113.0/24 eu\n');
    const logs: string[] = [];
    const p = pools();
    const r = new Responder(config([poolName('geo.example.com.', 'web', { steeringFile: file })]), p, { log: (m) => logs.push(m) });
    t.after(() => r.close());
    const c = new Client(r);
    assert.deepEqual(c.addrs('geo.example.com', {}, '203.0.113.5'), ['198.51.100.1', '198.51.100.2']);
    const table = r.steeringTables()[0]!;
    const before = table.reloads;
    writeFileSync(file, '203.0.113.0/24 four\nthis is not a line\n');
    const deadline = Date.now() + 8000;
    while (table.reloads === before && Date.now() < deadline) await new Promise((res) => setTimeout(res, 25));
    assert.ok(table.reloads > before, 'file change noticed');
    assert.deepEqual(c.addrs('geo.example.com', {}, '203.0.113.5'), ['192.0.2.31', '192.0.2.32', '192.0.2.33', '192.0.2.34']);
    assert.ok(logs.some((l) => /:2: expected "CIDR POOL"/.test(l)), logs.join('\n'));
    rmSync(file);
    assert.equal(table.reload(), false);
    assert.ok(logs.some((l) => /keeping the previous table/.test(l)));
    assert.deepEqual(c.addrs('geo.example.com', {}, '203.0.113.5'), ['192.0.2.31', '192.0.2.32', '192.0.2.33', '192.0.2.34']);
  });
});

describe('dns responder: robustness', () => {
  it('answers or drops any mutated query without throwing', () => {
    const { r } = setup([], {}, true);
    let seed = 99;
    const rnd = () => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646;
    const bases = [
      encodeQuery({ name: 'www.example.com', type: TYPE.A, ecs: { family: 1, sourcePrefix: 24, address: Uint8Array.from([192, 0, 2]) } }),
      encodeQuery({ name: 'alias.example.com', type: TYPE.ANY, edns: {} }),
      encodeQuery({ name: 'example.com', type: TYPE.AXFR }),
    ];
    for (let i = 0; i < 20_000; i++) {
      const base = bases[i % bases.length]!;
      const b = Buffer.from(base.subarray(0, Math.floor(rnd() * (base.length + 4))));
      for (let k = 0; k < 2; k++) if (b.length > 0) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
      const out = r.respondAll(b, '192.0.2.1', rnd() < 0.5 ? 'udp' : 'tcp');
      for (const o of out) decodeMessage(o);
    }
  });
});
