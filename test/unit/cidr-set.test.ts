/** CidrSet: IPv4 parsed by hand (the per-request path), IPv6 through net.BlockList, IPv4-mapped addresses as IPv4. */
import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { CidrSet } from '../../src/proxy/http/cidr-set.js';

test('networks of every prefix length, IPv6, mapped addresses, and strings that are not addresses', () => {
  const s = new CidrSet(['192.0.2.0/24', '198.51.100.7/32', '10.0.0.0/8', '2001:db8::/32']);
  for (const ip of ['192.0.2.0', '192.0.2.255', '198.51.100.7', '10.255.0.1', '::ffff:192.0.2.9', '2001:db8::1', '2001:db8:ffff::']) assert.ok(s.has(ip), ip);
  for (const ip of ['192.0.3.0', '198.51.100.8', '11.0.0.1', '2001:db9::1', '', '192.0.2', '192.0.2.1.5', '192.0.2.256', '1920.0.2.1', 'x.0.2.1', '::1']) assert.ok(!s.has(ip), ip);
  assert.ok(new CidrSet(['0.0.0.0/0']).has('203.0.113.5'));
  assert.ok(!new CidrSet([]).has('203.0.113.5'));
  assert.ok(!new CidrSet(['2001:db8::/32']).has('192.0.2.1'));
});

test('the same answers as net.BlockList over random addresses and networks', () => {
  let seed = 11;
  const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) % n);
  const addr = () => `${rnd(4) + 190}.${rnd(3)}.${rnd(256)}.${rnd(256)}`;
  for (let k = 0; k < 50; k++) {
    const cidrs = Array.from({ length: 1 + rnd(6) }, () => `${addr()}/${rnd(33)}`);
    const block = new net.BlockList();
    for (const c of cidrs) block.addSubnet(c.split('/')[0]!, Number(c.split('/')[1]), 'ipv4');
    const s = new CidrSet(cidrs);
    for (let i = 0; i < 200; i++) {
      const ip = addr();
      assert.equal(s.has(ip), block.check(ip, 'ipv4'), `${ip} in ${cidrs.join(' ')}`);
    }
  }
});
