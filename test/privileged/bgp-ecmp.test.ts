/**
 * Two balancers behind one address: the topology of examples/anycast/, built in network
 * namespaces. A router (BIRD 2, AS 65000, ECMP over layer-4 hashes, BFD) between the
 * clients (198.51.100.0/24) and a segment 192.0.2.0/24 with two balancers (lb1, lb2,
 * AS 65001, running the example files) and two servers (S1, S2, DSR). Shown here: both
 * routes make one multipath route and flows use both balancers; a balancer that dies
 * (its link goes down: no FIN, no packet) is out of the router's route within a second,
 * and new connections succeed through the other; a download in progress through the
 * balancer that dies completes intact through the other one (same Maglev table, same
 * server, same TCP connection), over ten deaths.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NODE_FLAGS } from '../../src/cli/node-flags.js';
import { NsProcess, privilegedSkip, sh, shResult } from '../helpers/netns.js';
import { until } from '../helpers/bgp-lab.js';
import { CLI_PATH, missing } from '../helpers/spawn.js';

const SKIP = privilegedSkip(['ip', 'nft', 'curl']) ?? missing('bird', 'Debian package bird2');
const FIXTURES = new URL('../fixtures/', import.meta.url).pathname;
const EXAMPLES = new URL('../../../examples/anycast/', import.meta.url).pathname;
const VIP = '203.0.113.10';
const TAG = `fe${process.pid % 100_000}`;
const NS = { br: `${TAG}br`, router: `${TAG}r`, client: `${TAG}c`, lb1: `${TAG}l1`, lb2: `${TAG}l2`, s1: `${TAG}s1`, s2: `${TAG}s2` };
const ADDR: Record<'router' | 'lb1' | 'lb2' | 's1' | 's2', string> = { router: '192.0.2.1', lb1: '192.0.2.10', lb2: '192.0.2.20', s1: '192.0.2.11', s2: '192.0.2.12' };

describe('BGP and ECMP: two balancers behind one address', { skip: SKIP ?? false }, () => {
  let dir: string;
  const procs: NsProcess[] = [];
  const lbs = new Map<'lb1' | 'lb2', NsProcess>();
  const start = (ns: string, file: string, args: string[]) => {
    const p = new NsProcess(spawn('ip', ['netns', 'exec', ns, file, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }));
    procs.push(p);
    return p;
  };
  const ip = (ns: string, ...args: string[]) => sh('ip', ['-n', ns, ...args]);
  const exec = (ns: string, ...args: string[]) => sh('ip', ['netns', 'exec', ns, ...args], { timeoutMs: 60_000 });
  const birdc = async (...args: string[]) => (await shResult('birdc', ['-s', join(dir, 'bird.ctl'), ...args])).stdout;
  /** The router's next hops for the VIP. */
  const nextHops = async () => [...(await ip(NS.router, 'route', 'show', `${VIP}/32`)).matchAll(/via (192\.0\.2\.\d+)/g)].map((m) => m[1]!).sort();
  const rxBytes = async (ns: string) => (JSON.parse(await ip(ns, '-s', '-j', 'link', 'show', 'dev', 'eth0')) as Array<{ stats64: { rx: { bytes: number } } }>)[0]!.stats64.rx.bytes;
  /** Both balancers see both servers up (the same Maglev table) and the router has both routes. */
  const converged = async () => {
    for (const lb of ['lb1', 'lb2'] as const) {
      await wait(`${lb} sees both servers up`, async () => {
        const r = await shResult(process.execPath, [CLI_PATH, 'status', '--json', '-s', join(dir, `${lb}.sock`)]);
        const pools = (JSON.parse(r.stdout || '{}') as { data?: { pools: Array<{ servers: Array<{ healthy: boolean }> }> } }).data?.pools ?? [];
        return pools.length > 0 && pools[0]!.servers.every((s) => s.healthy);
      }, 20_000);
    }
    await wait('both next hops', async () => (await nextHops()).length === 2, 20_000);
  };
  const wait = (what: string, cond: () => Promise<boolean>, ms?: number) =>
    until(what, cond, async () => `BIRD:\n${await birdc('show', 'protocols', 'all')}\n${[...lbs].map(([n, p]) => `${n}:\n${p.err}`).join('\n')}`, ms);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fulcrum-ecmp-'));
    for (const ns of Object.values(NS)) {
      await sh('ip', ['netns', 'add', ns]);
      await ip(ns, 'link', 'set', 'lo', 'up');
    }
    // the 192.0.2.0/24 segment: a bridge with the router, both balancers and both servers
    await ip(NS.br, 'link', 'add', 'br0', 'type', 'bridge');
    await ip(NS.br, 'link', 'set', 'br0', 'up');
    for (const name of ['router', 'lb1', 'lb2', 's1', 's2'] as const) {
      const ns = NS[name];
      await sh('ip', ['link', 'add', ns, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
      await sh('ip', ['link', 'set', ns, 'netns', NS.br]);
      await ip(NS.br, 'link', 'set', ns, 'master', 'br0', 'up');
      await ip(ns, 'addr', 'add', `${ADDR[name]}/24`, 'dev', 'eth0');
      await ip(ns, 'link', 'set', 'eth0', 'up');
    }
    // the client's side of the router
    await ip(NS.router, 'link', 'add', 'eth1', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', NS.client);
    await ip(NS.router, 'addr', 'add', '198.51.100.1/24', 'dev', 'eth1');
    await ip(NS.router, 'link', 'set', 'eth1', 'up');
    await ip(NS.client, 'addr', 'add', '198.51.100.10/24', 'dev', 'eth0');
    await ip(NS.client, 'link', 'set', 'eth0', 'up');
    await ip(NS.client, 'route', 'add', 'default', 'via', '198.51.100.1');
    // ECMP over the 4-tuple, so one client's connections spread over both balancers
    await exec(NS.router, 'sysctl', '-qw', 'net.ipv4.ip_forward=1', 'net.ipv4.fib_multipath_hash_policy=1');
    for (const lb of ['lb1', 'lb2'] as const) await ip(NS[lb], 'addr', 'add', `${VIP}/32`, 'dev', 'lo');
    // servers: DSR setup, replies straight to the clients through the router
    for (const [i, s] of (['s1', 's2'] as const).entries()) {
      await ip(NS[s], 'route', 'add', 'default', 'via', ADDR.router);
      const r = await shResult('ip', ['netns', 'exec', NS[s], process.execPath, CLI_PATH, 'dsr-server', '--vip', VIP, '--interface', 'eth0', '--apply']);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      await start(NS[s], process.execPath, [join(FIXTURES, 'dataplane-server.js'), '80', `S${i + 1}`]).waitFor(/ready/);
    }
    writeFileSync(
      join(dir, 'bird.conf'),
      `router id 192.0.2.1;
protocol device { scan time 1; }
protocol kernel { ipv4 { export all; }; merge paths on; }
protocol bfd { interface "eth0" { min rx interval 100 ms; min tx interval 100 ms; multiplier 3; }; }
filter gshut { if (65535, 0) ~ bgp_community then bgp_local_pref = 0; accept; }
template bgp lb { local 192.0.2.1 as 65000; passive on; hold time 9; bfd on; error wait time 1, 2; error forget time 5; ipv4 { import filter gshut; export none; }; }
protocol bgp lb1 from lb { neighbor 192.0.2.10 as 65001; }
protocol bgp lb2 from lb { neighbor 192.0.2.20 as 65001; }
`,
    );
    start(NS.router, 'bird', ['-f', '-c', join(dir, 'bird.conf'), '-s', join(dir, 'bird.ctl')]);
    await wait('BIRD answers', async () => (await birdc('show', 'status')).includes('Daemon is up'));
    for (const lb of ['lb1', 'lb2'] as const) {
      const file = join(dir, `${lb}.yaml`);
      writeFileSync(file, readFileSync(join(EXAMPLES, `${lb}.yaml`), 'utf8').replace(`/run/fulcrum-${lb}.sock`, join(dir, `${lb}.sock`)));
      const p = start(NS[lb], process.execPath, [...NODE_FLAGS, CLI_PATH, 'run', '-c', file]);
      lbs.set(lb, p);
      await p.waitFor(/dataplane: rules applied in \d+ ms \(start\)/, 15_000);
    }
  });

  after(async () => {
    await Promise.all(procs.map((p) => p.stop(3000)));
    for (const ns of Object.values(NS)) await sh('ip', ['netns', 'del', ns]).catch(() => undefined);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('both balancers\' routes make one multipath route, and connections use both', { timeout: 60_000 }, async (t) => {
    await wait('both next hops', async () => (await nextHops()).join() === `${ADDR.lb1},${ADDR.lb2}`, 20_000);
    const before = [await rxBytes(NS.lb1), await rxBytes(NS.lb2)];
    const served = new Map<string, number>();
    for (let i = 0; i < 40; i++) {
      const out = await exec(NS.client, 'curl', '-sS', '--max-time', '5', `http://${VIP}/name`);
      served.set(out, (served.get(out) ?? 0) + 1);
    }
    const carried = [(await rxBytes(NS.lb1)) - before[0]!, (await rxBytes(NS.lb2)) - before[1]!];
    t.diagnostic(`40 connections: servers ${JSON.stringify(Object.fromEntries(served))}; bytes received by lb1 ${carried[0]}, lb2 ${carried[1]}`);
    assert.deepEqual([...served.keys()].sort(), ['S1', 'S2']);
    assert.ok(carried[0]! > 2000 && carried[1]! > 2000, `both balancers carry client packets: ${carried.join(', ')}`);
  });

  it('ten balancer deaths: each download in flight through the balancer that dies completes intact through the other; the dead one is out of the route within a second', { timeout: 240_000 }, async (t) => {
    await converged();
    const SIZE = 16 * 1024 * 1024;
    const times: number[] = [];
    const carriers: string[] = [];
    for (let i = 0; i < 10; i++) {
      // a download at 8 MB/s (about 2 s); its balancer dies in the middle
      const download = shResult('ip', ['netns', 'exec', NS.client, 'curl', '-sS', '--max-time', '30', '--limit-rate', '8M', '-o', '/dev/null', '-w', '%{size_download} %{http_code}', `http://${VIP}/bytes/${SIZE}`]);
      await new Promise((r) => setTimeout(r, 400));
      const a = [await rxBytes(NS.lb1), await rxBytes(NS.lb2)];
      await new Promise((r) => setTimeout(r, 200));
      const b = [await rxBytes(NS.lb1), await rxBytes(NS.lb2)];
      const carrier = b[0]! - a[0]! > b[1]! - a[1]! ? 'lb1' : 'lb2';
      const other = carrier === 'lb1' ? 'lb2' : 'lb1';
      carriers.push(carrier);
      // the balancer dies: its link goes down, so nothing more comes from it (no FIN, no BFD)
      const died = performance.now();
      await ip(NS[carrier], 'link', 'set', 'eth0', 'down');
      while ((await nextHops()).length !== 1 && performance.now() - died < 3000) await new Promise((r) => setTimeout(r, 10));
      times.push(performance.now() - died);
      assert.deepEqual(await nextHops(), [ADDR[other]], `${carrier} left the route`);
      const r = await shResult('ip', ['netns', 'exec', NS.client, 'curl', '-sS', '--max-time', '2', `http://${VIP}/name`]);
      assert.equal(r.code, 0, `a new connection after ${carrier} died: ${r.stderr}`);
      const result = await download;
      assert.equal(result.code, 0, `download ${i} through ${carrier}: ${result.stderr}`);
      assert.equal(result.stdout, `${SIZE} 200`, `download ${i}: every byte arrived over the same connection`);
      await ip(NS[carrier], 'link', 'set', 'eth0', 'up');
      await converged();
    }
    const sorted = [...times].sort((x, y) => x - y);
    t.diagnostic(`10 deaths (balancers ${carriers.join(' ')}), 10 downloads in flight, all complete; the dead balancer out of the router's route after (ms): ${sorted.map((x) => x.toFixed(0)).join(' ')}; median ${sorted[4]!.toFixed(0)}, max ${sorted[9]!.toFixed(0)}`);
  });

  it('a balancer whose servers are all out withdraws and the other keeps announcing; a graceful stop loses no request', { timeout: 90_000 }, async (t) => {
    await converged();
    const server = (...words: string[]) => shResult(process.execPath, [CLI_PATH, 'server', ...words, '-s', join(dir, 'lb1.sock')]);
    for (const s of ['S1', 'S2']) assert.equal((await server('maint', `web/${s}`)).code, 0);
    await wait('lb1 withdraws', async () => (await nextHops()).join() === ADDR.lb2, 3000);
    assert.match(lbs.get('lb1')!.err, /bgp: withdrawing 203\.0\.113\.10\/32: pool web has 0 usable server\(s\)/);
    for (const s of ['S1', 'S2']) assert.equal((await server('ready', `web/${s}`)).code, 0);
    await wait('lb1 announces again', async () => (await nextHops()).length === 2, 5000);

    // a planned stop of lb1 under a bounded loop of new connections: none fails
    const loop = (async () => {
      const failures: string[] = [];
      let n = 0;
      const end = performance.now() + 8000;
      while (performance.now() < end && n < 400) {
        n++;
        const r = await shResult('ip', ['netns', 'exec', NS.client, 'curl', '-sS', '--max-time', '2', `http://${VIP}/name`]);
        if (r.code !== 0) failures.push(r.stderr.trim());
      }
      return { n, failures };
    })();
    await new Promise((r) => setTimeout(r, 500));
    const lb1 = lbs.get('lb1')!;
    lb1.signal('SIGTERM');
    await wait('lb1 leaves the route', async () => (await nextHops()).join() === ADDR.lb2, 10_000);
    const { n, failures } = await loop;
    await lb1.exited;
    t.diagnostic(`${n} connections while lb1 stopped gracefully: ${failures.length} failed`);
    assert.deepEqual(failures, []);
    assert.match(lb1.err, /graceful shutdown: 1 route\(s\) marked GRACEFUL_SHUTDOWN/);
  });
});
