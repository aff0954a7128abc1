/** BGP and BFD on the wire: prefixes, UPDATEs both ways, OPEN capabilities, BFD packets and the three-way handshake. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeOpen, decodeUpdate, encodeOpen, encodeUpdate, formatPrefix, parsePrefix, splitMessage, AFI, SAFI_UNICAST, BgpError } from '../../src/bgp/wire.js';
import { BFD_STATE, BfdSession, decodeBfd, encodeBfd } from '../../src/bgp/bfd.js';

const body = (b: Buffer) => splitMessage(b)!.body;

describe('BGP wire', () => {
  it('parses and prints prefixes, refusing host bits', () => {
    for (const p of ['203.0.113.10/32', '198.51.100.0/24', '0.0.0.0/0', '2001:db8::/32', '2001:db8:0:1::10/128', '::/0']) assert.equal(formatPrefix(parsePrefix(p)), p);
    assert.equal(formatPrefix(parsePrefix('203.0.113.10')), '203.0.113.10/32');
    assert.throws(() => parsePrefix('203.0.113.10/24'), /host bits/);
  });

  it('round-trips announcements and withdrawals of both families', () => {
    const attrs = { asPath: [65001, 4_200_000_000], nextHop: Buffer.from([192, 0, 2, 10]), med: 5, communities: [65001 * 65536 + 100], largeCommunities: [[65001, 1, 2]] as Array<[number, number, number]> };
    const v4 = decodeUpdate(body(encodeUpdate([parsePrefix('203.0.113.10/32')], attrs, true)), true);
    assert.deepEqual(v4.nlri.map(formatPrefix), ['203.0.113.10/32']);
    assert.deepEqual(v4.attributes, [1, 2, 3, 4, 8, 32]);
    const v6nh = Buffer.from('20010db8000000000000000000000010', 'hex');
    const v6 = decodeUpdate(body(encodeUpdate([parsePrefix('2001:db8:1::/48')], { ...attrs, nextHop: v6nh }, true)), true);
    assert.deepEqual(v6.mpReach.map(formatPrefix), ['2001:db8:1::/48']);
    assert.deepEqual(decodeUpdate(body(encodeUpdate([parsePrefix('203.0.113.10/32')], null, true)), true).withdrawn.map(formatPrefix), ['203.0.113.10/32']);
    assert.deepEqual(decodeUpdate(body(encodeUpdate([parsePrefix('2001:db8:1::/48')], null, true)), true).mpUnreach.map(formatPrefix), ['2001:db8:1::/48']);
    // towards a 2-octet speaker: AS_TRANS in AS_PATH, the real path in AS4_PATH
    const old = decodeUpdate(body(encodeUpdate([parsePrefix('203.0.113.10/32')], attrs, false)), false);
    assert.ok(old.attributes.includes(17));
  });

  it('reads an OPEN\'s capabilities; a 4-octet AS travels as AS_TRANS', () => {
    const o = decodeOpen(body(encodeOpen({ asn: 4_200_000_000, holdTime: 9, routerId: '192.0.2.10', families: [[AFI.IPV4, SAFI_UNICAST], [AFI.IPV6, SAFI_UNICAST]] })));
    assert.deepEqual(o, { version: 4, asn: 4_200_000_000, holdTime: 9, routerId: '192.0.2.10', as4: true, routeRefresh: true, families: ['1/1', '2/1'] });
  });

  it('refuses an UPDATE announcing without the mandatory attributes', () => {
    const bad = Buffer.from([0, 0, 0, 0, 32, 203, 0, 113, 10]);
    assert.throws(() => decodeUpdate(bad, true), (e: BgpError) => e.code === 3 && e.subcode === 3);
  });
});

describe('BFD', () => {
  it('round-trips a control packet and discards invalid ones', () => {
    const p = { diag: 0, state: BFD_STATE.UP, poll: false, final: true, multiplier: 3, myDisc: 7, yourDisc: 9, desiredMinTxUs: 100_000, requiredMinRxUs: 100_000 };
    assert.deepEqual(decodeBfd(encodeBfd(p)), { version: 1, ...p });
    assert.equal(decodeBfd(encodeBfd({ ...p, myDisc: 0 })), null, 'my discriminator 0');
    assert.equal(decodeBfd(encodeBfd({ ...p, yourDisc: 0 })), null, 'your discriminator 0 while up');
    assert.equal(decodeBfd(encodeBfd(p).subarray(0, 20)), null, 'short');
  });

  it('comes up by the three-way handshake and goes down when the peer says so', () => {
    const sent: Buffer[] = [];
    const states: string[] = [];
    const s = new BfdSession('192.0.2.1', { minTxMs: 100, minRxMs: 100, multiplier: 3 }, (b) => sent.push(b), (st) => states.push(st));
    const peer = (state: number, yourDisc: number) => ({ version: 1, diag: 0, state, poll: false, final: false, multiplier: 3, myDisc: 42, yourDisc, desiredMinTxUs: 100_000, requiredMinRxUs: 100_000 });
    s.receive(peer(BFD_STATE.DOWN, 0));
    assert.deepEqual(states, ['init']);
    s.receive(peer(BFD_STATE.UP, s.myDisc));
    assert.deepEqual(states, ['init', 'up']);
    assert.equal(decodeBfd(sent.at(-1)!)!.state, BFD_STATE.UP, 'the new state goes out at once');
    assert.equal(s.detectMs, 300);
    s.receive(peer(BFD_STATE.DOWN, s.myDisc));
    assert.deepEqual(states, ['init', 'up', 'down']);
    s.stop();
    assert.equal(decodeBfd(sent.at(-1)!)!.state, BFD_STATE.ADMIN_DOWN);
  });
});
