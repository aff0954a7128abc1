/**
 * The DNS server's UDP sockets (src/dns/udp.ts): the batched one in the native addon and
 * the node:dgram one answer every datagram exactly as Responder.respond does (byte for
 * byte), keep answering through bursts larger than one batch, steer by the client's
 * address (IPv4, and IPv4-mapped on a dual-stack socket), drop what respond drops, and
 * refuse a port in use. On 127.0.0.1 (and ::, when the machine has IPv6), ports chosen by
 * the kernel; every burst bounded.
 */
import assert from 'node:assert/strict';
import dgram from 'node:dgram';
import net from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import { Pool } from '../../src/backend/pool.js';
import { dnsConfig, poolConfig, poolName, zoneConfig } from '../../src/dns/build-config.js';
import { decodeMessage, encodeQuery, type QuerySpec } from '../../src/dns/message.js';
import { Responder } from '../../src/dns/responder.js';
import { DnsServer } from '../../src/dns/server.js';
import { TYPE } from '../../src/dns/wire.js';
import { nativeAddonMissing } from '../../src/io/addon.js';

function pools(): Map<string, Pool> {
  return new Map([
    [
      'web',
      new Pool(
        poolConfig('web', [
          { name: 'S1', host: '192.0.2.11' },
          { name: 'S2', host: '192.0.2.12' },
        ]),
      ),
    ],
    ['local', new Pool(poolConfig('local', [{ name: 'L1', host: '198.51.100.7' }]))],
  ]);
}

function config(host: string) {
  return dnsConfig(
    [{ host, port: 0 }],
    [
      zoneConfig('example.com', {
        records: [{ name: 'txt.example.com.', type: 'TXT', ttl: 60, data: ['x'.repeat(200), 'y'.repeat(200), 'z'.repeat(200)] }],
        pools: [poolName('www.example.com.', 'web', { ttl: 20 }), poolName('near.example.com.', 'web', { steering: [{ cidr: '127.0.0.0/8', pool: 'local' }] })],
      }),
    ],
  );
}

async function started(t: TestContext, nativeUdp: boolean, host = '127.0.0.1'): Promise<{ server: DnsServer; port: number }> {
  const server = new DnsServer(config(host), pools(), { log: () => {}, nativeUdp });
  await server.start();
  t.after(() => server.stop());
  return { server, port: server.addresses()[0]!.port };
}

/** Sends every packet from one socket and collects answers until `expect` came or `ms` passed. */
async function exchange(port: number, packets: Buffer[], expect: number, ms = 2000, type: 'udp4' | 'udp6' = 'udp4', to = '127.0.0.1'): Promise<Buffer[]> {
  // the server answers a batch at once, in this same process: room for a whole burst
  const s = dgram.createSocket({ type, recvBufferSize: 4 << 20 });
  const got: Buffer[] = [];
  await new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    s.on('message', (m) => {
      got.push(m);
      if (got.length >= expect) {
        clearTimeout(t);
        resolve();
      }
    });
    s.bind(0, type === 'udp4' ? '127.0.0.1' : '::', () => {
      for (const p of packets) s.send(p, port, to);
    });
  });
  s.close();
  return got;
}

const QUERIES: QuerySpec[] = [
  { id: 1, name: 'www.example.com', type: TYPE.A },
  { id: 2, name: 'WwW.ExAmPlE.cOm', type: TYPE.A, rd: true, cd: true },
  { id: 3, name: 'www.example.com', type: TYPE.A, ecs: { family: 1, sourcePrefix: 24, address: Uint8Array.from([192, 0, 2]) } },
  { id: 4, name: 'nope.example.com', type: TYPE.A, edns: { dnssecOk: true } },
  { id: 5, name: 'txt.example.com', type: TYPE.TXT },
  { id: 6, name: 'txt.example.com', type: TYPE.TXT, edns: { udpSize: 4096 } },
  { id: 7, name: 'example.org', type: TYPE.A },
  { id: 8, name: 'www.example.com', type: TYPE.A, edns: { version: 1 } },
  { id: 9, name: 'www.example.com', type: TYPE.A, opcode: 2 },
  { id: 10, name: 'www.example.com', type: TYPE.ANY },
];

const kinds = [
  { nativeUdp: true, kind: 'native' as const },
  { nativeUdp: false, kind: 'dgram' as const },
];

for (const { nativeUdp, kind } of kinds) {
  describe(`dns udp: ${kind}`, { skip: kind === 'native' && nativeAddonMissing() !== '' ? `native addon not usable: ${nativeAddonMissing()}` : false }, () => {
    it('answers byte for byte as Responder.respond does', async (t) => {
      const { server, port } = await started(t, nativeUdp);
      assert.deepEqual(server.udpKinds(), [kind]);
      const reference = new Responder(config('127.0.0.1'), pools(), { watch: false });
      for (const spec of QUERIES) {
        const q = encodeQuery(spec);
        const [got] = await exchange(port, [q], 1);
        assert.ok(got, `an answer to query ${spec.id}`);
        assert.deepEqual(got, reference.respond(q, '127.0.0.1', 'udp'), `query ${spec.id}`);
      }
    });

    it('drops responses, runts and a header without a question; still serving', async (t) => {
      const { port } = await started(t, nativeUdp);
      const resp = encodeQuery({ name: 'www.example.com', type: TYPE.A });
      resp[2]! |= 0x80;
      const got = await exchange(port, [resp, Buffer.from([1, 2, 3]), Buffer.alloc(0)], 1, 300);
      assert.equal(got.length, 0);
      const [ok] = await exchange(port, [encodeQuery({ name: 'www.example.com', type: TYPE.A })], 1);
      assert.equal(decodeMessage(ok!).answers.length, 2);
    });

    it('answers every query of bursts larger than one batch, each to its ID', async (t) => {
      const { port } = await started(t, nativeUdp);
      const n = 300;
      const packets = Array.from({ length: n }, (_, i) => encodeQuery({ id: i + 1, name: i % 3 === 0 ? 'nope.example.com' : 'www.example.com', type: TYPE.A }));
      for (let round = 0; round < 3; round++) {
        const got = await exchange(port, packets, n, 3000);
        // loopback UDP can drop under load from other processes: most, not all, must come back
        assert.ok(got.length >= n * 0.9, `round ${round}: ${got.length} of ${n} answered`);
        const ids = new Set(got.map((m) => decodeMessage(m).id));
        assert.equal(ids.size, got.length, 'one answer per query');
        for (const m of got) {
          const d = decodeMessage(m);
          assert.equal(d.rcode, (d.id - 1) % 3 === 0 ? 3 : 0, `query ${d.id}`);
        }
      }
    });

    it('steers by the client address (127.0.0.1 -> local pool)', async (t) => {
      const { port } = await started(t, nativeUdp);
      const [got] = await exchange(port, [encodeQuery({ name: 'near.example.com', type: TYPE.A })], 1);
      assert.deepEqual(
        decodeMessage(got!).answers.map((a) => a.data),
        ['198.51.100.7'],
      );
      // With ECS the subnet decides, not the socket address.
      const [ecs] = await exchange(port, [encodeQuery({ name: 'near.example.com', type: TYPE.A, ecs: { family: 1, sourcePrefix: 24, address: Uint8Array.from([192, 0, 2]) } })], 1);
      assert.deepEqual(decodeMessage(ecs!).answers.map((a) => a.data).sort(), ['192.0.2.11', '192.0.2.12']);
    });

    it('on a dual-stack socket (::), an IPv4 client is steered as IPv4', async (t) => {
      const probe = net.createServer();
      const v6 = await new Promise<boolean>((resolve) => {
        probe.once('error', () => resolve(false));
        probe.listen(0, '::', () => probe.close(() => resolve(true)));
      });
      if (!v6) return t.skip('no IPv6 here');
      const { port } = await started(t, nativeUdp, '::');
      const [got] = await exchange(port, [encodeQuery({ name: 'near.example.com', type: TYPE.A })], 1);
      assert.deepEqual(
        decodeMessage(got!).answers.map((a) => a.data),
        ['198.51.100.7'],
      );
      const [v6got] = await exchange(port, [encodeQuery({ name: 'near.example.com', type: TYPE.A })], 1, 2000, 'udp6', '::1');
      assert.deepEqual(decodeMessage(v6got!).answers.map((a) => a.data).sort(), ['192.0.2.11', '192.0.2.12']);
    });

    it('refuses a port in use with the address and the error; stop() twice is fine; the port is free at once after stop', async (t) => {
      const { server, port } = await started(t, nativeUdp);
      const other = new DnsServer(dnsConfig([{ host: '127.0.0.1', port }], [zoneConfig('example.com', {})]), new Map(), { log: () => {}, nativeUdp });
      await assert.rejects(other.start(), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'FULCRUM_ERR_LISTEN');
        assert.match(err.message, new RegExp(`dns: cannot listen on udp 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`));
        return true;
      });
      await server.stop();
      await server.stop();
      // a reload stops the old server and binds the same port again right away
      const again = new DnsServer(dnsConfig([{ host: '127.0.0.1', port }], [zoneConfig('example.com', { pools: [poolName('www.example.com.', 'web')] })]), pools(), { log: () => {}, nativeUdp });
      await again.start();
      t.after(() => again.stop());
      const [ok] = await exchange(port, [encodeQuery({ name: 'www.example.com', type: TYPE.A })], 1);
      assert.equal(decodeMessage(ok!).answers.length, 2);
    });
  });
}
