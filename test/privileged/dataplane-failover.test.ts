/**
 * Health changes and bad environments against the real kernel, in network namespaces
 * (test/helpers/netns.ts), with `fulcrum run` in the balancer's namespace:
 *
 * - a server that stops answering (SIGSTOP) is taken out within one health interval of
 *   being marked down; new flows that hashed to it go to the other server; existing flows
 *   on the other server keep going; the live rules equal the rendered ones; in NAT its
 *   flows' conntrack entries go (UDP at once, TCP after the drain time), so their next
 *   packet is answered with a reset instead of hanging; it comes back when it answers;
 * - in DSR, a server's new MAC address reaches the rules through the neighbour table;
 * - a missing interface, a VIP that is not the balancer's, IP forwarding off, or no nft
 *   refuse the start with a clear message and leave no Fulcrum table;
 * - a transaction the kernel refuses leaves the previous rules in force.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Pool } from '../../src/backend/pool.js';
import { NODE_FLAGS } from '../../src/cli/node-flags.js';
import { loadConfigText } from '../../src/config/load.js';
import { desiredState, neighbourKey } from '../../src/dataplane/desired.js';
import { NftDriver } from '../../src/dataplane/nft-driver.js';
import { CommandHost } from '../../src/dataplane/host.js';
import { normalizeObjects, renderObjects, renderRemoval, renderTransaction } from '../../src/dataplane/render.js';
import { FlowClient, NsProcess, type FlowAnswer, privilegedSkip, SERVER_IPS, sh, Topology, VIP } from '../helpers/netns.js';
import { CLI_PATH, logMessages } from '../helpers/spawn.js';

const SKIP = privilegedSkip(['ip', 'nft', 'conntrack']);
const FIXTURES = new URL('../fixtures/', import.meta.url).pathname;
const INTERVAL_MS = 500;

function configYaml(mode: 'nat' | 'dsr', over: { vip?: string; iface?: string } = {}): string {
  const kind = mode === 'dsr' ? `mode: dsr\n    interface: ${over.iface ?? 'eth0'}` : 'mode: nat\n    drain_time: 1s';
  const service = (name: string, protocol: string) => `  - name: ${name}
    vip: ${over.vip ?? VIP}
    port: 80
    protocol: ${protocol}
    ${kind}
    pool: web
`;
  return `services:
${service('www', 'tcp')}${mode === 'nat' ? service('udp', 'udp') : ''}pools:
  web:
    servers:
      - { name: s1, address: "${SERVER_IPS[0]}:80" }
      - { name: s2, address: "${SERVER_IPS[1]}:80" }
    health: { type: http, interval: ${INTERVAL_MS}ms, timeout: 200ms, rise: 1, fall: 1, http: { path: /health } }
`;
}

/** Records when each line of a process's stderr first appeared. */
class Lines {
  private seen = 0;
  readonly lines: Array<{ at: number; text: string }> = [];
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly p: NsProcess) {
    this.timer = setInterval(() => this.poll(), 5);
  }

  private poll(): void {
    const all = this.p.err.split('\n');
    for (; this.seen < all.length - 1; this.seen++) this.lines.push({ at: Date.now(), text: all[this.seen]! });
  }

  async wait(re: RegExp, ms = 5000): Promise<{ at: number; text: string }> {
    const end = Date.now() + ms;
    for (;;) {
      this.poll();
      const hit = this.lines.find((l) => re.test(l.text));
      if (hit !== undefined) return hit;
      if (Date.now() > end) throw new Error(`no line matching ${re} within ${ms} ms:\n${this.p.err}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  close(): void {
    clearInterval(this.timer);
  }
}

describe('kernel data plane: health changes and bad environments', { skip: SKIP ?? false }, () => {
  let topo: Topology;
  let dir: string;
  let client: NsProcess;
  const servers: NsProcess[] = [];
  let flowClient: FlowClient;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fulcrum-dpf-'));
    topo = await Topology.create('f');
    for (const [i, ns] of topo.servers.entries()) {
      const p = topo.start(ns, process.execPath, [join(FIXTURES, 'dataplane-server.js'), '80', `s${i + 1}`]);
      await p.waitFor(/ready/);
      servers.push(p);
      await topo.exec(ns, process.execPath, CLI_PATH, 'dsr-server', '--vip', VIP, '--interface', 'eth0', '--apply');
    }
    client = topo.start(topo.client, process.execPath, [join(FIXTURES, 'dataplane-client.js'), VIP, '80'], { stdin: true });
    await client.waitFor(/ready/);
    flowClient = new FlowClient(client);
  });

  after(async () => {
    for (const s of servers) s.signal('SIGCONT');
    await topo?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const ask = (cmd: string): Promise<FlowAnswer> => flowClient.ask(cmd);

  /** The rendered rules for `config` with the given servers up, beside the live ones. */
  async function liveAndRendered(yaml: string, up: string[]): Promise<[unknown, unknown]> {
    const { config } = loadConfigText(yaml, 'test');
    const pool = new Pool(config!.pools.get('web')!);
    for (const s of pool.servers) if (!up.includes(s.name)) pool.setHealthy(s, false, 'test');
    const links = {
      interfaceMacs: new Map([['eth0', await topo.mac(topo.balancer)]]),
      neighbours: new Map(await Promise.all(topo.servers.map(async (ns, i) => [neighbourKey('eth0', SERVER_IPS[i]!), await topo.mac(ns)] as [string, string]))),
    };
    const want = renderObjects(desiredState(config!.services, () => pool.usable, links));
    pool.stop();
    return [normalizeObjects(await new NftDriver(new CommandHost({ netns: topo.balancer })).list()), normalizeObjects(want)];
  }

  for (const [mode, base] of [
    ['nat', 50_000],
    ['dsr', 52_000],
  ] as const) {
    it(`${mode}: a failed server leaves within one health interval; flows move or stay as they should`, async (t) => {
      await topo.serverReturnRoute(mode === 'nat' ? 'balancer' : 'direct');
      const file = join(dir, `${mode}.yaml`);
      writeFileSync(file, configYaml(mode));
      const fulcrum = topo.start(topo.balancer, process.execPath, [...NODE_FLAGS, CLI_PATH, 'run', '-c', file]);
      const log = new Lines(fulcrum);
      t.after(async () => {
        log.close();
        servers[0]!.signal('SIGCONT');
        await fulcrum.stop();
      });
      await log.wait(/rules applied in \d+ ms \(start\)/);

      // Flows by the server the table sends them to.
      const ports = Array.from({ length: 60 }, (_, i) => base + i);
      const predicted = await topo.which(file, 'www', ports);
      const toS1 = ports.filter((_, i) => predicted[i] === 's1');
      const toS2 = ports.filter((_, i) => predicted[i] === 's2');
      assert.ok(toS1.length >= 16 && toS2.length >= 3, `flows: ${toS1.length} to s1, ${toS2.length} to s2`);
      const [old1, fresh] = [toS1.slice(0, 3), toS1.slice(3, 13)];
      for (const [i, p] of old1.entries()) assert.equal((await ask(`open a${mode}${i} ${p}`)).server, 's1');
      for (const [i, p] of toS2.slice(0, 3).entries()) assert.equal((await ask(`open b${mode}${i} ${p}`)).server, 's2');
      let udp = 0;
      if (mode === 'nat') {
        const udpPorts = Array.from({ length: 20 }, (_, i) => base + 900 + i);
        const w = await topo.which(file, 'udp', udpPorts);
        udp = udpPorts[w.indexOf('s1')]!;
        assert.equal((await ask(`udp ${udp}`)).server, 's1');
      }

      // s1 stops answering: its health checks time out.
      const stoppedAt = Date.now();
      servers[0]!.signal('SIGSTOP');
      const down = await log.wait(/pool web: server s1 is down/, 5000);
      // the version poll may see the same change and add "pool web changed" to the reasons
      const applied = await log.wait(/rules applied in \d+ ms \([^)]*pool web: server s1 down[^)]*\)/, 5000);
      t.diagnostic(`s1 marked down ${down.at - stoppedAt} ms after SIGSTOP; rules applied ${applied.at - down.at} ms later`);
      assert.ok(applied.at - down.at < INTERVAL_MS, `rules applied ${applied.at - down.at} ms after s1 was marked down`);
      assert.match(applied.text, /www -> s2 1031 of 1031/);

      const [live, rendered] = await liveAndRendered(configYaml(mode), ['s2']);
      assert.deepEqual(live, rendered, 'the live rules equal the rendered ones');
      for (const [i, p] of fresh.entries()) assert.equal((await ask(`open n${mode}${i} ${p}`)).server, 's2', `new flow from port ${p}`);
      for (let i = 0; i < 3; i++) assert.equal((await ask(`ask b${mode}${i}`)).server, 's2', 'an existing flow on s2 stays there');

      if (mode === 'nat') {
        await log.wait(/service udp: removed \d+ conntrack entr(y|ies) of server s1 at once/);
        assert.equal((await ask(`udp ${udp}`)).server, 's2', 'a UDP flow of s1 continues on s2 at once');
        const cut = await log.wait(/service www: removed (\d+) conntrack entries of server s1 after its drain time of 1000 ms/, 4000);
        assert.ok(Number(/removed (\d+)/.exec(cut.text)![1]) >= 3, cut.text);
      }
      // A flow of the failed server gets a reset on its next packet instead of hanging.
      const a = await ask(`ask a${mode}0`);
      assert.equal(a.error, 'ECONNRESET', JSON.stringify(a));
      assert.ok(a.ms! < 1000, `reset after ${a.ms} ms`);

      // s1 answers again: it is back in the table, and its flows with it.
      servers[0]!.signal('SIGCONT');
      await log.wait(/rules applied in \d+ ms \([^)]*pool web: server s1 up[^)]*\)/, 5000);
      const [live2, rendered2] = await liveAndRendered(configYaml(mode), ['s1', 's2']);
      assert.deepEqual(live2, rendered2);
      assert.equal((await ask(`open r${mode} ${toS1[14]}`)).server, 's1');
      assert.equal(await fulcrum.stop(), 0);
      assert.doesNotMatch(await topo.exec(topo.balancer, 'nft', 'list', 'tables'), /fulcrum/);
    });
  }

  it('dsr: follows a server\'s new MAC address from the neighbour table', async (t) => {
    await topo.serverReturnRoute('direct');
    const file = join(dir, 'dsr-mac.yaml');
    writeFileSync(file, configYaml('dsr'));
    const fulcrum = topo.start(topo.balancer, process.execPath, [...NODE_FLAGS, CLI_PATH, 'run', '-c', file]);
    const log = new Lines(fulcrum);
    const oldMac = await topo.mac(topo.servers[1]);
    t.after(async () => {
      log.close();
      await fulcrum.stop();
      await topo.ip(topo.servers[1], 'link', 'set', 'dev', 'eth0', 'address', oldMac);
    });
    await log.wait(/rules applied in \d+ ms \(start\)/);
    // s2 gets a new MAC address and announces it (arp_notify): the balancer's neighbour table learns it.
    await topo.exec(topo.servers[1], 'sysctl', '-qw', 'net.ipv4.conf.eth0.arp_notify=1');
    await topo.ip(topo.servers[1], 'link', 'set', 'dev', 'eth0', 'address', '02:00:00:00:0b:12');
    await log.wait(/rules applied in \d+ ms \(.*MAC address of 192\.0\.2\.12 on eth0 changed to 02:00:00:00:0b:12/, 10_000);
    const [live, rendered] = await liveAndRendered(configYaml('dsr'), ['s1', 's2']);
    assert.deepEqual(live, rendered);
    const ports = Array.from({ length: 20 }, (_, i) => 54_000 + i);
    const w = await topo.which(file, 'www', ports);
    assert.equal((await ask(`open m ${ports[w.indexOf('s2')]}`)).server, 's2');
  });

  /** Runs `fulcrum run` in the balancer's namespace until it exits; returns its code and stderr. */
  async function refused(yaml: string, env?: NodeJS.ProcessEnv): Promise<{ code: number | null; err: string }> {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, yaml);
    const p = topo.start(topo.balancer, process.execPath, [...NODE_FLAGS, CLI_PATH, 'run', '-c', file], { env });
    const code = await Promise.race([p.exited, new Promise<null>((r) => setTimeout(() => r(null), 10_000))]);
    if (code === null) await p.stop();
    assert.doesNotMatch(await topo.exec(topo.balancer, 'nft', 'list', 'tables'), /fulcrum/, 'no table left behind');
    return { code, err: logMessages(p.err) };
  }

  it('refuses to start, with the reason and no table left, when the environment is wrong', async () => {
    let r = await refused(configYaml('dsr', { iface: 'nope0' }));
    assert.equal(r.code, 1);
    assert.match(r.err, /the kernel data plane cannot start:\n {2}- service www: there is no interface nope0 on this host/);

    r = await refused(configYaml('nat', { vip: '203.0.113.99' }));
    assert.equal(r.code, 1);
    assert.match(r.err, /service www: the VIP 203\.0\.113\.99 is not an address of this host, so no client packet for it would reach the balancer: add it \(ip addr add 203\.0\.113\.99\/32 dev eth0\)/);

    await topo.exec(topo.balancer, 'sysctl', '-qw', 'net.ipv4.ip_forward=0');
    try {
      r = await refused(configYaml('nat'));
    } finally {
      await topo.exec(topo.balancer, 'sysctl', '-qw', 'net.ipv4.ip_forward=1');
    }
    assert.equal(r.code, 1);
    assert.match(r.err, /IP forwarding is off .*run sysctl -w net\.ipv4\.ip_forward=1/);

    r = await refused(configYaml('nat'), { PATH: join(dir, 'no-such-dir') });
    assert.equal(r.code, 1);
    assert.match(r.err, /nft is not installed: the kernel data plane programs nftables with it/);
  });

  it('a transaction the kernel refuses leaves the previous rules in force', async () => {
    const driver = new NftDriver(new CommandHost({ netns: topo.balancer }));
    const { config } = loadConfigText(configYaml('nat'), 'test');
    const pool = new Pool(config!.pools.get('web')!);
    const links = { interfaceMacs: new Map<string, string>(), neighbours: new Map<string, string>() };
    const good = desiredState(config!.services, () => pool.usable, links);
    pool.setHealthy(pool.servers[0]!, false, 'test');
    const next = renderTransaction(desiredState(config!.services, () => pool.usable, links));
    pool.stop();
    try {
      await driver.apply(renderTransaction(good));
      const before = normalizeObjects(await driver.list());
      // The new rules plus one the kernel cannot take (a jump to a chain that does not exist).
      next.nftables.push({ add: { rule: { family: 'ip', table: 'fulcrum', chain: 'prerouting', expr: [{ jump: { target: 'no_such_chain' } }] } } });
      await assert.rejects(driver.apply(next), (err: Error & { code?: string }) => err.code === 'FULCRUM_ERR_DATAPLANE' && /previous rules stay in force/.test(err.message));
      assert.deepEqual(normalizeObjects(await driver.list()), before);
      assert.deepEqual(before, normalizeObjects(renderObjects(good)));
    } finally {
      await driver.apply(renderRemoval());
    }
    assert.doesNotMatch(await sh('ip', ['netns', 'exec', topo.balancer, 'nft', 'list', 'tables']), /fulcrum/);
  });
});
