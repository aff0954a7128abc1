/**
 * Fulcrum's BGP speaker against BIRD 2 (Debian bird2) as the router, in two network
 * namespaces the test builds (router 192.0.2.1 AS 65000, balancer 192.0.2.10 AS 65001):
 * the session comes up, the routes arrive with their attributes, a pool with no usable
 * server withdraws its route, and a graceful stop marks the routes GRACEFUL_SHUTDOWN
 * before withdrawing them and ending the session.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NODE_FLAGS } from '../../src/cli/node-flags.js';
import { privilegedSkip, shResult, type NsProcess } from '../helpers/netns.js';
import { BgpLab, until } from '../helpers/bgp-lab.js';
import { CLI_PATH, missing } from '../helpers/spawn.js';

const SKIP = privilegedSkip(['ip']) ?? missing('bird', 'Debian package bird2');

describe('BGP with BIRD 2 as the router', { skip: SKIP ?? false }, () => {
  let lab: BgpLab;
  const birdc = async (...args: string[]) => (await shResult('birdc', ['-s', join(lab.dir, 'bird.ctl'), ...args])).stdout;
  /** BIRD's routes for a prefix, with their attributes ('' when it has none). */
  const route = async (prefix: string) => {
    const out = await birdc('show', 'route', prefix, 'all');
    return out.includes(prefix.split('/')[0]!) ? out : '';
  };
  let lb: NsProcess | null = null;
  const wait = (what: string, cond: () => Promise<boolean>, ms?: number) => until(what, cond, async () => `BIRD:\n${await birdc('show', 'protocols', 'all')}\nfulcrum:\n${lb?.err ?? ''}`, ms);

  before(async () => {
    lab = await BgpLab.create('bgpb');
    // IPv6 routes go over the IPv4 session (multiprotocol), with an IPv6 next hop on the link
    await shResult('ip', ['-n', lab.router, 'addr', 'add', '2001:db8::1/64', 'dev', 'eth0', 'nodad']);
    await shResult('ip', ['-n', lab.balancer, 'addr', 'add', '2001:db8::10/64', 'dev', 'eth0', 'nodad']);
    writeFileSync(
      join(lab.dir, 'bird.conf'),
      `router id 192.0.2.1;
protocol device { scan time 1; }
protocol bfd { interface "eth0" { min rx interval 100 ms; min tx interval 100 ms; multiplier 3; }; }
protocol bgp lb1 {
  local 192.0.2.1 as 65000;
  neighbor 192.0.2.10 as 65001;
  passive on;
  hold time 9;
  bfd on;
  ipv4 { import all; export none; };
  ipv6 { import all; export none; };
}
`,
    );
    lab.start(lab.router, 'bird', ['-f', '-c', join(lab.dir, 'bird.conf'), '-s', join(lab.dir, 'bird.ctl')]);
    await wait('BIRD answers', async () => (await birdc('show', 'status')).includes('Daemon is up'));
  });

  after(() => lab?.destroy());

  it('announces with its attributes, withdraws a pool\'s route when no server is usable, and stops gracefully', { timeout: 60_000 }, async () => {
    const backend = await lab.tcpServer(18081);
    const file = lab.balancerConfig(
      18081,
      `  graceful_shutdown: 2s
  peers:
    - { name: r1, address: 192.0.2.1, asn: 65000, bfd: true }
  announce:
    - { prefix: 203.0.113.10/32, when: { pool: web }, med: 7, communities: ["65001:100"], large_communities: ["65001:1:2"], prepend: 1 }
    - { prefix: 203.0.113.20/32, when: { listener: www } }
    - { prefix: "2001:db8:ff::/48", next_hop: "2001:db8::10", communities: ["65001:6"] }
`,
    );
    lb = lab.start(lab.balancer, process.execPath, [...NODE_FLAGS, CLI_PATH, 'run', '-c', file]);
    await lb.waitFor(/listening on http/);
    await wait('the session is established', async () => /lb1 +BGP +--- +up .*Established/.test(await birdc('show', 'protocols')));
    await wait('both routes arrive', async () => (await route('203.0.113.10/32')) !== '' && (await route('203.0.113.20/32')) !== '');
    const r10 = await route('203.0.113.10/32');
    assert.match(r10, /via 192\.0\.2\.10 on eth0/);
    assert.match(r10, /BGP\.as_path: 65001 65001/);
    assert.match(r10, /BGP\.med: 7/);
    assert.match(r10, /BGP\.community: \(65001,100\)/);
    assert.match(r10, /BGP\.large_community: \(65001, 1, 2\)/);
    assert.match(await route('203.0.113.20/32'), /BGP\.as_path: 65001\n/);
    await wait('the IPv6 route arrives', async () => (await route('2001:db8:ff::/48')) !== '');
    const r6 = await route('2001:db8:ff::/48');
    assert.match(r6, /via 2001:db8::10 on eth0/);
    assert.match(r6, /BGP\.community: \(65001,6\)/);

    const show = await shResult(process.execPath, [CLI_PATH, 'bgp', 'show', '-s', join(lab.dir, 'lb1.sock')]);
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /r1 +192\.0\.2\.1 +AS 65000 +established +up \d+ s/);
    assert.match(show.stdout, /203\.0\.113\.10\/32 +announced +since \S+ +pool web has 1 usable server\(s\) \(at least 1\)/);

    // a reload that leaves the bgp section alone keeps the session (no new establishment)
    const since = /lb1 +BGP +--- +up +(\S+)/.exec(await birdc('show', 'protocols'))![1];
    const reload = await shResult(process.execPath, [CLI_PATH, 'reload', '-s', join(lab.dir, 'lb1.sock')]);
    assert.equal(reload.code, 0, reload.stderr);
    assert.equal(/lb1 +BGP +--- +up +(\S+)/.exec(await birdc('show', 'protocols'))![1], since, 'the session was not restarted');
    assert.notEqual(await route('203.0.113.10/32'), '');

    // every server of the pool down: its route goes, the listener's stays
    await backend.stop();
    await wait('the pool\'s route is withdrawn', async () => (await route('203.0.113.10/32')) === '');
    assert.notEqual(await route('203.0.113.20/32'), '');
    assert.match(lb.err, /bgp: withdrawing 203\.0\.113\.10\/32: pool web has 0 usable server\(s\)/);
    await lab.tcpServer(18081);
    await wait('announced again', async () => (await route('203.0.113.10/32')) !== '');

    // a graceful stop: GRACEFUL_SHUTDOWN first, then the routes go, then the session
    lb.signal('SIGTERM');
    await wait('routes marked GRACEFUL_SHUTDOWN', async () => /BGP\.community: .*\(65535,0\)/.test(await route('203.0.113.10/32')), 3000);
    assert.match(await birdc('show', 'protocols'), /Established/, 'the session is still up meanwhile');
    await wait('routes withdrawn', async () => (await route('203.0.113.10/32')) === '' && (await route('203.0.113.20/32')) === '', 5000);
    await lb.exited;
    assert.match(await birdc('show', 'protocols', 'all', 'lb1'), /Received: Administrative shutdown/);
  });

  it('a balancer that stops answering (SIGSTOP: no FIN, no packet): BFD takes its routes off the router in well under a second', { timeout: 60_000 }, async (t) => {
    const file = join(lab.dir, 'lb1.yaml');
    lb = lab.start(lab.balancer, process.execPath, [...NODE_FLAGS, CLI_PATH, 'run', '-c', file]);
    await lb.waitFor(/listening on http/);
    await wait('BFD is up', async () => /192\.0\.2\.10 +eth0 +Up/.test(await birdc('show', 'bfd', 'sessions')));
    await wait('the routes are back', async () => (await route('203.0.113.10/32')) !== '');
    assert.match(lb.err, /BFD up/);
    // A dead machine sends nothing, not even the FIN or RST its kernel would send for a killed process.
    const frozen = performance.now();
    lb.signal('SIGSTOP');
    await wait('the routes are gone', async () => (await route('203.0.113.10/32')) === '', 3000);
    const ms = performance.now() - frozen;
    t.diagnostic(`routes gone ${ms.toFixed(0)} ms after the balancer froze (BFD 100 ms x 3; the hold time is 9 s)`);
    assert.match(await birdc('show', 'protocols', 'all', 'lb1'), /BFD session down/);
    lb.signal('SIGKILL');
  });
});
