/**
 * Fulcrum's BGP speaker against a scripted peer on loopback: the session comes up,
 * routes follow their conditions, and bad input gets the NOTIFICATION RFC 4271 names
 * (unsupported version, bad peer AS, unacceptable hold time, malformed UPDATE), with
 * no crash and a clean reconnect.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { Pool } from '../../src/backend/pool.js';
import { BgpSpeaker } from '../../src/bgp/speaker.js';
import { decodeNotification, decodeOpen, decodeUpdate, encodeKeepalive, encodeOpen, ERR, formatPrefix, MSG, splitMessage, SUB, AFI, SAFI_UNICAST } from '../../src/bgp/wire.js';
import { configOk } from '../helpers/config.js';
import { freePort } from '../helpers/ports.js';
import { waitFor } from '../helpers/wait.js';

/** A scripted peer: connects to the speaker, and records every message it is sent. */
class Peer {
  readonly got: Array<{ type: number; body: Buffer }> = [];
  closed = false;
  private buf = Buffer.alloc(0);
  constructor(readonly sock: net.Socket) {
    sock.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      for (let m = splitMessage(this.buf); m !== null; m = splitMessage(this.buf)) {
        this.got.push({ type: m.type, body: Buffer.from(m.body) });
        this.buf = this.buf.subarray(m.size);
      }
    });
    sock.on('close', () => (this.closed = true));
    sock.on('error', () => {});
  }

  static connect(port: number): Promise<Peer> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => resolve(new Peer(s)));
      s.once('error', reject);
    });
  }

  of(type: number): Buffer[] {
    return this.got.filter((m) => m.type === type).map((m) => m.body);
  }

  async notification(): Promise<{ code: number; subcode: number; data: Buffer }> {
    const body = await waitFor(() => this.of(MSG.NOTIFICATION)[0], 3000, 'a NOTIFICATION');
    await waitFor(() => this.closed, 3000, 'the connection closed after it');
    return decodeNotification(body);
  }
}

describe('BGP speaker against a scripted peer', () => {
  let port = 0;
  let speaker: BgpSpeaker;
  let pool: Pool;
  const logs: string[] = [];

  before(async () => {
    port = await freePort();
    const config = configOk(
      `listeners:
  - { name: www, bind: 127.0.0.1:0, routes: [{ pool: web }] }
pools:
  web:
    servers: [{ name: s1, address: 192.0.2.11:80 }]
bgp:
  asn: 65001
  router_id: 192.0.2.10
  listen: 127.0.0.1:${port}
  hold_time: 9s
  graceful_shutdown: 0s
  peers:
    - { address: 127.0.0.1, asn: 65000, passive: true }
  announce:
    - { prefix: 203.0.113.10/32, when: { pool: web }, med: 5, communities: ["65001:100"], large_communities: ["65001:1:2"], prepend: 1 }
    - { prefix: 203.0.113.20/32 }
`,
      'bgp.yaml',
    );
    pool = new Pool(config.pools.get('web')!);
    speaker = new BgpSpeaker(config.bgp!, { pools: () => new Map([['web', pool]]), listener: () => undefined, log: (m) => logs.push(m) });
    await speaker.start();
  });
  after(async () => {
    await speaker.stop();
    pool.stop();
  });

  /** A peer that sends `open` after connecting; resolves once it has the speaker's OPEN. */
  async function peerWith(open: Buffer): Promise<Peer> {
    const p = await Peer.connect(port);
    p.sock.write(open);
    await waitFor(() => p.of(MSG.OPEN)[0] ?? p.closed, 3000, "the speaker's OPEN");
    return p;
  }
  const goodOpen = () => encodeOpen({ asn: 65000, holdTime: 9, routerId: '192.0.2.1', families: [[AFI.IPV4, SAFI_UNICAST]] });

  it('establishes, announces what holds with its attributes, withdraws when the pool has no usable server', async () => {
    const p = await peerWith(goodOpen());
    const open = decodeOpen(p.of(MSG.OPEN)[0]!);
    assert.deepEqual([open.asn, open.holdTime, open.routerId, open.as4, open.routeRefresh], [65001, 9, '192.0.2.10', true, true]);
    assert.deepEqual(open.families, ['1/1', '2/1']);
    p.sock.write(encodeKeepalive());
    await waitFor(() => speaker.report().sessions[0]!.state === 'established', 3000, 'established');
    const updates = () => p.of(MSG.UPDATE).map((b) => decodeUpdate(b, true));
    await waitFor(() => updates().length >= 3, 3000, 'two routes and End-of-RIB');
    assert.deepEqual(updates().flatMap((u) => u.nlri.map(formatPrefix)).sort(), ['203.0.113.10/32', '203.0.113.20/32']);
    assert.deepEqual(updates()[0]!.attributes.sort((a, b) => a - b), [1, 2, 3, 4, 8, 32]);
    // the first UPDATE: AS_PATH 65001 65001 (one prepend), MED 5
    const raw = p.of(MSG.UPDATE)[0]!;
    assert.ok(raw.includes(Buffer.from([2, 2, 0, 0, 0xfd, 0xe9, 0, 0, 0xfd, 0xe9])), 'AS_PATH is one sequence of 65001 twice, 4-octet');

    pool.setHealthy(pool.servers[0]!, false, 'test');
    speaker.evaluate();
    await waitFor(() => updates().some((u) => u.withdrawn.map(formatPrefix).includes('203.0.113.10/32')), 3000, 'the withdrawal');
    assert.ok(logs.some((l) => /withdrawing 203\.0\.113\.10\/32: pool web has 0 usable server\(s\) \(fewer than 1\)/.test(l)), logs.join('\n'));
    pool.setHealthy(pool.servers[0]!, true, 'test');
    speaker.evaluate();
    await waitFor(() => updates().filter((u) => u.nlri.map(formatPrefix).includes('203.0.113.10/32')).length === 2, 3000, 'announced again');
    p.sock.destroy();
    await waitFor(() => speaker.report().sessions[0]!.state === 'active', 3000, 'back to waiting for the peer');
  });

  const refusals: Array<[string, () => Buffer, number, number]> = [
    ['an unsupported version', () => Object.assign(goodOpen(), {}).fill(3, 19, 20), ERR.OPEN, SUB.UNSUPPORTED_VERSION],
    ['the wrong AS', () => encodeOpen({ asn: 65099, holdTime: 9, routerId: '192.0.2.1', families: [] }), ERR.OPEN, SUB.BAD_PEER_AS],
    ['a hold time of 2 s', () => encodeOpen({ asn: 65000, holdTime: 2, routerId: '192.0.2.1', families: [] }), ERR.OPEN, SUB.UNACCEPTABLE_HOLD_TIME],
    ['a bad marker', () => Buffer.from(goodOpen()).fill(0, 0, 1), ERR.HEADER, SUB.NOT_SYNCHRONIZED],
    ['a bad length', () => Buffer.from(goodOpen()).fill(0xff, 16, 18), ERR.HEADER, SUB.BAD_LENGTH],
  ];
  for (const [what, open, code, subcode] of refusals) {
    it(`answers ${what} with NOTIFICATION ${code}/${subcode} and goes on`, async () => {
      const p = await Peer.connect(port);
      p.sock.write(open());
      const n = await p.notification();
      assert.deepEqual([n.code, n.subcode], [code, subcode]);
      if (subcode === SUB.UNSUPPORTED_VERSION && code === ERR.OPEN) assert.deepEqual([...n.data], [0, 4], 'the data names version 4');
      await waitFor(() => speaker.report().sessions[0]!.state === 'active', 3000, 'waiting for the peer again');
    });
  }

  it('answers a malformed UPDATE in an established session with NOTIFICATION 3, then accepts the peer again', async () => {
    const p = await peerWith(goodOpen());
    p.sock.write(encodeKeepalive());
    await waitFor(() => speaker.report().sessions[0]!.state === 'established', 3000, 'established');
    // withdrawn routes length 100 in a 4-byte body
    const bad = Buffer.concat([Buffer.alloc(16, 0xff), Buffer.from([0, 23, MSG.UPDATE, 0, 100, 0, 0])]);
    p.sock.write(bad);
    const n = await p.notification();
    assert.deepEqual([n.code, n.subcode], [ERR.UPDATE, SUB.MALFORMED_ATTRIBUTES]);
    const again = await peerWith(goodOpen());
    again.sock.write(encodeKeepalive());
    await waitFor(() => speaker.report().sessions[0]!.state === 'established', 3000, 'established again');
    assert.equal(speaker.report().sessions[0]!.counts.established, 3);
    again.sock.destroy();
  });
});
