/**
 * The DNS server against real clients: dig (Debian dnsutils) and kdig (Debian
 * knot-dnsutils), over UDP and TCP on 127.0.0.1 with a port chosen by the kernel. Each
 * test skips, saying which package is missing, when its client is not installed.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { Pool } from '../../src/backend/pool.js';
import type { DnsRecordConfig } from '../../src/config/types.js';
import { dnsConfig, poolConfig, poolName, zoneConfig } from '../../src/dns/build-config.js';
import { decodeMessage, encodeQuery } from '../../src/dns/message.js';
import { DnsServer } from '../../src/dns/server.js';
import { RCODE, TYPE } from '../../src/dns/wire.js';
import { dig, missing } from '../helpers/spawn.js';

const run = promisify(execFile);
const DIG = missing('dig', 'Debian package dnsutils');
const KDIG = missing('kdig', 'Debian package knot-dnsutils');

const rec = (name: string, type: DnsRecordConfig['type'], data: unknown, ttl = 3600): DnsRecordConfig => ({ name, type, data, ttl });

let server: DnsServer;
let port = 0;
let web: Pool;

before(async () => {
  web = new Pool(
    poolConfig('web', [
      { name: 'S1', host: '192.0.2.11' },
      { name: 'S2', host: '192.0.2.12' },
      { name: 'S6', host: '2001:db8::12' },
    ]),
  );
  const pools = new Map([
    ['web', web],
    ['eu', new Pool(poolConfig('eu', [{ name: 'e1', host: '198.51.100.1' }]))],
    ['big', new Pool(poolConfig('big', Array.from({ length: 40 }, (_, i) => ({ name: `b${i}`, host: `203.0.113.${i + 1}` }))))],
  ]);
  const cfg = dnsConfig(
    [{ host: '127.0.0.1', port: 0 }],
    [
      zoneConfig('example.com', {
        soa: { minimum: 60, ttl: 3600 },
        records: [
          rec('example.com.', 'NS', 'ns1.example.com.'),
          rec('ns1.example.com.', 'A', '127.0.0.1'),
          rec('example.com.', 'MX', { preference: 10, exchange: 'mail.example.com.' }),
          rec('mail.example.com.', 'A', '192.0.2.25'),
          rec('example.com.', 'TXT', ['v=spf1 mx -all', 'second string']),
          rec('example.com.', 'CAA', { flags: 0, tag: 'issue', value: 'letsencrypt.org' }),
          rec('_http._tcp.www.example.com.', 'SRV', { priority: 0, weight: 5, port: 8081, target: 'www.example.com.' }),
          rec('docs.example.com.', 'CNAME', 'www.example.com.', 300),
          rec('deep.a.b.example.com.', 'A', '192.0.2.99'),
        ],
        pools: [
          poolName('www.example.com.', 'web', { ttl: 20 }),
          poolName('many.example.com.', 'big'),
          poolName('geo.example.com.', 'web', {
            steering: [
              { cidr: '192.0.2.0/24', pool: 'eu' },
              { cidr: '198.51.0.0/17', pool: 'eu' },
            ],
          }),
        ],
      }),
      zoneConfig('example.net', { transfer: true, records: [rec('www.example.net.', 'A', '192.0.2.80'), rec('example.net.', 'NS', 'ns1.example.com.')] }),
    ],
    300,
  );
  server = new DnsServer(cfg, pools, { log: () => {} });
  await server.start();
  port = server.addresses()[0]!.port;
});

after(async () => {
  await server?.stop();
});


async function kdig(...args: string[]): Promise<string> {
  const r = await run('kdig', [`@127.0.0.1`, '-p', String(port), '+norec', '+time=2', '+retry=0', ...args], { timeout: 10_000 }).catch((err: { stdout?: string; stderr?: string }) => ({
    stdout: `${err.stdout ?? ''}${err.stderr ?? ''}`,
  }));
  return r.stdout;
}

const status = (out: string) => /status: (\w+)/.exec(out)?.[1];
const flags = (out: string) => (/flags: ([a-z ]*);/i.exec(out)?.[1] ?? '').trim().toLowerCase().split(/\s+/);
/** Lines of one section in dig's default output ("ANSWER", "AUTHORITY"). */
function section(out: string, name: string): string[][] {
  const m = new RegExp(`;; ${name} SECTION:\\n([\\s\\S]*?)(?:\\n\\n|$)`).exec(out);
  return m ? m[1]!.split('\n').filter((l) => l.trim() !== '' && !l.startsWith(';')).map((l) => l.trim().split(/\s+/)) : [];
}

describe('dns server with dig', { skip: DIG }, () => {
  it('answers A from the pool (AA, TTL) and AAAA from its IPv6 server', async () => {
    const out = await dig(port, 'www.example.com', 'A');
    assert.equal(status(out), 'NOERROR');
    assert.ok(flags(out).includes('aa'), out);
    assert.deepEqual(
      section(out, 'ANSWER').map((r) => [r[0], r[1], r[3], r[4]]),
      [
        ['www.example.com.', '20', 'A', '192.0.2.11'],
        ['www.example.com.', '20', 'A', '192.0.2.12'],
      ],
    );
    assert.equal((await dig(port, '+short', 'www.example.com', 'AAAA')).trim(), '2001:db8::12');
  });

  it('serves static records: CNAME, TXT, MX, SRV, CAA, NS, SOA', async () => {
    assert.deepEqual((await dig(port, '+short', 'docs.example.com', 'A')).trim().split('\n'), ['www.example.com.', '192.0.2.11', '192.0.2.12']);
    assert.equal((await dig(port, '+short', 'example.com', 'TXT')).trim(), '"v=spf1 mx -all" "second string"');
    assert.equal((await dig(port, '+short', 'example.com', 'MX')).trim(), '10 mail.example.com.');
    assert.equal((await dig(port, '+short', '_http._tcp.www.example.com', 'SRV')).trim(), '0 5 8081 www.example.com.');
    assert.equal((await dig(port, '+short', 'example.com', 'CAA')).trim(), '0 issue "letsencrypt.org"');
    assert.equal((await dig(port, '+short', 'example.com', 'NS')).trim(), 'ns1.example.com.');
    assert.equal((await dig(port, '+short', 'example.com', 'SOA')).trim(), 'ns1.example.com. hostmaster.example.com. 1 3600 600 604800 60');
  });

  it('NXDOMAIN, NODATA and empty non-terminals carry the SOA with the negative TTL', async () => {
    for (const [name, type, want] of [
      ['nope.example.com', 'A', 'NXDOMAIN'],
      ['mail.example.com', 'AAAA', 'NOERROR'],
      ['a.b.example.com', 'A', 'NOERROR'],
      ['b.example.com', 'TXT', 'NOERROR'],
    ] as const) {
      const out = await dig(port, name, type);
      assert.equal(status(out), want, `${name} ${type}`);
      assert.ok(flags(out).includes('aa'));
      assert.deepEqual(section(out, 'ANSWER'), []);
      assert.deepEqual(
        section(out, 'AUTHORITY').map((r) => [r[0], r[1], r[3]]),
        [['example.com.', '60', 'SOA']],
        `${name} ${type}`,
      );
    }
  });

  it('REFUSED outside the zones, without AA', async () => {
    const out = await dig(port, 'www.example.org', 'A');
    assert.equal(status(out), 'REFUSED');
    assert.ok(!flags(out).includes('aa'));
  });

  it('FORMERR for a query without a question (dig +header-only)', async () => {
    const out = await dig(port, '+header-only', '+noedns', 'www.example.com');
    assert.equal(status(out), 'FORMERR');
  });

  it('keeps the question byte for byte: mixed case (0x20) in question and owner names', async () => {
    const out = await dig(port, 'wWw.ExAmPlE.CoM', 'A');
    assert.match(out, /^;wWw\.ExAmPlE\.CoM\.\s+IN\s+A$/m);
    assert.deepEqual(
      section(out, 'ANSWER').map((r) => r[0]),
      ['wWw.ExAmPlE.CoM.', 'wWw.ExAmPlE.CoM.'],
    );
  });

  it('TC=1 over UDP without EDNS, then the same query over TCP gets everything', async () => {
    const tc = await dig(port, '+noedns', '+ignore', 'many.example.com', 'A');
    assert.ok(flags(tc).includes('tc'), tc);
    assert.deepEqual(section(tc, 'ANSWER'), []);
    const retried = await dig(port, '+noedns', 'many.example.com', 'A');
    assert.match(retried, /Truncated, retrying in TCP mode/);
    assert.equal(section(retried, 'ANSWER').length, 40);
    assert.match(retried, /\(TCP\)/);
    // With EDNS (dig asks for 1232) the 40 records fit in one UDP answer.
    const fits = await dig(port, 'many.example.com', 'A');
    assert.equal(section(fits, 'ANSWER').length, 40);
    assert.ok(!flags(fits).includes('tc'));
  });

  it('answers several queries on one TCP connection (+keepopen)', async () => {
    const out = await dig(port, '+tcp', '+keepopen', 'www.example.com', 'A', 'mail.example.com', 'A', 'example.com', 'MX');
    assert.equal(out.match(/status: NOERROR/g)?.length, 3);
    assert.match(out, /mail\.example\.com\.\s+3600\s+IN\s+A\s+192\.0\.2\.25/);
  });

  it('ECS: +subnet with /24, /23, /17 and /0; echoed with the SCOPE the answer depended on', async () => {
    const cases: Array<[string, string, string]> = [
      // steering: 192.0.2.0/24 -> eu, 198.51.0.0/17 -> eu
      ['192.0.2.0/24', '198.51.100.1', '192.0.2.0/24/24'],
      ['192.0.2.0/23', '192.0.2.11', '192.0.2.0/23/24'], // not specific enough: asks for /24
      ['198.51.0.0/17', '198.51.100.1', '198.51.0.0/17/17'],
      ['198.51.128.0/17', '192.0.2.11', '198.51.128.0/17/17'],
      ['0.0.0.0/0', '192.0.2.11', '0.0.0.0/0/0'],
    ];
    for (const [subnet, first, echoed] of cases) {
      const out = await dig(port, `+subnet=${subnet}`, 'geo.example.com', 'A');
      assert.equal(section(out, 'ANSWER')[0]?.[4], first, `${subnet}\n${out}`);
      assert.match(out, new RegExp(`CLIENT-SUBNET: ${echoed.replace(/\./g, '\\.')}$`, 'm'), subnet);
    }
    // A name that does not depend on the client: SCOPE 0.
    assert.match(await dig(port, '+subnet=192.0.2.0/24', 'www.example.com', 'A'), /CLIENT-SUBNET: 192\.0\.2\.0\/24\/0$/m);
  });

  it('BADVERS for EDNS version 1 (dig then retries with version 0)', async () => {
    const out = await dig(port, '+edns=1', 'www.example.com', 'A');
    assert.match(out, /BADVERS, retrying with EDNS version 0/);
    assert.equal(status(out), 'NOERROR');
  });
});

describe('dns server with kdig', { skip: KDIG }, () => {
  it('answers A over UDP and TCP', async () => {
    assert.deepEqual((await kdig('+short', 'www.example.com', 'A')).trim().split('\n'), ['192.0.2.11', '192.0.2.12']);
    assert.deepEqual((await kdig('+tcp', '+short', 'www.example.com', 'A')).trim().split('\n'), ['192.0.2.11', '192.0.2.12']);
  });

  it('BADVERS for EDNS version 1', async () => {
    const out = await kdig('+edns=1', 'www.example.com', 'A');
    assert.match(out, /status: BADVERS/);
  });

  it('NOTIMP for AXFR of a zone without transfers; AXFR of a zone that allows it', async () => {
    const refused = await kdig('-t', 'AXFR', 'example.com');
    assert.match(refused, /NOTIMP/, refused);
    const axfr = await kdig('-t', 'AXFR', 'example.net');
    const soa = axfr.split('\n').filter((l) => /^example\.net\.\s+\d+\s+IN\s+SOA\s/.test(l));
    assert.equal(soa.length, 2, axfr);
    assert.match(axfr, /www\.example\.net\.\s+3600\s+IN\s+A\s+192\.0\.2\.80/);
  });

  it('ECS with a non-octet prefix: the SCOPE names the matching entry', async () => {
    const out = await kdig('+subnet=198.51.0.0/17', 'geo.example.com', 'A');
    assert.match(out, /CLIENT-SUBNET: 198\.51\.0\.0\/17\/17/);
    assert.match(out, /geo\.example\.com\.\s+30\s+IN\s+A\s+198\.51\.100\.1/);
  });

  it('NXDOMAIN with the SOA', async () => {
    const out = await kdig('nope.example.com', 'A');
    assert.match(out, /status: NXDOMAIN/);
    assert.match(out, /example\.com\.\s+60\s+IN\s+SOA\s+ns1\.example\.com\./);
  });

  it('TC over UDP, then kdig retries over TCP', async () => {
    const out = await kdig('+noedns', 'many.example.com', 'A');
    assert.match(out, /\(TCP\)/);
    assert.equal(out.match(/many\.example\.com\.\s+30\s+IN\s+A\s/g)?.length, 40);
  });
});

describe('dns server sockets', () => {
  function udpAsk(packet: Buffer, timeoutMs = 500): Promise<Buffer | null> {
    return new Promise((resolve) => {
      const s = dgram.createSocket('udp4');
      const done = (v: Buffer | null) => {
        clearTimeout(t);
        s.close();
        resolve(v);
      };
      const t = setTimeout(() => done(null), timeoutMs);
      s.on('message', (m) => done(m));
      s.send(packet, port, '127.0.0.1');
    });
  }

  it('reports the bound port and answers on UDP and TCP at it', () => {
    const a = server.addresses();
    assert.equal(a.length, 1);
    assert.equal(a[0]!.host, '127.0.0.1');
    assert.ok(a[0]!.port > 0);
  });

  it('drops responses and runts silently; answers FORMERR to ECS with host bits set', async () => {
    const q = encodeQuery({ name: 'www.example.com', type: TYPE.A });
    const resp = Buffer.from(q);
    resp[2] |= 0x80;
    assert.equal(await udpAsk(resp, 300), null);
    assert.equal(await udpAsk(Buffer.from([1, 2, 3]), 300), null);
    const bad = await udpAsk(encodeQuery({ name: 'www.example.com', type: TYPE.A, ecs: { family: 1, sourcePrefix: 23, address: Uint8Array.from([192, 0, 3]) } }));
    assert.equal(decodeMessage(bad!).rcode, RCODE.FORMERR);
    // Still serving.
    const ok = await udpAsk(q);
    assert.equal(decodeMessage(ok!).answers.length, 2);
  });

  it('TCP: pipelined queries in one write, answers in order; split frames; idle timeout closes', async () => {
    const sock = net.connect(port, '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    const frames = [1, 2, 3].map((id) => {
      const m = encodeQuery({ id, name: ['www.example.com', 'mail.example.com', 'nope.example.com'][id - 1]!, type: TYPE.A });
      const f = Buffer.alloc(m.length + 2);
      f.writeUInt16BE(m.length);
      m.copy(f, 2);
      return f;
    });
    const all = Buffer.concat(frames);
    sock.write(all.subarray(0, 5));
    await new Promise((r) => setTimeout(r, 30));
    sock.write(all.subarray(5));
    const got: number[] = [];
    let buf = Buffer.alloc(0);
    const closed = new Promise<number>((resolve) => {
      const t0 = Date.now();
      sock.on('close', () => resolve(Date.now() - t0));
    });
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const len = buf.readUInt16BE(0);
        const m = decodeMessage(buf.subarray(2, 2 + len));
        got.push(m.id, m.rcode);
        buf = buf.subarray(2 + len);
      }
    });
    const idle = await closed;
    assert.deepEqual(got, [1, RCODE.NOERROR, 2, RCODE.NOERROR, 3, RCODE.NXDOMAIN]);
    assert.ok(idle >= 250 && idle < 3000, `closed after ${idle} ms (tcpIdleMs 300)`);
  });

  it('listens on IPv6 loopback too (udp6 and TCP), when the machine has it', { skip: DIG }, async (t) => {
    const probe = net.createServer();
    const v6 = await new Promise<boolean>((resolve) => {
      probe.once('error', () => resolve(false));
      probe.listen(0, '::1', () => probe.close(() => resolve(true)));
    });
    if (!v6) return t.skip('no IPv6 loopback here');
    const s6 = new DnsServer(
      dnsConfig([{ host: '::1', port: 0 }], [zoneConfig('example.com', { pools: [poolName('www.example.com.', 'web')] })]),
      new Map([['web', web]]),
      { log: () => {} },
    );
    await s6.start();
    t.after(() => s6.stop());
    const p6 = s6.addresses()[0]!.port;
    for (const extra of [[], ['+tcp']]) {
      const { stdout } = await run('dig', ['@::1', '-p', String(p6), '+short', '+time=2', '+tries=1', ...extra, 'www.example.com', 'A'], { timeout: 10_000 });
      assert.deepEqual(stdout.trim().split('\n'), ['192.0.2.11', '192.0.2.12']);
    }
  });

  it('TCP: a response sent as a query closes the connection', async () => {
    const sock = net.connect(port, '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    const q = encodeQuery({ name: 'www.example.com', type: TYPE.A });
    q[2] |= 0x80;
    const f = Buffer.alloc(q.length + 2);
    f.writeUInt16BE(q.length);
    q.copy(f, 2);
    const closed = new Promise((r) => sock.on('close', r));
    sock.on('error', () => {});
    sock.write(f);
    await closed;
  });
});
