/**
 * What arrives on the wire besides well-formed advertisements. A Fulcrum master is sent
 * malformed packets from another namespace (wrong version and type, bad checksum, TTL
 * not 255, an unknown VRID, truncated, and a burst of random bytes) including a
 * higher-priority advertisement with TTL 254 that must not make it step down: it counts
 * them by reason in its log, stays master and keeps running. Then unicast mode against
 * keepalived (unicast_peer): Fulcrum master, keepalived backup, and the handover on a
 * clean stop; a node that is not a configured peer is ignored.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeAdvert, encodeIpv4 } from '../../src/vrrp/packet.js';
import { masterDownMs } from '../../src/vrrp/state-machine.js';
import { cannotRun, fulcrumYaml, keepalivedConf, Lab, report } from '../helpers/vrrp-lab.js';
import { sleep } from '../helpers/wait.js';

const VIP = '192.0.2.100';
const skip = cannotRun();
const SENDER = new URL('../fixtures/vrrp-send.js', import.meta.url).pathname;

/** A whole advertisement packet from `src`; `edit` may change bytes after the checksum. */
function packet(opts: { src?: string; vrid?: number; priority?: number; ttl?: number; dst?: string }, edit?: (b: Buffer) => void): string {
  const src = opts.src ?? '192.0.2.66';
  const dst = opts.dst ?? '224.0.0.18';
  const vrrp = encodeAdvert({ vrid: opts.vrid ?? 51, priority: opts.priority ?? 250, intervalCs: 10, addresses: [VIP] }, src, dst);
  const b = encodeIpv4(vrrp, src, dst);
  if (opts.ttl !== undefined) b[8] = opts.ttl;
  edit?.(b);
  return b.toString('hex');
}

test('vrrp: malformed packets are counted and ignored; the master stays master', { skip: skip ?? false, timeout: 30_000 }, async (t) => {
  const lab = await Lab.open(t, { a: '192.0.2.1/24', m: '192.0.2.66/24' });
  const watch = await lab.watchVip(['a'], VIP);
  const a = await lab.fulcrum('a', 'A', fulcrumYaml({ priority: 200, vip: VIP }));
  await watch.gained('a', 0, 3000);

  const bad = [
    packet({ ttl: 254 }), // higher priority, but routed from elsewhere
    packet({ ttl: 1 }),
    packet({}, (b) => (b[20] = 0x21)), // VRRPv2
    packet({}, (b) => (b[20] = 0x32)), // type 2
    packet({}, (b) => (b[22] = 251)), // priority changed after the checksum
    packet({ vrid: 99 }), // no instance has VRID 99
    packet({}).slice(0, 2 * 24), // VRRP header cut after 4 octets
    packet({}, (b) => (b[23] = 5)), // announces 5 addresses, carries 1
  ];
  const from = Date.now();
  assert.match(await lab.exec('m', process.execPath, [SENDER, 'eth0', ...bad]), /sent 8/);
  const line = await a.waitFor(/dropped \d+ packet\(s\) on eth0/, 3000, from);
  for (const part of ['ttl 2', 'version 1', 'type 1', 'checksum 1', 'vrid 1', 'truncated 2']) assert.match(line.text, new RegExp(`\\b${part}\\b`), line.text);

  // 2,000 random packets in 20 runs of the sender.
  let seed = 7;
  const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
  for (let run = 0; run < 20; run++) {
    const junk: string[] = [];
    for (let i = 0; i < 100; i++) {
      // Priority 100, below the master's: a corruption that still decodes is a harmless advert.
      const b = Buffer.from(packet({ priority: 100 }), 'hex');
      for (let k = 0; k < 4; k++) b[20 + (rand() % (b.length - 20))] = rand() & 255;
      junk.push(b.subarray(0, 20 + (rand() % (b.length - 19))).toString('hex'));
    }
    await lab.exec('m', process.execPath, [SENDER, 'eth0', ...junk]);
  }
  await sleep(1200);
  assert.equal(a.child.exitCode, null, 'still running');
  assert.deepEqual(a.lines.filter((l) => /MASTER -> BACKUP|error handling/.test(l.text)), []);
  assert.deepEqual(watch.holders(), ['a']);
  const drops = a.lines.filter((l) => /dropped \d+ packet/.test(l.text) && l.t > from);
  const total = drops.reduce((n, l) => n + Number(/dropped (\d+)/.exec(l.text)![1]), 0);
  report('malformed packets counted as dropped (8 crafted + 2,000 random, of which some decode as valid lower-priority adverts)', total, undefined, 'packets');
  assert.ok(total >= 8);
  await a.stop();
});

test('vrrp interop: unicast peers with keepalived', { skip: skip ?? false, timeout: 30_000 }, async (t) => {
  const lab = await Lab.open(t, { a: '192.0.2.1/24', b: '192.0.2.2/24', m: '192.0.2.66/24' });
  const watch = await lab.watchVip(['a', 'b'], VIP);
  const a = await lab.fulcrum('a', 'A', fulcrumYaml({ priority: 200, vip: VIP, extra: '\n      unicast_peers: [192.0.2.2]' }));
  await watch.gained('a', 0, 3000);
  const k = lab.keepalived('b', 'kb', keepalivedConf({ name: 'kb', priority: 150, vip: VIP, unicast: { src: '192.0.2.2', peers: ['192.0.2.1'] } }));
  await k.waitFor(/Entering BACKUP STATE/, 5000);

  await t.test('keepalived follows the Fulcrum master by unicast', async () => {
    await sleep(2 * masterDownMs(150, 10));
    assert.deepEqual(watch.holders(), ['a']);
    assert.doesNotMatch(k.text(), /Entering MASTER STATE/);
  });

  await t.test('an advertisement from a host that is not a peer is ignored', async () => {
    const from = Date.now();
    await lab.exec('m', process.execPath, [SENDER, 'eth0', packet({ priority: 254, dst: '192.0.2.1' })]);
    const line = await a.waitFor(/dropped 1 packet\(s\) on eth0 in the last second: peer 1/, 3000, from);
    assert.ok(line);
    assert.deepEqual(watch.holders(), ['a']);
  });

  await t.test('a clean stop hands over to keepalived by unicast', async () => {
    const stopped = Date.now();
    a.kill('SIGTERM');
    const gained = await watch.gained('b', stopped, 2000);
    await k.waitFor(/Backup received priority 0 advertisement/, 1000, stopped);
    const line = await k.waitFor(/setting VIPs/, 1000, stopped);
    const took = Math.min(gained, line.t) - stopped;
    report('unicast interop, Fulcrum clean stop, keepalived took over (first of its log line and ip monitor) after', took, 100);
    assert.ok(took < 100, `${took} ms`);
  });
  await k.stop();
});
