/**
 * The VRRPv3 codec: a packet as keepalived 2.2.7 sent it (captured on a veth in a test
 * namespace) decodes with its checksum, our encoding of the same fields is byte for byte
 * the same, and every kind of malformed packet yields its own drop reason, never a throw.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeAdvert, decodeIpv4Advert, encodeAdvert, encodeIpv4, vrrpChecksum, type DropReason } from '../../src/vrrp/packet.js';

// keepalived 2.2.7 (`version 3`, virtual_router_id 51, priority 100, advert_int 0.1, one VIP
// 192.0.2.100/24) in a test namespace, from 192.0.2.2 to 224.0.0.18: the whole IPv4
// packet as a raw socket in the peer namespace read it.
const KEEPALIVED = Buffer.from('45c0002000010000ff701898c0000202e000001231336401000a05cbc0000264', 'hex');

test('vrrp packet: an advertisement round-trips through encode and decode', () => {
  const vrrp = encodeAdvert({ vrid: 51, priority: 100, intervalCs: 10, addresses: ['192.0.2.100'] }, '192.0.2.2', '224.0.0.18');
  const pkt = encodeIpv4(vrrp, '192.0.2.2', '224.0.0.18');
  assert.equal(pkt[8], 255);
  assert.equal(pkt[9], 112);
  const r = decodeIpv4Advert(pkt);
  assert.deepEqual(r, {
    ok: true,
    advert: { vrid: 51, priority: 100, intervalCs: 10, addresses: ['192.0.2.100'], source: '192.0.2.2', destination: '224.0.0.18' },
  });
});

test("vrrp packet: keepalived's packet decodes, and our encoding of its fields is the same bytes", () => {
  const r = decodeIpv4Advert(KEEPALIVED);
  assert.deepEqual(r, {
    ok: true,
    advert: { vrid: 51, priority: 100, intervalCs: 10, addresses: ['192.0.2.100'], source: '192.0.2.2', destination: '224.0.0.18' },
  });
  const ours = encodeAdvert({ vrid: 51, priority: 100, intervalCs: 10, addresses: ['192.0.2.100'] }, '192.0.2.2', '224.0.0.18');
  assert.deepEqual(ours, KEEPALIVED.subarray(20));
});

test('vrrp packet: the checksum covers the IPv4 pseudo-header (RFC 5798 5.2.8)', () => {
  const vrrp = KEEPALIVED.subarray(20);
  assert.equal(vrrpChecksum('192.0.2.2', '224.0.0.18', vrrp), 0);
  // The same message checked as if sent to a unicast peer, or from another source, fails.
  assert.notEqual(vrrpChecksum('192.0.2.2', '192.0.2.1', vrrp), 0);
  assert.notEqual(vrrpChecksum('192.0.2.3', '224.0.0.18', vrrp), 0);
  assert.deepEqual(decodeAdvert(vrrp, '192.0.2.2', '192.0.2.1'), { ok: false, reason: 'checksum' });
});

test('vrrp packet: several addresses and a 12-bit interval', () => {
  const addrs = ['192.0.2.100', '192.0.2.101', '198.51.100.7'];
  const vrrp = encodeAdvert({ vrid: 255, priority: 255, intervalCs: 4095, addresses: addrs }, '192.0.2.1', '192.0.2.9');
  const r = decodeAdvert(vrrp, '192.0.2.1', '192.0.2.9');
  assert.ok(r.ok);
  assert.deepEqual(r.advert.addresses, addrs);
  assert.equal(r.advert.intervalCs, 4095);
  assert.equal(r.advert.priority, 255);
});

const good = () => encodeIpv4(encodeAdvert({ vrid: 7, priority: 100, intervalCs: 100, addresses: ['192.0.2.100'] }, '192.0.2.2', '224.0.0.18'), '192.0.2.2', '224.0.0.18');

const MALFORMED: Array<{ name: string; reason: DropReason; make: () => Buffer }> = [
  { name: 'empty', reason: 'truncated', make: () => Buffer.alloc(0) },
  { name: 'IP header cut short', reason: 'truncated', make: () => good().subarray(0, 12) },
  { name: 'IHL longer than the packet', reason: 'truncated', make: () => good().subarray(0, 22).fill(0x4f, 0, 1) },
  { name: 'IPv6 version nibble', reason: 'not-ipv4', make: () => good().fill(0x65, 0, 1) },
  { name: 'not protocol 112', reason: 'not-ipv4', make: () => good().fill(17, 9, 10) },
  { name: 'TTL 254 (routed from elsewhere)', reason: 'ttl', make: () => good().fill(254, 8, 9) },
  { name: 'VRRP header cut short', reason: 'truncated', make: () => good().subarray(0, 25) },
  { name: 'fewer addresses than announced', reason: 'truncated', make: () => good().fill(3, 23, 24) },
  { name: 'VRRPv2', reason: 'version', make: () => good().fill(0x21, 20, 21) },
  { name: 'version 0', reason: 'version', make: () => good().fill(0x01, 20, 21) },
  { name: 'type 2', reason: 'type', make: () => good().fill(0x32, 20, 21) },
  { name: 'one bit flipped in the priority', reason: 'checksum', make: () => good().fill(101, 22, 23) },
  { name: 'checksum zeroed', reason: 'checksum', make: () => good().fill(0, 26, 28) },
  {
    // found by the fuzzer: the checksum covered only the addresses the count announced
    name: 'count lowered, the address left behind and the checksum fixed for the shorter message',
    reason: 'checksum',
    make: () => {
      const vr = encodeAdvert({ vrid: 7, priority: 100, intervalCs: 100, addresses: [] }, '192.0.2.2', '224.0.0.18');
      return encodeIpv4(Buffer.concat([vr, Buffer.from([192, 0, 2, 100])]), '192.0.2.2', '224.0.0.18');
    },
  },
  { name: 'total length says less than the VRRP header', reason: 'truncated', make: () => { const b = good(); b.writeUInt16BE(24, 2); return b; } },
];

for (const m of MALFORMED) {
  test(`vrrp packet: malformed (${m.name}) is dropped as ${m.reason}`, () => {
    const r = decodeIpv4Advert(m.make());
    assert.deepEqual(r, { ok: false, reason: m.reason });
  });
}

test('vrrp packet: 20,000 random packets never throw', () => {
  let seed = 12345;
  const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
  for (let i = 0; i < 20_000; i++) {
    const base = i % 2 === 0 ? good() : Buffer.alloc(rand() % 64);
    for (let k = 0; k < 3; k++) if (base.length > 0) base[rand() % base.length] = rand() & 255;
    const r = decodeIpv4Advert(base.subarray(0, rand() % (base.length + 1)));
    assert.equal(typeof r.ok, 'boolean');
  }
});
