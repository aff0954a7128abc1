import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CidrTable, parseCidrText } from '../../src/dns/cidr.js';
import { decodeMessage, encodeQuery, type QuerySpec } from '../../src/dns/message.js';
import { parseSteeringText } from '../../src/dns/steering.js';
import { clientAddress } from '../../src/dns/policy.js';
import { ipv4Bytes, ipv6Bytes, isAtOrBelow, keyToDotted, MessageWriter, nameKey, parentKey, ParsedQuery, parseQuery, ParseStatus, TYPE } from '../../src/dns/wire.js';

function parse(spec: QuerySpec | Buffer): { st: ParseStatus; q: ParsedQuery } {
  const q = new ParsedQuery();
  const st = parseQuery(Buffer.isBuffer(spec) ? spec : encodeQuery(spec), q);
  return { st, q };
}

const ecs = (family: number, sourcePrefix: number, address: number[]) => ({ name: 'www.example.com', type: TYPE.A, ecs: { family, sourcePrefix, address: Uint8Array.from(address) } });

describe('dns wire: query parsing', () => {
  it('reads the header and the question, with a lower-cased name key', () => {
    const { st, q } = parse({ id: 0xbeef, name: 'WwW.ExAmple.COM', type: TYPE.AAAA, rd: true });
    assert.equal(st, ParseStatus.OK);
    assert.equal(q.id, 0xbeef);
    assert.equal(q.opcode, 0);
    assert.equal(q.qtype, TYPE.AAAA);
    assert.equal(q.qclass, 1);
    assert.equal(q.qname, nameKey('www.example.com.'));
    assert.equal(q.questionEnd, 12 + 17 + 4);
    assert.equal(q.edns, false);
  });

  it('drops packets shorter than a header and responses (QR=1)', () => {
    assert.equal(parse(Buffer.alloc(11)).st, ParseStatus.DROP);
    const resp = encodeQuery({ name: 'example.com', type: 1 });
    resp[2] |= 0x80;
    assert.equal(parse(resp).st, ParseStatus.DROP);
  });

  it('FORMERR: QDCOUNT 0 or 2, records in answer/authority, pointers or long labels in QNAME, truncation', () => {
    const base = encodeQuery({ name: 'example.com', type: 1 });
    const qd0 = Buffer.from(base);
    qd0[5] = 0;
    assert.equal(parse(qd0).st, ParseStatus.FORMERR);
    const qd2 = Buffer.from(base);
    qd2[5] = 2;
    assert.equal(parse(qd2).st, ParseStatus.FORMERR);
    const an = Buffer.from(base);
    an[7] = 1;
    assert.equal(parse(an).st, ParseStatus.FORMERR);
    const ptr = Buffer.concat([base.subarray(0, 12), Buffer.from([0xc0, 0x0c, 0, 1, 0, 1])]);
    assert.equal(parse(ptr).st, ParseStatus.FORMERR);
    const long = Buffer.concat([base.subarray(0, 12), Buffer.from([64]), Buffer.alloc(64, 0x61), Buffer.from([0, 0, 1, 0, 1])]);
    assert.equal(parse(long).st, ParseStatus.FORMERR);
    assert.equal(parse(base.subarray(0, base.length - 1)).st, ParseStatus.FORMERR);
    const toolong = encodeQuery({ name: Array.from({ length: 5 }, () => 'a'.repeat(60)).join('.'), type: 1 });
    assert.equal(parse(toolong).st, ParseStatus.FORMERR);
  });

  it('NOTIMP for other opcodes, with the question still read for the echo', () => {
    const { st, q } = parse({ name: 'example.com', type: 1, opcode: 2 });
    assert.equal(st, ParseStatus.NOTIMP);
    assert.ok(q.questionEnd > 12);
  });

  it('EDNS: size, version, DO; BADVERS above version 0; two OPTs or a non-root owner are FORMERR', () => {
    const { st, q } = parse({ name: 'example.com', type: 1, edns: { udpSize: 4096, dnssecOk: true } });
    assert.equal(st, ParseStatus.OK);
    assert.equal(q.edns, true);
    assert.equal(q.udpSize, 4096);
    assert.equal(q.dnssecOk, true);
    assert.equal(parse({ name: 'example.com', type: 1, edns: { version: 1 } }).st, ParseStatus.BADVERS);
    const one = encodeQuery({ name: 'example.com', type: 1, edns: {} });
    const opt = one.subarray(one.length - 11);
    const two = Buffer.concat([one, opt]);
    two[11] = 2;
    assert.equal(parse(two).st, ParseStatus.FORMERR);
    const owned = Buffer.concat([one.subarray(0, one.length - 11), Buffer.from([1, 0x61, 0]), opt.subarray(1)]);
    assert.equal(parse(owned).st, ParseStatus.FORMERR);
  });

  it('EDNS: unknown options are skipped; an option running past the OPT is FORMERR', () => {
    const ok = parse({ name: 'example.com', type: 1, edns: { options: [{ code: 65001, data: Uint8Array.from([1, 2, 3]) }] } });
    assert.equal(ok.st, ParseStatus.OK);
    assert.equal(ok.q.ecs, false);
    const bad = encodeQuery({ name: 'example.com', type: 1, edns: { options: [{ code: 10, data: Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]) }] } });
    bad[bad.length - 10] = 0xff; // high octet of the option length
    assert.equal(parse(bad).st, ParseStatus.FORMERR);
  });

  it('ECS /24, /23, /17 and /0 (IPv4) and /56 (IPv6) are read, host bits past the prefix being zero', () => {
    for (const [prefix, addr] of [
      [24, [192, 0, 2]],
      [23, [192, 0, 2]],
      [17, [192, 0, 128]],
      [0, []],
      [32, [192, 0, 2, 1]],
    ] as Array<[number, number[]]>) {
      const { st, q } = parse(ecs(1, prefix, addr));
      assert.equal(st, ParseStatus.OK, `/${prefix}: ${q.error}`);
      assert.equal(q.ecs, true);
      assert.equal(q.ecsFamily, 1);
      assert.equal(q.ecsSourcePrefix, prefix);
      assert.deepEqual([...q.ecsAddress.subarray(0, 4)], [...addr, 0, 0, 0, 0].slice(0, 4));
      assert.equal(q.ecsLength, 4 + addr.length);
    }
    const v6 = parse(ecs(2, 56, [0x20, 0x01, 0x0d, 0xb8, 0, 1, 2]));
    assert.equal(v6.st, ParseStatus.OK);
    assert.equal(v6.q.ecsFamily, 2);
  });

  it('ECS: non-zero bits past SOURCE PREFIX-LENGTH, a wrong ADDRESS length, an unknown FAMILY or a too long prefix are FORMERR (RFC 7871 6)', () => {
    const cases: Array<[number, number, number[], RegExp]> = [
      [1, 23, [192, 0, 3], /bits set past \/23/],
      [1, 17, [192, 0, 64], /bits set past \/17/],
      [1, 24, [192, 0, 2, 0], /4 octets for \/24/],
      [1, 24, [192, 0], /2 octets for \/24/],
      [1, 0, [0], /1 octets for \/0/],
      [3, 8, [10], /FAMILY 3/],
      [1, 33, [1, 2, 3, 4, 5], /33 > 32/],
      [2, 129, [], /129 > 128/],
    ];
    for (const [family, prefix, addr, why] of cases) {
      const { st, q } = parse(ecs(family, prefix, addr));
      assert.equal(st, ParseStatus.FORMERR, `family ${family} /${prefix} ${addr.join('.')}`);
      assert.match(q.error, why);
    }
  });

  it('IXFR may carry an SOA in the authority section', () => {
    const q = encodeQuery({ name: 'example.com', type: TYPE.IXFR });
    const soa = Buffer.from([0xc0, 0x0c, 0, 6, 0, 1, 0, 0, 0, 60, 0, 22, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    const withSoa = Buffer.concat([q, soa]);
    withSoa[9] = 1;
    assert.equal(parse(withSoa).st, ParseStatus.OK);
    const a = encodeQuery({ name: 'example.com', type: TYPE.A });
    const aWithSoa = Buffer.concat([a, soa]);
    aWithSoa[9] = 1;
    assert.equal(parse(aWithSoa).st, ParseStatus.FORMERR);
  });

  it('never throws on random bytes', () => {
    const q = new ParsedQuery();
    let seed = 12345;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
    const base = encodeQuery({ name: 'www.example.com', type: 1, ecs: { family: 1, sourcePrefix: 24, address: Uint8Array.from([192, 0, 2]) } });
    for (let i = 0; i < 5000; i++) {
      const b = Buffer.from(base.subarray(0, Math.floor(rnd() * (base.length + 1))));
      for (let k = 0; k < 3; k++) if (b.length > 0) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
      parseQuery(b, q);
    }
  });
});

describe('dns wire: names and compression', () => {
  it('name keys: lower-cased wire form, parents, containment, dotted form', () => {
    const k = nameKey('WWW.Example.com');
    assert.equal(k, '\x03www\x07example\x03com\x00');
    assert.equal(nameKey('www.example.com.'), k);
    assert.equal(keyToDotted(k), 'www.example.com.');
    assert.equal(parentKey(k), nameKey('example.com'));
    assert.equal(parentKey(nameKey('.')), null);
    assert.ok(isAtOrBelow(k, nameKey('example.com')));
    assert.ok(isAtOrBelow(k, k));
    assert.ok(!isAtOrBelow(nameKey('wwwexample.com'), nameKey('example.com')));
    assert.ok(!isAtOrBelow(nameKey('www.xexample.com'), nameKey('example.com')));
    assert.throws(() => nameKey('a..b'), /empty label/);
    assert.throws(() => nameKey(`${'a'.repeat(64)}.com`), /63/);
  });

  it('compresses names against the question at offset 12 and against earlier names', () => {
    const q = nameKey('www.example.com');
    const start = 12 + q.length + 4;
    const w = new MessageWriter(start);
    w.seedQuestion(q);
    w.name(nameKey('www.example.com'));
    assert.deepEqual([...w.buf.subarray(start, w.pos)], [0xc0, 12]);
    const at = w.pos;
    w.name(nameKey('mail.example.com'));
    assert.deepEqual([...w.buf.subarray(at, w.pos)], [4, 0x6d, 0x61, 0x69, 0x6c, 0xc0, 16]);
    const at2 = w.pos;
    w.name(nameKey('mail.example.com'));
    assert.deepEqual([...w.buf.subarray(at2, w.pos)], [0xc0, at]);
    const at3 = w.pos;
    w.name(nameKey('srv.example.com'), false);
    assert.equal(w.pos - at3, nameKey('srv.example.com').length);
    // A decoder reads the result back.
    const msg = Buffer.alloc(w.pos);
    w.buf.copy(msg, 0, 0, w.pos);
    Buffer.from(q, 'latin1').copy(msg, 12);
    assert.equal(msg.readUInt16BE(start), 0xc00c);
  });

  it('decodes what it encodes (round trip through decodeMessage)', () => {
    const m = decodeMessage(encodeQuery({ id: 7, name: 'Mixed.Case.', type: TYPE.TXT, rd: true, ecs: { family: 1, sourcePrefix: 24, address: Uint8Array.from([192, 0, 2]) } }));
    assert.equal(m.id, 7);
    assert.equal(m.rd, true);
    assert.deepEqual(m.question, [{ name: 'Mixed.Case.', type: TYPE.TXT, class: 1 }]);
    assert.deepEqual(m.opt?.ecs, { family: 1, sourcePrefix: 24, scopePrefix: 0, address: Buffer.from([192, 0, 2]) });
  });

  it('parses addresses', () => {
    assert.deepEqual([...ipv4Bytes('192.0.2.1')!], [192, 0, 2, 1]);
    assert.equal(ipv4Bytes('192.0.2'), null);
    assert.equal(ipv4Bytes('192.0.2.256'), null);
    assert.deepEqual([...ipv6Bytes('2001:db8::1')!], [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    assert.deepEqual([...ipv6Bytes('::')!], new Array(16).fill(0));
    assert.deepEqual([...ipv6Bytes('::ffff:192.0.2.1')!].slice(10), [0xff, 0xff, 192, 0, 2, 1]);
    assert.equal(ipv6Bytes('1::2::3'), null);
    assert.equal(ipv6Bytes('1:2:3:4:5:6:7:8:9'), null);
    const out = new Uint8Array(16);
    assert.equal(clientAddress('203.0.113.9', out), 4);
    assert.deepEqual([...out.subarray(0, 4)], [203, 0, 113, 9]);
    assert.equal(clientAddress('::ffff:198.51.100.7', out), 4);
    assert.deepEqual([...out.subarray(0, 4)], [198, 51, 100, 7]);
    assert.equal(clientAddress('2001:db8::5', out), 6);
    assert.equal(clientAddress('1.2.3', out), 0);
  });
});

describe('dns cidr table', () => {
  const t = new CidrTable<string>();
  t.add('192.0.2.0/23', 'wide');
  t.add('192.0.2.0/24', 'narrow');
  t.add('198.51.100.0/24', 'other');
  t.add('2001:db8::/32', 'v6');
  const look = (addr: string, limit?: number) => {
    const { family, bytes } = parseCidrText(addr);
    const r = t.lookup(bytes, family, limit ?? (family === 4 ? 32 : 128));
    return { value: r.value, prefix: r.prefix, scope: r.scope };
  };

  it('normalises CIDR text (host bits cleared) and rejects bad text', () => {
    assert.deepEqual([...parseCidrText('192.0.2.77/23').bytes], [192, 0, 2, 0]);
    assert.equal(parseCidrText('10.0.0.1').prefix, 32);
    assert.throws(() => parseCidrText('10.0.0.0/33'), /0\.\.32/);
    assert.throws(() => parseCidrText('nope/8'), /not an IP/);
  });

  it('most specific prefix wins', () => {
    assert.equal(look('192.0.2.9').value, 'narrow');
    assert.equal(look('192.0.3.9').value, 'wide');
    assert.equal(look('198.51.100.1').value, 'other');
    assert.equal(look('203.0.113.1').value, undefined);
    assert.equal(look('2001:db8:1::1').value, 'v6');
    assert.equal(look('2001:db9::1').value, undefined);
  });

  it('scope: the matched prefix, more when a nearby more specific entry had to be ruled out', () => {
    // /24 source inside the /24 entry: the answer holds for that /24.
    assert.deepEqual(look('192.0.2.0/24', 24), { value: 'narrow', prefix: 24, scope: 24 });
    // 192.0.3.0/24 matches the /23 but must be told apart from 192.0.2.0/24: 24 bits.
    assert.deepEqual(look('192.0.3.0/24', 24), { value: 'wide', prefix: 23, scope: 24 });
    // A /23 source cannot tell the /24 apart: the /23 answers, asking for 24 bits next time.
    assert.deepEqual(look('192.0.2.0/23', 23), { value: 'wide', prefix: 23, scope: 24 });
    // /17 source: no entry that short matches; deeper entries exist below the /17.
    assert.deepEqual(look('192.0.0.0/17', 17), { value: undefined, prefix: -1, scope: 23 });
    // /0: nothing to go on, and nothing more can be asked for.
    assert.deepEqual(look('0.0.0.0/0', 0), { value: undefined, prefix: -1, scope: 0 });
    // Unrelated networks: the first bit that differs from every entry.
    assert.equal(look('10.0.0.0/8', 8).scope, 1);
  });

  it('a table with one /24: scope 24 inside, the distinguishing bits outside', () => {
    const one = new CidrTable<string>();
    one.add('192.0.2.0/24', 'p');
    const r = one.lookup(Uint8Array.from([192, 0, 2, 0]), 4, 24);
    assert.deepEqual({ ...r }, { value: 'p', prefix: 24, scope: 24 });
    const r2 = one.lookup(Uint8Array.from([192, 0, 3, 0]), 4, 24);
    assert.deepEqual({ ...r2 }, { value: undefined, prefix: -1, scope: 24 });
    const empty = new CidrTable<string>();
    assert.equal(empty.lookup(Uint8Array.from([192, 0, 2, 0]), 4, 24).scope, 0);
  });

  it('steering files: "CIDR POOL" lines, comments, bad lines reported and skipped', () => {
    const { entries, problems } = parseSteeringText(
      ['# regions', '192.0.2.0/24 eu   # Europe', '', '198.51.100.0/24', '203.0.113.0/33 us', '2001:db8::/32 nowhere', '2001:db8::/32 us'].join('\n'),
      new Set(['eu', 'us']),
    );
    assert.deepEqual(entries, [
      { cidr: '192.0.2.0/24', pool: 'eu' },
      { cidr: '2001:db8::/32', pool: 'us' },
    ]);
    assert.deepEqual(
      problems.map((p) => p.line),
      [4, 5, 6],
    );
    assert.match(problems[2]!.reason, /no pool named "nowhere"/);
  });
});
