/**
 * Fulcrum's BGP speaker against FRR's bgpd (Debian frr) as the router, in network
 * namespaces the test builds: the session comes up (Fulcrum connects; FRR is passive),
 * the routes arrive with their AS path and communities, a pool with no usable server
 * withdraws its route, and a stop ends the session with an administrative shutdown.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NODE_FLAGS } from '../../src/cli/node-flags.js';
import { privilegedSkip, shResult, type NsProcess } from '../helpers/netns.js';
import { BgpLab, until } from '../helpers/bgp-lab.js';
import { CLI_PATH } from '../helpers/spawn.js';
import { existsSync } from 'node:fs';

const BGPD = '/usr/lib/frr/bgpd';
const SKIP = privilegedSkip(['ip', 'vtysh']) ?? (existsSync(BGPD) ? null : 'FRR is not installed (Debian package frr)');

interface FrrRoute {
  paths?: Array<{ aspath?: { string: string }; community?: { string: string }; metric?: number; nexthops?: Array<{ ip: string }> }>;
}

describe('BGP with FRR as the router', { skip: SKIP ?? false }, () => {
  let lab: BgpLab;
  let lb: NsProcess | null = null;
  const vtysh = async (cmd: string) => (await shResult('vtysh', ['--vty_socket', lab.dir, '-c', cmd])).stdout;
  const route = async (prefix: string): Promise<FrrRoute> => JSON.parse((await vtysh(`show bgp ipv4 unicast ${prefix} json`)) || '{}') as FrrRoute;
  const wait = (what: string, cond: () => Promise<boolean>, ms?: number) => until(what, cond, async () => `FRR:\n${await vtysh('show bgp summary')}\nfulcrum:\n${lb?.err ?? ''}`, ms);

  before(async () => {
    lab = await BgpLab.create('bgpf');
    writeFileSync(
      join(lab.dir, 'bgpd.conf'),
      `router bgp 65000
 bgp router-id 192.0.2.1
 no bgp ebgp-requires-policy
 neighbor 192.0.2.10 remote-as 65001
 neighbor 192.0.2.10 passive
 neighbor 192.0.2.10 timers 3 9
`,
    );
    lab.start(lab.router, BGPD, ['-f', join(lab.dir, 'bgpd.conf'), '-i', join(lab.dir, 'bgpd.pid'), '--vty_socket', lab.dir, '-Z', '-S', '-P', '0']);
    await wait('bgpd answers', async () => (await vtysh('show bgp summary')).includes('192.0.2.10'));
  });

  after(() => lab?.destroy());

  it('session, announcement with attributes, withdrawal, administrative shutdown', { timeout: 60_000 }, async () => {
    const backend = await lab.tcpServer(18082);
    const file = join(lab.dir, 'lb1.yaml');
    writeFileSync(
      file,
      `listeners:
  - { name: www, bind: 192.0.2.10:8080, routes: [{ pool: web }] }
pools:
  web:
    health: { type: tcp, interval: 300ms, timeout: 200ms, fall: 1, rise: 1 }
    servers: [{ name: s1, address: 127.0.0.1:18082 }]
bgp:
  asn: 65001
  router_id: 192.0.2.10
  graceful_shutdown: 0s
  peers:
    - { name: frr, address: 192.0.2.1, asn: 65000 }
  announce:
    - { prefix: 203.0.113.10/32, when: { pool: web }, med: 3, communities: ["65001:200"], prepend: 2 }
runtime: { workers: 1, control_socket: ${join(lab.dir, 'lb1.sock')} }
`,
    );
    lb = lab.start(lab.balancer, process.execPath, [...NODE_FLAGS, CLI_PATH, 'run', '-c', file]);
    await lb.waitFor(/listening on http/);
    await wait('the route arrives', async () => ((await route('203.0.113.10/32')).paths?.length ?? 0) > 0);
    const path = (await route('203.0.113.10/32')).paths![0]!;
    assert.equal(path.aspath?.string, '65001 65001 65001');
    assert.equal(path.community?.string, '65001:200');
    assert.equal(path.metric, 3, "MED");
    assert.equal(path.nexthops?.[0]?.ip, '192.0.2.10');

    await backend.stop();
    await wait('withdrawn', async () => ((await route('203.0.113.10/32')).paths?.length ?? 0) === 0);
    await lab.tcpServer(18082);
    await wait('announced again', async () => ((await route('203.0.113.10/32')).paths?.length ?? 0) > 0);

    lb.signal('SIGTERM');
    await lb.exited;
    await wait('the session is down', async () => !/192\.0\.2\.10 .* \d+ +\d+ +N\/A/.test(await vtysh('show bgp summary')) && ((await route('203.0.113.10/32')).paths?.length ?? 0) === 0);
    assert.match(await vtysh('show bgp neighbors 192.0.2.10'), /Administrative Shutdown|Cease/i);
  });
});
