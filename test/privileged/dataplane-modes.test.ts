/**
 * The kernel data plane against the real kernel, in network namespaces (see
 * test/helpers/netns.ts): `fulcrum run` in the balancer's namespace with NAT, full NAT
 * and DSR services, a client using curl and a small UDP/TCP client, two servers. For
 * each mode: the live rules equal the rendered ones; flows spread over both servers and
 * each lands where `fulcrum dataplane which` (the kernel's hash, computed in TypeScript)
 * says; a 10 MB download leaves under 5% of its bytes on the balancer's interface in DSR
 * and all of them in NAT; a 1 MB upload arrives intact; stopping leaves no Fulcrum table
 * and a foreign table untouched.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Pool } from '../../src/backend/pool.js';
import { loadConfigText } from '../../src/config/load.js';
import { desiredState, neighbourKey } from '../../src/dataplane/desired.js';
import { NftDriver } from '../../src/dataplane/nft-driver.js';
import { CommandHost } from '../../src/dataplane/host.js';
import { normalizeObjects, renderObjects } from '../../src/dataplane/render.js';
import { CLI_PATH } from '../helpers/spawn.js';
import { CLIENT_IP, FlowClient, NsProcess, type FlowAnswer, privilegedSkip, SERVER_IPS, shResult, Topology, VIP } from '../helpers/netns.js';
import { NODE_FLAGS } from '../../src/cli/node-flags.js';
import { serviceConfig } from '../../src/lab/modes.js';

const SKIP = privilegedSkip(['ip', 'nft', 'curl']);
const FIXTURES = new URL('../fixtures/', import.meta.url).pathname;
const TEN_MB = 10 * 1024 * 1024;
const FOREIGN = 'table inet fu_foreign {\n  chain input {\n    type filter hook input priority 10; policy accept;\n    ip saddr 192.0.2.250 tcp dport 9 drop\n  }\n}\n';

type Mode = 'nat' | 'fullnat' | 'dsr';
/**
 * Client source ports per mode: connection tracking outlives a mode's rules (a NAT binding
 * is made once per flow), so each mode uses flows of its own.
 */
const PORTS: Record<Mode, number> = { nat: 42_000, fullnat: 44_000, dsr: 46_000 };

function configYaml(mode: Mode): string {
  const kind = mode === 'dsr' ? 'mode: dsr\n    interface: eth0' : `mode: nat${mode === 'fullnat' ? '\n    snat: true' : ''}`;
  return serviceConfig(kind, { udp: true, interval: '500ms' });
}

describe('kernel data plane: NAT, full NAT and DSR in network namespaces', { skip: SKIP ?? false }, () => {
  let topo: Topology;
  let dir: string;
  let client: NsProcess;
  let flowClient: FlowClient;
  let foreignBefore: string;
  const upload = randomBytes(1024 * 1024);
  const uploadSha = createHash('sha256').update(upload).digest('hex');

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fulcrum-dp-'));
    writeFileSync(join(dir, 'upload.bin'), upload);
    topo = await Topology.create('m');
    for (const [i, ns] of topo.servers.entries()) {
      const p = topo.start(ns, process.execPath, [join(FIXTURES, 'dataplane-server.js'), '80', `s${i + 1}`]);
      await p.waitFor(/ready/);
    }
    client = topo.start(topo.client, process.execPath, [join(FIXTURES, 'dataplane-client.js'), VIP, '80'], { stdin: true });
    await client.waitFor(/ready/);
    flowClient = new FlowClient(client);
    writeFileSync(join(dir, 'foreign.nft'), FOREIGN);
    await topo.exec(topo.balancer, 'nft', '-f', join(dir, 'foreign.nft'));
    foreignBefore = await topo.exec(topo.balancer, 'nft', 'list', 'table', 'inet', 'fu_foreign');
  });

  after(async () => {
    await topo?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Sends one command to the client fixture and returns its JSON answer. */
  const ask = (cmd: string): Promise<FlowAnswer> => flowClient.ask(cmd, 5000);

  it('dsr-server checks, then applies and checks, the servers\' DSR setup', async () => {
    const cli = async (ns: string, ...args: string[]) => {
      const r = await shResult('ip', ['netns', 'exec', ns, process.execPath, CLI_PATH, 'dsr-server', ...args]);
      return { code: r.code, out: r.stdout + r.stderr };
    };
    const check = await cli(topo.servers[0], '--vip', VIP, '--interface', 'eth0');
    assert.equal(check.code, 1);
    assert.match(check.out, /203\.0\.113\.10 is not on lo/);
    assert.match(check.out, /ip addr add 203\.0\.113\.10\/32 dev lo/);
    for (const ns of topo.servers) {
      const applied = await cli(ns, '--vip', VIP, '--interface', 'eth0', '--apply');
      assert.equal(applied.code, 0, applied.out);
      assert.match(applied.out, /# check: in place/);
    }
    assert.match(await topo.ip(topo.servers[1], 'addr', 'show', 'dev', 'lo'), /inet 203\.0\.113\.10\/32/);
    assert.equal((await topo.exec(topo.servers[1], 'cat', '/proc/sys/net/ipv4/conf/eth0/arp_ignore')).trim(), '1');
  });

  for (const mode of ['nat', 'fullnat', 'dsr'] as const) {
    describe(`mode ${mode}`, () => {
      let fulcrum: NsProcess;
      let configFile: string;

      before(async () => {
        await topo.serverReturnRoute(mode === 'nat' ? 'balancer' : mode === 'dsr' ? 'direct' : 'none');
        configFile = join(dir, `${mode}.yaml`);
        writeFileSync(configFile, configYaml(mode));
        fulcrum = topo.start(topo.balancer, process.execPath, [...NODE_FLAGS, CLI_PATH, 'run', '-c', configFile]);
        await fulcrum.waitFor(/dataplane: rules applied in \d+ ms \(start\)/);
      });

      after(async () => {
        await fulcrum?.stop();
      });

      it('holds exactly the rendered rules', async () => {
        const { config } = loadConfigText(configYaml(mode), 'test');
        const pool = new Pool(config!.pools.get('web')!);
        const links = {
          interfaceMacs: new Map([['eth0', await topo.mac(topo.balancer)]]),
          neighbours: new Map(await Promise.all(topo.servers.map(async (ns, i) => [neighbourKey('eth0', SERVER_IPS[i]!), await topo.mac(ns)] as [string, string]))),
        };
        const want = renderObjects(desiredState(config!.services, () => pool.usable, links));
        pool.stop();
        const live = await new NftDriver(new CommandHost({ netns: topo.balancer })).list();
        assert.deepEqual(normalizeObjects(live), normalizeObjects(want));
        const families = live.filter((o) => 'table' in o).map((o) => (o.table as { family: string }).family);
        assert.deepEqual(families, [mode === 'dsr' ? 'netdev' : 'ip']);
      });

      it('spreads TCP flows over both servers, each where `dataplane which` says', async () => {
        const urls = Array.from({ length: 24 }, () => `http://${VIP}/name`);
        const out = await topo.exec(topo.client, 'curl', '-sS', '--max-time', '10', '-H', 'Connection: close', '--local-port', `${PORTS[mode]}-${PORTS[mode] + 999}`, '-w', ' %{local_port}\n', ...urls);
        const flows = out.trim().split('\n').map((l) => /^(s[12]) (\d+)$/.exec(l.trim()));
        assert.ok(flows.every((m) => m !== null), out);
        const seen = flows.map((m) => ({ server: m![1]!, port: Number(m![2]) }));
        assert.deepEqual(new Set(seen.map((s) => s.server)), new Set(['s1', 's2']), 'both servers get flows');
        const which = JSON.parse(
          await topo.exec(topo.balancer, process.execPath, CLI_PATH, 'dataplane', 'which', '-c', configFile, '--service', 'www', '--json', ...seen.map((s) => `${CLIENT_IP}:${s.port}`)),
        ) as Array<{ server: string; to: string }>;
        assert.deepEqual(
          which.map((w) => w.server),
          seen.map((s) => s.server),
          'the kernel chose as the simulator says',
        );
        // the per-server counters (fulcrum_dataplane_*_total) saw each server's flows:
        // at least a SYN, the request and the FIN per flow (DSR: client to server only)
        const counters = await new NftDriver(new CommandHost({ netns: topo.balancer })).counters();
        for (const server of ['s1', 's2']) {
          const c = counters.find((x) => x.name === `www/${server}`);
          const flowsTo = seen.filter((x) => x.server === server).length;
          assert.ok(c !== undefined && c.packets >= 3 * flowsTo && c.bytes > 0, `www/${server}: ${JSON.stringify(c)} for ${flowsTo} flows`);
        }
      });

      it('spreads UDP flows, each where `dataplane which` says', async () => {
        const ports = Array.from({ length: 12 }, (_, i) => PORTS[mode] + 1000 + i);
        const got: string[] = [];
        for (const p of ports) {
          const a = await ask(`udp ${p}`);
          assert.equal(a.error, undefined, JSON.stringify(a));
          got.push(a.server!);
        }
        assert.deepEqual(new Set(got), new Set(['s1', 's2']));
        const which = JSON.parse(
          await topo.exec(topo.balancer, process.execPath, CLI_PATH, 'dataplane', 'which', '-c', configFile, '--service', 'udp', '--json', ...ports.map((p) => `${CLIENT_IP}:${p}`)),
        ) as Array<{ server: string }>;
        assert.deepEqual(which.map((w) => w.server), got);
      });

      it(`a 10 MB download leaves ${mode === 'dsr' ? 'under 5% of its bytes' : 'all its bytes'} on the balancer's interface`, async (t) => {
        const before = await topo.counters(topo.balancer);
        const size = await topo.exec(topo.client, 'curl', '-sS', '--max-time', '30', '-o', '/dev/null', '-w', '%{size_download}', `http://${VIP}/bytes/${TEN_MB}`);
        const after = await topo.counters(topo.balancer);
        assert.equal(Number(size), TEN_MB);
        const rx = after.rx - before.rx;
        const tx = after.tx - before.tx;
        t.diagnostic(`balancer eth0: ${rx} bytes in, ${tx} out: ${((100 * (rx + tx)) / TEN_MB).toFixed(1)}% of the download, both ways`);
        if (mode === 'dsr') {
          assert.ok(rx + tx < 0.05 * TEN_MB, `the balancer carried ${rx + tx} bytes (${((100 * (rx + tx)) / TEN_MB).toFixed(2)}%)`);
        } else {
          assert.ok(rx >= TEN_MB && tx >= TEN_MB, `the balancer received ${rx} and sent ${tx} bytes`);
        }
      });

      it('a 1 MB upload arrives intact', async () => {
        const out = await topo.exec(topo.client, 'curl', '-sS', '--max-time', '30', '--data-binary', `@${join(dir, 'upload.bin')}`, `http://${VIP}/upload`);
        const got = JSON.parse(out) as { bytes: number; sha256: string; server: string };
        assert.equal(got.bytes, upload.length);
        assert.equal(got.sha256, uploadSha);
      });

      it('shows the live rules and the table shares', async () => {
        const out = await topo.exec(topo.balancer, process.execPath, CLI_PATH, 'dataplane', 'show', '-c', configFile);
        assert.match(out, new RegExp(`service www: ${mode === 'dsr' ? 'dsr' : 'nat'} 203\\.0\\.113\\.10 tcp/80`));
        assert.match(out, /Maglev table: 1031 entries/);
        assert.match(out, /s1 192\.0\.2\.11.*: \d+ \(\d+\.\d%\)/);
        assert.match(out, /map \{ 1031 entries \}/);
      });

      it('stopping removes every Fulcrum table and leaves a foreign table untouched', async () => {
        assert.equal(await fulcrum.stop(), 0);
        const tables = await topo.exec(topo.balancer, 'nft', 'list', 'tables');
        assert.doesNotMatch(tables, /fulcrum/);
        assert.equal(await topo.exec(topo.balancer, 'nft', 'list', 'table', 'inet', 'fu_foreign'), foreignBefore);
      });
    });
  }
});
