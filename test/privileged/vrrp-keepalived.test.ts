/**
 * Interoperation with keepalived 2.x (Debian) speaking VRRPv3, advertisements every
 * 100 ms, on one L2 segment of network namespaces: Fulcrum master with keepalived
 * backup, and keepalived master with Fulcrum backup. In each: exactly one holder of the
 * virtual IP once settled (a preemption may overlap for a moment), failover both ways
 * after SIGKILL, preemption by the returning master, and the priority-0 resignation of a
 * clean stop honoured by the other side. Figures are printed as `# vrrp measured:` lines.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { masterDownMs } from '../../src/vrrp/state-machine.js';
import { cannotRun, fulcrumYaml, keepalivedConf, Lab, report, type Proc } from '../helpers/vrrp-lab.js';
import { sleep } from '../helpers/wait.js';

const VIP = '192.0.2.100';
const skip = cannotRun();
const OVERLAP_MS = 100;

/** Ends keepalived as a crash would: its VRRP child and the parent (stopped first, so it cannot start another child). */
async function crashKeepalived(lab: Lab, k: Proc, name: string): Promise<void> {
  const child = lab.keepalivedChild(name);
  k.kill('SIGSTOP');
  process.kill(child, 'SIGKILL');
  k.kill('SIGKILL');
  await k.exited;
}

async function keepalivedReady(lab: Lab, k: Proc, name: string): Promise<void> {
  await k.waitFor(/Entering (BACKUP|MASTER) STATE/, 5000);
  for (let i = 0; i < 100; i++) {
    try {
      lab.keepalivedChild(name);
      return;
    } catch {
      await sleep(20);
    }
  }
}

test('vrrp interop: Fulcrum master, keepalived backup', { skip: skip ?? false, timeout: 60_000 }, async (t) => {
  const lab = await Lab.open(t, { a: '192.0.2.1/24', b: '192.0.2.2/24' });
  const watch = await lab.watchVip(['a', 'b'], VIP);
  let a = await lab.fulcrum('a', 'A', fulcrumYaml({ priority: 200, vip: VIP }));
  await watch.gained('a', 0, 3000);
  const k = lab.keepalived('b', 'kb', keepalivedConf({ name: 'kb', priority: 150, vip: VIP }));
  await keepalivedReady(lab, k, 'kb');

  await t.test('keepalived stays backup behind the Fulcrum master', async () => {
    await sleep(2 * masterDownMs(150, 10));
    assert.deepEqual(watch.holders(), ['a']);
    assert.doesNotMatch(k.text(), /Entering MASTER STATE/);
  });

  await t.test('SIGKILL of Fulcrum: keepalived takes over within Master_Down_Interval + 200 ms', async () => {
    const bound = masterDownMs(150, 10) + 200;
    const killed = Date.now();
    a.kill('SIGKILL');
    const gained = await watch.gained('b', killed, 3000);
    report('interop, Fulcrum killed, VIP on keepalived after', gained - killed, bound);
    assert.ok(gained - killed <= bound);
    await a.exited;
  });

  let clean = 0;
  await t.test('Fulcrum returns and preempts keepalived', async () => {
    const started = Date.now();
    a = await lab.fulcrum('a', 'A2', fulcrumYaml({ priority: 200, vip: VIP }));
    clean = await watch.lost('a', started);
    await watch.gained('a', started, 3000);
    await k.waitFor(/received advert from 192\.0\.2\.1 with higher priority 200/, 2000, started);
    await sleep(300);
    assert.deepEqual(watch.holders(), ['a']);
    const overlap = watch.longestOverlap(clean);
    report('interop, Fulcrum preempting keepalived, both held the VIP for', overlap, OVERLAP_MS);
    assert.ok(overlap <= OVERLAP_MS);
  });

  await t.test("Fulcrum's clean stop (priority 0) is honoured: keepalived takes over in under 100 ms", async () => {
    const stopped = Date.now();
    a.kill('SIGTERM');
    const gained = await watch.gained('b', stopped, 2000);
    await k.waitFor(/Backup received priority 0 advertisement/, 1000, stopped);
    const line = await k.waitFor(/setting VIPs/, 1000, stopped);
    report('interop, Fulcrum clean stop, VIP on keepalived (ip monitor) after', gained - stopped);
    const took = Math.min(gained, line.t) - stopped;
    report('interop, Fulcrum clean stop, keepalived took over (first of its log line and ip monitor) after', took, 100);
    const recent = (p: Proc) => p.lines.filter((l) => l.t >= stopped - 20).map((l) => `${l.t - stopped} ${l.text}`).join('\n');
    assert.ok(took < 100, `${took} ms\n${recent(k)}\n${recent(a)}`);
    await a.exited;
    assert.deepEqual(watch.holders(), ['b']);
  });

  assert.ok(watch.longestOverlap(clean) <= OVERLAP_MS);
  await k.stop();
});

test('vrrp interop: keepalived master, Fulcrum backup', { skip: skip ?? false, timeout: 60_000 }, async (t) => {
  const lab = await Lab.open(t, { a: '192.0.2.1/24', b: '192.0.2.2/24' });
  const watch = await lab.watchVip(['a', 'b'], VIP);
  let k = lab.keepalived('a', 'ka', keepalivedConf({ name: 'ka', priority: 200, vip: VIP }));
  await keepalivedReady(lab, k, 'ka');
  await watch.gained('a', 0, 3000);
  const b = await lab.fulcrum('b', 'B', fulcrumYaml({ priority: 150, vip: VIP }));

  await t.test('Fulcrum stays backup behind the keepalived master', async () => {
    await b.waitFor(/STOP -> BACKUP/);
    await sleep(2 * masterDownMs(150, 10));
    assert.deepEqual(watch.holders(), ['a']);
    assert.doesNotMatch(b.text(), /-> MASTER/);
  });

  await t.test('keepalived crashes: Fulcrum takes over within Master_Down_Interval + 200 ms', async () => {
    const bound = masterDownMs(150, 10) + 200;
    const killed = Date.now();
    await crashKeepalived(lab, k, 'ka');
    const gained = await watch.gained('b', killed, 3000);
    report('interop, keepalived killed, VIP on Fulcrum after', gained - killed, bound);
    assert.ok(gained - killed <= bound);
  });

  let clean = 0;
  await t.test('keepalived returns and preempts Fulcrum', async () => {
    const started = Date.now();
    // New pid files: the killed child may linger as a zombie, and keepalived would refuse to start.
    k = lab.keepalived('a', 'ka2', keepalivedConf({ name: 'ka', priority: 200, vip: VIP }));
    // keepalived keeps the address its killed predecessor left (no event on a): two
    // masters exist from keepalived's MASTER line until Fulcrum releases.
    const master = await k.waitFor(/Entering MASTER STATE/, 5000, started);
    const released = await watch.lost('b', started, 3000);
    await b.waitFor(/MASTER -> BACKUP \(a master with higher priority 200/, 2000, started);
    await sleep(300);
    assert.deepEqual(watch.holders(), ['a']);
    clean = released;
    const overlap = Math.max(0, released - master.t);
    report('interop, keepalived preempting Fulcrum, both held the VIP for', overlap, OVERLAP_MS);
    assert.ok(overlap <= OVERLAP_MS);
  });

  await t.test("keepalived's clean stop (priority 0) is honoured: Fulcrum takes over in under 100 ms", async () => {
    const stopped = Date.now();
    k.kill('SIGTERM');
    const gained = await watch.gained('b', stopped, 2000);
    const line = await b.waitFor(/BACKUP -> MASTER \(the master resigned/, 1000, stopped);
    report('interop, keepalived clean stop, VIP on Fulcrum (ip monitor) after', gained - stopped);
    const took = Math.min(gained, line.t) - stopped;
    report('interop, keepalived clean stop, Fulcrum took over (first of its log line and ip monitor) after', took, 100);
    assert.ok(took < 100, `${took} ms`);
    await k.exited;
    assert.deepEqual(watch.holders(), ['b']);
  });

  assert.ok(watch.longestOverlap(clean) <= OVERLAP_MS);
  await b.stop();
});
