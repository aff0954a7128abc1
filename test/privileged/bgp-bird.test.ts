/**
 * Fulcrum's BGP speaker against BIRD 2 (Debian bird2) as the router, in two network
 * namespaces the test builds (router 192.0.2.1 AS 65000, balancer 192.0.2.10 AS 65001):
 * the session comes up, the routes arrive with their attributes, a pool with no usable
 * server withdraws its route, and a graceful stop marks the routes GRACEFUL_SHUTDOWN
 * before withdrawing them and ending the session.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { NODE_FLAGS } from '../../src/cli/node-flags.js';
import { NsProcess, privilegedSkip, sh, shResult } from '../helpers/netns.js';
import { CLI_PATH, missing } from '../helpers/spawn.js';

const SKIP = privilegedSkip(['ip']) ?? missing('bird', 'Debian package bird2');
const ROUTER = `fubgpr${process.pid % 100_000}`;
const LB = `fubgpb${process.pid % 100_000}`;

describe('BGP with BIRD 2 as the router', { skip: SKIP ?? false }, () => {
  let dir: string;
  const procs: NsProcess[] = [];
  const start = (ns: string, file: string, args: string[]) => {
    const p = new NsProcess(spawn('ip', ['netns', 'exec', ns, file, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }));
    procs.push(p);
    return p;
  };
  const birdc = async (...args: string[]) => (await shResult('birdc', ['-s', join(dir, 'bird.ctl'), ...args])).stdout;
  /** BIRD's routes for a prefix, with their attributes ('' when it has none). */
  const route = async (prefix: string) => {
    const out = await birdc('show', 'route', prefix, 'all');
    return out.includes(prefix.split('/')[0]!) ? out : '';
  };
  async function until(what: string, cond: () => Promise<boolean>, ms = 10_000): Promise<void> {
    const end = Date.now() + ms;
    while (!(await cond())) {
      if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms; BIRD:\n${await birdc('show', 'protocols', 'all').catch(String)}\nfulcrum:\n${procs.map((p) => p.err).join('\n')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fulcrum-bgp-'));
    for (const ns of [ROUTER, LB]) {
      await sh('ip', ['netns', 'add', ns]);
      await sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    }
    await sh('ip', ['-n', ROUTER, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', LB]);
    await sh('ip', ['-n', ROUTER, 'addr', 'add', '192.0.2.1/24', 'dev', 'eth0']);
    await sh('ip', ['-n', LB, 'addr', 'add', '192.0.2.10/24', 'dev', 'eth0']);
    for (const ns of [ROUTER, LB]) await sh('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
    writeFileSync(
      join(dir, 'bird.conf'),
      `router id 192.0.2.1;
protocol device { scan time 1; }
protocol bgp lb1 {
  local 192.0.2.1 as 65000;
  neighbor 192.0.2.10 as 65001;
  passive on;
  hold time 9;
  ipv4 { import all; export none; };
}
`,
    );
    const bird = start(ROUTER, 'bird', ['-f', '-c', join(dir, 'bird.conf'), '-s', join(dir, 'bird.ctl')]);
    await until('BIRD answers', async () => (await birdc('show', 'status').catch(() => '')).includes('Daemon is up'));
    assert.equal(bird.hasExited, false);
  });

  after(async () => {
    await Promise.all(procs.map((p) => p.stop(3000)));
    for (const ns of [ROUTER, LB]) await sh('ip', ['netns', 'del', ns]).catch(() => undefined);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('announces with its attributes, withdraws a pool\'s route when no server is usable, and stops gracefully', { timeout: 60_000 }, async () => {
    const backend = start(LB, process.execPath, ['-e', "require('node:net').createServer((s) => s.end()).listen(18081, '127.0.0.1', () => console.log('ready'))"]);
    await backend.waitFor(/ready/);
    const file = join(dir, 'lb1.yaml');
    writeFileSync(
      file,
      `listeners:
  - { name: www, bind: 192.0.2.10:8080, routes: [{ pool: web }] }
pools:
  web:
    health: { type: tcp, interval: 300ms, timeout: 200ms, fall: 1, rise: 1 }
    servers: [{ name: s1, address: 127.0.0.1:18081 }]
bgp:
  asn: 65001
  router_id: 192.0.2.10
  graceful_shutdown: 2s
  peers:
    - { name: r1, address: 192.0.2.1, asn: 65000 }
  announce:
    - { prefix: 203.0.113.10/32, when: { pool: web }, med: 7, communities: ["65001:100"], large_communities: ["65001:1:2"], prepend: 1 }
    - { prefix: 203.0.113.20/32, when: { listener: www } }
runtime: { workers: 1, control_socket: ${join(dir, 'lb1.sock')} }
`,
    );
    const lb = start(LB, process.execPath, [...NODE_FLAGS, CLI_PATH, 'run', '-c', file]);
    await lb.waitFor(/listening on http/);
    await until('the session is established', async () => /lb1 +BGP +--- +up .*Established/.test(await birdc('show', 'protocols')));
    await until('both routes arrive', async () => (await route('203.0.113.10/32')) !== '' && (await route('203.0.113.20/32')) !== '');
    const r10 = await route('203.0.113.10/32');
    assert.match(r10, /via 192\.0\.2\.10 on eth0/);
    assert.match(r10, /BGP\.as_path: 65001 65001/);
    assert.match(r10, /BGP\.med: 7/);
    assert.match(r10, /BGP\.community: \(65001,100\)/);
    assert.match(r10, /BGP\.large_community: \(65001, 1, 2\)/);
    assert.match(await route('203.0.113.20/32'), /BGP\.as_path: 65001\n/);

    // every server of the pool down: its route goes, the listener's stays
    await backend.stop();
    await until('the pool\'s route is withdrawn', async () => (await route('203.0.113.10/32')) === '');
    assert.notEqual(await route('203.0.113.20/32'), '');
    assert.match(lb.err, /bgp: withdrawing 203\.0\.113\.10\/32: pool web has 0 usable server\(s\)/);
    const again = start(LB, process.execPath, ['-e', "require('node:net').createServer((s) => s.end()).listen(18081, '127.0.0.1', () => console.log('ready'))"]);
    await again.waitFor(/ready/);
    await until('announced again', async () => (await route('203.0.113.10/32')) !== '');

    // a graceful stop: GRACEFUL_SHUTDOWN first, then the routes go, then the session
    lb.signal('SIGTERM');
    await until('routes marked GRACEFUL_SHUTDOWN', async () => /BGP\.community: .*\(65535,0\)/.test(await route('203.0.113.10/32')), 3000);
    assert.match(await birdc('show', 'protocols'), /Established/, 'the session is still up meanwhile');
    await until('routes withdrawn', async () => (await route('203.0.113.10/32')) === '' && (await route('203.0.113.20/32')) === '', 5000);
    await lb.exited;
    assert.match(await birdc('show', 'protocols', 'all', 'lb1'), /Received: Administrative shutdown/);
  });
});
