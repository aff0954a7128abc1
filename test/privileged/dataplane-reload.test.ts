/**
 * Reloading a balancer that runs the kernel data plane (NAT), against the real kernel in
 * network namespaces (test/helpers/netns.ts), with `fulcrum run` in the balancer's
 * namespace and its control socket in the test's directory:
 *
 * - a reload that sets s1's weight to 0 drains it: its established TCP flows keep
 *   working (data is sent on them after the reload and after the drain time), every new
 *   flow goes to s2, and the live rules equal the newly rendered ones;
 * - five reloads (SIGHUP to the primary) that change only the health interval, under a
 *   bounded loop of new connections through the VIP: no connection fails, Fulcrum's table
 *   is in every listing polled meanwhile, and existing flows keep their server;
 * - a reload whose services cannot be applied (an interface that does not exist) is
 *   refused with the reason (`fulcrum reload` exits 1) and the previous rules stay.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Pool } from '../../src/backend/pool.js';
import { NODE_FLAGS } from '../../src/cli/node-flags.js';
import { loadConfigText } from '../../src/config/load.js';
import { desiredState } from '../../src/dataplane/desired.js';
import { NftDriver } from '../../src/dataplane/nft-driver.js';
import { CommandHost } from '../../src/dataplane/host.js';
import { normalizeObjects, renderObjects } from '../../src/dataplane/render.js';
import { FlowClient, NsProcess, type FlowAnswer, privilegedSkip, SERVER_IPS, shResult, Topology, VIP } from '../helpers/netns.js';
import { CLI_PATH, logMessages } from '../helpers/spawn.js';

const SKIP = privilegedSkip(['ip', 'nft', 'conntrack']);
const FIXTURES = new URL('../fixtures/', import.meta.url).pathname;
const DRAIN_MS = 500;

interface Options {
  weights?: [number, number];
  intervalMs?: number;
  /** Adds a DSR service on this interface. */
  dsrInterface?: string;
}

function configYaml(control: string, o: Options = {}): string {
  const [w1, w2] = o.weights ?? [1, 1];
  const dsr = o.dsrInterface === undefined ? '' : `  - { name: www2, vip: ${VIP}, port: 80, protocol: udp, mode: dsr, interface: ${o.dsrInterface}, pool: web }\n`;
  return `runtime: { control_socket: ${control} }
services:
  - { name: www, vip: ${VIP}, port: 80, protocol: tcp, mode: nat, drain_time: ${DRAIN_MS}ms, pool: web }
${dsr}pools:
  web:
    servers:
      - { name: s1, address: "${SERVER_IPS[0]}:80", weight: ${w1} }
      - { name: s2, address: "${SERVER_IPS[1]}:80", weight: ${w2} }
    health: { type: http, interval: ${o.intervalMs ?? 500}ms, timeout: 200ms, rise: 1, fall: 1, http: { path: /health } }
`;
}

/**
 * New connections through the VIP, one after another from fresh source ports, each
 * asking GET /name and closing, until stdin closes (at most 4000 or 30 s); then prints
 * {"ok":{server:count},"failed":[...]} and exits.
 */
const LOOP = `
import net from 'node:net';
const ok = {}; const failed = []; let stop = false;
process.stdin.on('data', () => {}).on('end', () => (stop = true));
const end = Date.now() + 30000;
function once() {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const s = net.connect({ host: '${VIP}', port: 80 });
    let buf = '';
    const timer = setTimeout(() => done('timeout'), 2000);
    const done = (err) => { clearTimeout(timer); s.destroy(); if (err) failed.push({ err, ms: Date.now() - t0, at: Date.now() }); resolve(); };
    s.on('connect', () => s.write('GET /name HTTP/1.1\\r\\nHost: vip\\r\\nConnection: close\\r\\n\\r\\n'));
    s.on('data', (b) => (buf += b));
    s.on('error', (e) => done(e.code ?? e.message));
    s.on('end', () => { const m = /\\r\\n\\r\\n(.*)$/s.exec(buf); if (m) { ok[m[1]] = (ok[m[1]] ?? 0) + 1; done(); } else done('no answer'); });
  });
}
process.stdout.write('ready\\n');
for (let n = 0; n < 4000 && !stop && Date.now() < end; n++) await once();
process.stdout.write(JSON.stringify({ ok, failed }) + '\\n');
`;

/** Counts `nft list tables` snapshots in the balancer's namespace, and those without Fulcrum's table, until the file $1 exists (at most 3000). */
const POLL = `i=0; missing=0; while [ $i -lt 3000 ] && [ ! -e "$1" ]; do
  nft list tables | grep -q '^table ip fulcrum$' || missing=$((missing+1)); i=$((i+1)); done; echo "polled $i missing $missing"`;

describe('kernel data plane: reloads', { skip: SKIP ?? false }, () => {
  let topo: Topology;
  let dir: string;
  let client: NsProcess;
  let flowClient: FlowClient;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'fulcrum-dpr-'));
    topo = await Topology.create('r');
    for (const [i, ns] of topo.servers.entries()) {
      const p = topo.start(ns, process.execPath, [join(FIXTURES, 'dataplane-server.js'), '80', `s${i + 1}`]);
      await p.waitFor(/ready/);
    }
    await topo.serverReturnRoute('balancer');
    client = topo.start(topo.client, process.execPath, [join(FIXTURES, 'dataplane-client.js'), VIP, '80'], { stdin: true });
    await client.waitFor(/ready/);
    flowClient = new FlowClient(client);
  });

  after(async () => {
    // Ends every process started in the namespaces (fulcrum included, whose stop removes its
    // tables), then deletes the namespaces, and with them any table left.
    await topo?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const ask = (cmd: string): Promise<FlowAnswer> => flowClient.ask(cmd);

  /** The live rules and the ones rendered for `yaml` with both servers up. */
  async function liveAndRendered(yaml: string): Promise<[unknown, unknown]> {
    const { config } = loadConfigText(yaml, 'test');
    const pool = new Pool(config!.pools.get('web')!);
    const links = { interfaceMacs: new Map<string, string>(), neighbours: new Map<string, string>() };
    const want = renderObjects(desiredState(config!.services, () => pool.usable, links));
    pool.stop();
    return [normalizeObjects(await new NftDriver(new CommandHost({ netns: topo.balancer })).list()), normalizeObjects(want)];
  }

  /** Starts `fulcrum run` on `yaml` in the balancer's namespace; stopped (tables removed) after the test. */
  async function startFulcrum(t: { after(fn: () => Promise<void>): void }, name: string, yaml: string): Promise<{ p: NsProcess; file: string; control: string }> {
    const file = join(dir, `${name}.yaml`);
    const control = join(dir, `${name}.sock`);
    writeFileSync(file, yaml.replace('CONTROL', control));
    const p = topo.start(topo.balancer, process.execPath, [...NODE_FLAGS, CLI_PATH, 'run', '-c', file]);
    t.after(async () => {
      await p.stop();
    });
    await p.waitFor(/rules applied in \d+ ms \(start\)/);
    await p.waitFor(/control socket/);
    return { p, file, control };
  }

  function reload(control: string): Promise<{ code: number; stdout: string; stderr: string }> {
    return shResult('ip', ['netns', 'exec', topo.balancer, process.execPath, CLI_PATH, 'reload', '-s', control]);
  }

  /** How many times `re` occurs in the process's log messages. */
  function count(p: NsProcess, re: RegExp): number {
    return logMessages(p.err).split('\n').filter((l) => re.test(l)).length;
  }

  it('a reload that sets a weight to 0 drains the server: its flows go on, new ones go elsewhere', async (t) => {
    const t0 = Date.now();
    const { p, file, control } = await startFulcrum(t, 'drain', configYaml('CONTROL'));
    const ports = Array.from({ length: 40 }, (_, i) => 50_000 + i);
    const predicted = await topo.which(file, 'www', ports);
    const toS1 = ports.filter((_, i) => predicted[i] === 's1');
    const toS2 = ports.filter((_, i) => predicted[i] === 's2');
    assert.ok(toS1.length >= 12 && toS2.length >= 2, `flows: ${toS1.length} to s1, ${toS2.length} to s2`);
    for (const [i, port] of toS1.slice(0, 2).entries()) assert.equal((await ask(`open d1${i} ${port}`)).server, 's1');
    assert.equal((await ask(`open d2 ${toS2[0]}`)).server, 's2');

    const drained = configYaml(control, { weights: [0, 1] });
    writeFileSync(file, drained);
    const r = await reload(control);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /reloaded /);
    assert.match(logMessages(p.err), /rules applied in \d+ ms \(start\): www -> s2 1031 of 1031/);
    const [live, rendered] = await liveAndRendered(drained);
    assert.deepEqual(live, rendered, 'the live rules equal the ones rendered for the new configuration');

    for (let i = 0; i < 2; i++) assert.equal((await ask(`ask d1${i}`)).server, 's1', 'an established flow to the drained server keeps working');
    for (const [i, port] of toS1.slice(2, 12).entries()) assert.equal((await ask(`open n${i} ${port}`)).server, 's2', `a new flow from port ${port} (s1's before)`);
    assert.ok((await topo.which(file, 'www', toS1)).every((s) => s === 's2'));
    // A drain is not a failure: its flows are not cut after the drain time.
    await new Promise((res) => setTimeout(res, DRAIN_MS + 300));
    for (let i = 0; i < 2; i++) assert.equal((await ask(`ask d1${i}`)).server, 's1', 'still there after the drain time');
    assert.equal((await ask('ask d2')).server, 's2');
    assert.doesNotMatch(logMessages(p.err), /removed \d+ conntrack/);
    t.diagnostic(`took ${Date.now() - t0} ms`);
  });

  it('fulcrum server drain (runtime API) reaches the kernel tables within a second; ready brings the server back', async (t) => {
    const { p, file, control } = await startFulcrum(t, 'api', configYaml('CONTROL'));
    const ports = Array.from({ length: 40 }, (_, i) => 51_000 + i);
    const predicted = await topo.which(file, 'www', ports);
    const s1Ports = ports.filter((_, i) => predicted[i] === 's1');
    assert.ok(s1Ports.length >= 4, `flows to s1: ${s1Ports.length}`);
    assert.equal((await ask(`open a0 ${s1Ports[0]}`)).server, 's1');
    const cli = (...words: string[]) => shResult('ip', ['netns', 'exec', topo.balancer, process.execPath, CLI_PATH, ...words, '-s', control]);
    const t0 = Date.now();
    let r = await cli('server', 'drain', 'web/s1');
    assert.equal(r.code, 0, r.stderr);
    await p.waitFor(/rules applied in \d+ ms \([^)]*\): www -> s2 1031 of 1031/, 2000);
    const took = Date.now() - t0;
    assert.ok((await topo.which(file, 'www', s1Ports)).every((s) => s === 's2'), 'new flows go to s2');
    assert.equal((await ask(`open a1 ${s1Ports[1]}`)).server, 's2');
    assert.equal((await ask('ask a0')).server, 's1', 'an established flow to the drained server keeps working');
    r = await cli('server', 'ready', 'web/s1');
    assert.equal(r.code, 0, r.stderr);
    let back = false;
    for (let i = 0; i < 20 && !back; i++) {
      back = (await topo.which(file, 'www', s1Ports)).every((s) => s === 's1');
      if (!back) await new Promise((res) => setTimeout(res, 100));
    }
    assert.ok(back, 's1 takes its flows back');
    t.diagnostic(`drain reached the kernel in ${took} ms`);
  });

  it('five reloads under a loop of new connections: none fails, the table never goes, flows stay', async (t) => {
    const t0 = Date.now();
    const { p, file, control } = await startFulcrum(t, 'many', configYaml('CONTROL'));
    const ports = Array.from({ length: 30 }, (_, i) => 53_000 + i);
    const predicted = await topo.which(file, 'www', ports);
    const existing: Array<[string, string]> = [];
    for (const server of ['s1', 's2']) {
      for (const port of ports.filter((_, i) => predicted[i] === server).slice(0, 2)) {
        const id = `m${port}`;
        assert.equal((await ask(`open ${id} ${port}`)).server, server);
        existing.push([id, server]);
      }
    }
    assert.equal(existing.length, 4);

    const stopPoll = join(dir, 'stop-poll');
    const poll = topo.start(topo.balancer, '/bin/sh', ['-c', POLL, 'poll', stopPoll]);
    const loop = topo.start(topo.client, process.execPath, ['--input-type=module', '-e', LOOP], { stdin: true });
    t.after(async () => {
      writeFileSync(stopPoll, '');
      loop.child.stdin!.end();
      await Promise.all([poll.stop(5000), loop.stop(5000)]);
    });
    await loop.waitFor(/ready/);
    // SIGHUP goes to the primary itself: `ip netns exec` execs node in place.
    const reloadMs: number[] = [];
    for (let i = 1; i <= 5; i++) {
      await new Promise((res) => setTimeout(res, 200));
      writeFileSync(file, configYaml(control, { intervalMs: 500 + 100 * i }));
      const before = count(p, /^reloaded /);
      const started = Date.now();
      p.signal('SIGHUP');
      for (const end = Date.now() + 10_000; count(p, /^reloaded /) === before; ) {
        assert.ok(Date.now() < end, `reload ${i} did not finish:\n${logMessages(p.err)}`);
        assert.doesNotMatch(logMessages(p.err), /reload (refused|failed)/);
        await new Promise((res) => setTimeout(res, 10));
      }
      reloadMs.push(Date.now() - started);
      for (const [id, server] of existing) assert.equal((await ask(`ask ${id}`)).server, server, `flow ${id} after reload ${i}`);
    }
    await new Promise((res) => setTimeout(res, 200));
    loop.child.stdin!.end();
    writeFileSync(stopPoll, '');
    await Promise.all([loop.exited, poll.exited]);

    const result = JSON.parse(loop.out.split('\n')[1]!) as { ok: Record<string, number>; failed: unknown[] };
    const polled = /polled (\d+) missing (\d+)/.exec(poll.out);
    t.diagnostic(`reloads took ${reloadMs.join(', ')} ms; connections ${JSON.stringify(result.ok)}; ${polled?.[0]}; took ${Date.now() - t0} ms`);
    assert.deepEqual(result.failed, [], 'no connection through the VIP failed');
    assert.ok((result.ok.s1 ?? 0) >= 20 && (result.ok.s2 ?? 0) >= 20, `both servers answered: ${JSON.stringify(result.ok)}`);
    assert.ok(polled !== null && Number(polled[1]) >= 50, `table listings: ${poll.out}${poll.err}`);
    assert.equal(Number(polled[2]), 0, 'every listing held the fulcrum table');
    assert.equal(count(p, /rules applied in \d+ ms \(start\)/), 6, 'each reload applied its rules once');
    assert.doesNotMatch(logMessages(p.err), /removed Fulcrum's tables/);
    const [live, rendered] = await liveAndRendered(configYaml(control, { intervalMs: 1000 }));
    assert.deepEqual(live, rendered);
  });

  it('a reload whose services cannot be applied is refused, and the previous rules stay', async (t) => {
    const t0 = Date.now();
    const { p, file, control } = await startFulcrum(t, 'bad', configYaml('CONTROL'));
    const good = configYaml(control);
    const [before] = await liveAndRendered(good);
    writeFileSync(file, configYaml(control, { weights: [0, 1], dsrInterface: 'nope0' }));
    const r = await reload(control);
    assert.equal(r.code, 1, `${r.stdout}${r.stderr}`);
    assert.match(r.stderr, /reload failed: the kernel data plane cannot start:\n {2}- service www2: there is no interface nope0 on this host\n?.*; the running configuration stays in force/s);
    const [live, rendered] = await liveAndRendered(good);
    assert.deepEqual(live, before, 'the rules did not change');
    assert.deepEqual(live, rendered);
    // The running data plane still follows its configuration: s1 (weight 1 there) gets new flows.
    const ports = Array.from({ length: 20 }, (_, i) => 52_000 + i);
    writeFileSync(file, good);
    const w = await topo.which(file, 'www', ports);
    assert.equal((await ask(`open b1 ${ports[w.indexOf('s1')]}`)).server, 's1');
    assert.equal((await ask(`open b2 ${ports[w.indexOf('s2')]}`)).server, 's2');
    assert.equal(count(p, /rules applied in \d+ ms/), 1);
    assert.equal(await p.stop(), 0);
    assert.doesNotMatch(await topo.exec(topo.balancer, 'nft', 'list', 'tables'), /fulcrum/);
    t.diagnostic(`took ${Date.now() - t0} ms`);
  });
});
