/**
 * Fulcrum's BGP speaker against FRR (Debian frr: zebra, bgpd and bfdd) as the router, in
 * network namespaces the test builds: the session comes up (Fulcrum connects; FRR is
 * passive) with BFD, the routes arrive with their AS path and communities, a pool with
 * no usable server withdraws its route, a stop ends the session with an administrative
 * shutdown, and a balancer that stops answering is dropped by BFD.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NODE_FLAGS } from '../../src/cli/node-flags.js';
import { privilegedSkip, shResult, type NsProcess } from '../helpers/netns.js';
import { BgpLab, until } from '../helpers/bgp-lab.js';
import { CLI_PATH } from '../helpers/spawn.js';
import { chmodSync, existsSync, writeFileSync } from 'node:fs';

const FRR = '/usr/lib/frr';
const SKIP = privilegedSkip(['ip', 'vtysh']) ?? (existsSync(`${FRR}/bfdd`) ? null : 'FRR is not installed (Debian package frr)');

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
 neighbor 192.0.2.10 bfd
`,
    );
    writeFileSync(join(lab.dir, 'bfdd.conf'), 'bfd\n peer 192.0.2.10\n  receive-interval 100\n  transmit-interval 100\n');
    writeFileSync(join(lab.dir, 'zebra.conf'), '');
    // zebra and bfdd drop to the frr user: they read and write in the test's directory
    chmodSync(lab.dir, 0o777);
    for (const f of ['bgpd.conf', 'bfdd.conf', 'zebra.conf']) chmodSync(join(lab.dir, f), 0o644);
    const daemon = (name: string, ...extra: string[]) =>
      lab.start(lab.router, `${FRR}/${name}`, ['-f', join(lab.dir, `${name}.conf`), '-i', join(lab.dir, `${name}.pid`), '-z', join(lab.dir, 'zserv.api'), '--vty_socket', lab.dir, '-P', '0', ...extra]);
    daemon('zebra', '-u', 'frr', '-g', 'frr');
    await wait('zebra listens', async () => existsSync(join(lab.dir, 'zserv.api')));
    daemon('bfdd', '-u', 'frr', '-g', 'frr');
    daemon('bgpd', '-S');
    await wait('bgpd answers', async () => (await vtysh('show bgp summary')).includes('192.0.2.10'));
  });

  after(() => lab?.destroy());

  it('session, announcement with attributes, withdrawal, administrative shutdown', { timeout: 60_000 }, async () => {
    const backend = await lab.tcpServer(18082);
    const file = lab.balancerConfig(
      18082,
      `  graceful_shutdown: 0s
  peers:
    - { name: frr, address: 192.0.2.1, asn: 65000, bfd: true }
  announce:
    - { prefix: 203.0.113.10/32, when: { pool: web }, med: 3, communities: ["65001:200"], prepend: 2 }
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

    await wait('BFD is up', async () => /192\.0\.2\.10 +up/.test(await vtysh('show bfd peers brief')));

    lb.signal('SIGTERM');
    await lb.exited;
    await wait('the session is down', async () => !/192\.0\.2\.10 .* \d+ +\d+ +N\/A/.test(await vtysh('show bgp summary')) && ((await route('203.0.113.10/32')).paths?.length ?? 0) === 0);
    // the Cease NOTIFICATION arrived (FRR then also hears BFD go AdminDown, which it shows as the last reset)
    assert.match(await vtysh('show bgp neighbors 192.0.2.10'), /Notifications: +\d+ +[1-9]/);
  });

  it('a balancer that stops answering is dropped by BFD, well before the hold time', { timeout: 60_000 }, async (t) => {
    lb = lab.start(lab.balancer, process.execPath, [...NODE_FLAGS, CLI_PATH, 'run', '-c', join(lab.dir, 'lb1.yaml')]);
    await lb.waitFor(/listening on http/);
    await wait('the route arrives', async () => ((await route('203.0.113.10/32')).paths?.length ?? 0) > 0, 20_000);
    await wait('BFD is up', async () => /192\.0\.2\.10 +up/.test(await vtysh('show bfd peers brief')));
    const frozen = performance.now();
    lb.signal('SIGSTOP');
    await wait('the route is gone', async () => ((await route('203.0.113.10/32')).paths?.length ?? 0) === 0, 5000);
    const ms = performance.now() - frozen;
    t.diagnostic(`FRR dropped the route ${ms.toFixed(0)} ms after the balancer froze (BFD 100 ms x 3; hold time 9 s)`);
    lb.signal('SIGKILL');
  });
});
