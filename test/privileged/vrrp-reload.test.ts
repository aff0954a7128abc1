/**
 * Reloading a Fulcrum node that holds a VRRP virtual IP. Two nodes A (priority 200) and
 * B (150, preempting) share 192.0.2.100 with advertisements every 100 ms, each proxying
 * to S1; a client namespace runs a bounded curl loop against the VIP while `ip monitor`
 * watches the address on both nodes. Proven here:
 * - reloads (SIGHUP to A's primary) that change only a server's weight leave VRRP
 *   running, its tracking of the (replaced) pool and listener included: A never deletes
 *   the VIP, B never becomes master, no request fails;
 * - a reload with a bad file (here a bad vrrp priority) is refused and A stays master;
 * - a reload that lowers A's priority below B's is applied in place as the reload's last
 *   step, once the new workers listen (a priority change, no resignation): A serves on
 *   until B, which ignores the lower advertisements, takes the VIP within its
 *   Master_Down_Interval + 200 ms, as it would after a tracking change.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { masterDownMs } from '../../src/vrrp/state-machine.js';
import { CLI_PATH } from '../helpers/spawn.js';
import { cannotRun, fulcrumYaml, Lab, report, type Proc, type VipWatch } from '../helpers/vrrp-lab.js';
import { sleep } from '../helpers/wait.js';

const VIP = '192.0.2.100';
const TARGET = `http://${VIP}/`;
const skip = cannotRun();
/** B's Master_Down_Interval (priority 150, A advertising every 10 cs): how long B waits for a silent master. */
const B_DOWN_MS = masterDownMs(150, 10);
const SERVER = '{name: S1, address: 192.0.2.11:8080}';
/** Longest time both nodes may hold the VIP during a handover (as in vrrp-failover.test.ts). */
const OVERLAP_MS = 100;

/** Both nodes track their pool (health-checked every 200 ms) and their listener (probed every 100 ms), as examples/vrrp.yaml does. */
const TRACK = '        - {pool: web, weight: 60}\n        - {listener: www}';
const HEALTH = 'health: {type: http, interval: 100ms, timeout: 100ms, rise: 1, fall: 1}';
/**
 * The lab's checks with room for a loaded machine (every 200 ms, down after 3 failures):
 * starting a generation of workers on 2 shared cores once delayed one 100 ms check past
 * its timeout, and `fall: 1` then lowered A's priority for 20 ms. The pool's state across
 * a reload is still tested: a new pool that started unusable would lower it at once.
 */
const TOLERANT_HEALTH = 'health: {type: http, interval: 200ms, timeout: 200ms, rise: 1, fall: 3}';

/** A node's file: the lab's configuration, with S1's weight and a control socket of its own. */
function nodeYaml(priority: number, weight: number, control: string): string {
  const base = fulcrumYaml({ priority, vip: VIP, health: true, track: TRACK });
  assert.ok(base.includes(SERVER) && base.includes(HEALTH), 'fulcrumYaml no longer has the server and health lines this test edits');
  const edited = base.replace(SERVER, `{name: S1, address: 192.0.2.11:8080, weight: ${weight}}`).replace(HEALTH, TOLERANT_HEALTH);
  return `runtime: {control_socket: ${control}}\n${edited}`;
}


/** S1's weight as A's primary reports it (`fulcrum status --json`). */
async function weightOf(control: string): Promise<number> {
  const { stdout } = await promisify(execFile)(process.execPath, [CLI_PATH, 'status', '-s', control, '--json']);
  const status = JSON.parse(stdout) as { data: { pools: Array<{ name: string; servers: Array<{ name: string; weight: number }> }> } };
  return status.data.pools.find((p) => p.name === 'web')!.servers.find((s) => s.name === 'S1')!.weight;
}

/** Deletions of the VIP seen on `host` at or after `from`. */
function deletions(watch: VipWatch, host: string, from: number): number {
  return watch.events.filter((e) => e.host === host && !e.added && e.t >= from).length;
}

test('vrrp: a configuration reload does not move the virtual IP unless the vrrp section changes', { skip: skip ?? false, timeout: 60_000 }, async (t) => {
  const lab = await Lab.open(t, { a: '192.0.2.1/24', b: '192.0.2.2/24', c: '192.0.2.50/24', s: '192.0.2.11/24' });
  const s1 = await lab.webServer('s', 'S1');
  const watch = await lab.watchVip(['a', 'b'], VIP);
  const controlA = `${lab.dir}/a.sock`;
  const a: Proc = await lab.fulcrum('a', 'A', nodeYaml(200, 1, controlA));
  const b: Proc = await lab.fulcrum('b', 'B', nodeYaml(150, 1, `${lab.dir}/b.sock`));
  await a.waitFor(/vrrp www: BACKUP -> MASTER/, 3000);
  const settled = await watch.gained('a', 0);
  await sleep(300);
  assert.deepEqual(watch.holders(), ['a']);
  // SIGHUP goes to the primary itself: `ip netns exec` execs node in place.
  const primaryPid = (JSON.parse(a.lines.find((l) => l.text.startsWith('{'))!.text) as { pid: number }).pid;
  assert.equal(primaryPid, a.pid);

  /** Rewrites A's file, sends SIGHUP, and waits for the answer in A's log; returns when it was sent and how long the reload took. */
  const reloadA = async (yaml: string, answer: RegExp): Promise<{ sent: number; took: number }> => {
    lab.file('A.yaml', yaml);
    const sent = Date.now();
    a.kill('SIGHUP');
    const line = await a.waitFor(answer, 5000, sent);
    return { sent, took: line.t - sent };
  };

  await t.test('5 reloads changing a server weight: the VIP stays on A, B stays backup, no request fails', async () => {
    // 500 ms per request: no SYN retransmission (1 s) fits, so a request sent to a missing VIP fails.
    const loop = lab.curlLoop('c', TARGET, 400, 500, 20);
    const first = await loop.answeredAfter(Date.now());
    const took: number[] = [];
    for (let i = 1; i <= 5; i++) {
      const r = await reloadA(nodeYaml(200, 1 + i * 10, controlA), /"msg":"reloaded [^"]*: generation \d+/);
      took.push(r.took);
      assert.equal(await weightOf(controlA), 1 + i * 10, 'the reload applied the new weight');
      await sleep(150);
    }
    // Longer than B's Master_Down_Interval after the last reload: a B that missed advertisements would have taken over by now.
    await sleep(2 * B_DOWN_MS);
    const last = Date.now();
    await loop.answeredAfter(last, 2000);
    await loop.stop();
    const results = loop.results().filter((r) => r.end >= first);
    report('reload (SIGHUP to "reloaded" log line), 5 reloads, longest', Math.max(...took));
    report('reload, 5 reloads, shortest', Math.min(...took));
    report('requests through the 5 reloads', results.length, undefined, 'requests');
    assert.equal(deletions(watch, 'a', settled), 0, `A deleted the VIP: ${JSON.stringify(watch.events)}`);
    assert.deepEqual(watch.holders(), ['a']);
    assert.doesNotMatch(b.text(), /-> MASTER/);
    // Tracking saw the new pool and listener as healthy throughout: no priority change, no fault.
    assert.doesNotMatch(a.text(), /vrrp section changed|MASTER -> |priority 200 -> |FAULT/);
    const failed = results.filter((r) => r.code !== '200');
    assert.deepEqual(failed, [], `${failed.length} of ${results.length} requests failed`);
    assert.ok(results.length >= 20, `only ${results.length} requests ran through the reloads`);
  });

  await t.test('a reload with an invalid file is refused and A stays master', async () => {
    const from = Date.now();
    const bad = nodeYaml(0, 51, controlA);
    const { took } = await reloadA(bad, /reload refused: 1 problem\(s\)/);
    const refusal = a.lines.filter((l) => l.t >= from && /"level":"error"/.test(l.text)).map((l) => l.text).join('\n');
    assert.match(refusal, /A\.yaml:\d+:\d+.*vrrp\.instances\[0\]\.priority/);
    // `fulcrum reload` says the same and exits 1.
    const viaCli = await promisify(execFile)(process.execPath, [CLI_PATH, 'reload', '-s', controlA]).then(
      () => assert.fail('fulcrum reload accepted an invalid file'),
      (err: { code: number; stderr: string }) => err,
    );
    assert.equal(viaCli.code, 1);
    assert.match(viaCli.stderr, /reload refused/);
    report('refused reload (SIGHUP to the refusal in the log)', took);
    await sleep(2 * B_DOWN_MS);
    assert.equal(deletions(watch, 'a', settled), 0);
    assert.deepEqual(watch.holders(), ['a']);
    assert.doesNotMatch(b.text(), /-> MASTER/);
    assert.equal(await weightOf(controlA), 51, 'the running configuration stays in force');
    assert.equal(await lab.exec('c', 'curl', ['-s', '-m', '2', TARGET]), 'S1\n');
  });

  await t.test('a reload lowering A\'s priority below B\'s is applied in place: A serves until B takes over after its Master_Down_Interval, without a resignation', async () => {
    const bound = B_DOWN_MS + 200;
    const loop = lab.curlLoop('c', TARGET, 200, 150, 20);
    await loop.answeredAfter(Date.now());
    const { sent, took } = await reloadA(nodeYaml(100, 51, controlA), /"msg":"reloaded [^"]*: generation \d+/);
    // Applied once the new workers listen, as the last step of the reload: a priority change, no restart.
    const applied = (await a.waitFor(/vrrp www: configured priority 200 -> 100 \(reload\)/, 1000, sent)).t;
    const gained = await watch.gained('b', sent, 3000);
    const lost = await watch.lost('a', sent, 3000);
    const line = await b.waitFor(/vrrp www: BACKUP -> MASTER/, 3000, sent);
    await a.waitFor(/vrrp www: MASTER -> BACKUP/, 3000, sent);
    await loop.answeredAfter(Math.max(gained, lost) + 300, 3000);
    await loop.stop();
    const results = loop.results().filter((r) => r.end >= sent);
    const timeline = JSON.stringify(results.map((r) => [r.start - sent, r.end - sent, r.code]));
    const failed = results.filter((r) => r.code !== '200').length;
    report('priority reload, the whole reload (SIGHUP to "reloaded")', took);
    report('priority reload, the new priority applied after the SIGHUP', applied - sent);
    report('priority reload, VIP on B after the new priority', gained - applied, bound);
    report('priority reload, VIP off A after the new priority', lost - applied);
    report('priority reload, B logged MASTER after the new priority', line.t - applied);
    report('priority reload, client requests failed', failed, undefined, 'requests');
    assert.ok(gained - applied <= bound, `B took the VIP ${gained - applied} ms after A's new priority (bound ${bound} ms): ${timeline}`);
    // A never resigned: it served until B's first advertisement, and B added the VIP before that.
    assert.doesNotMatch(a.text().slice(a.text().indexOf('configured priority 200 -> 100')), /vrrp section changed|priority 0|STOP/);
    assert.ok(failed <= 1, `at most the request caught in the switch fails: ${timeline}`);
    const overlap = watch.longestOverlap(sent);
    report('priority reload, both nodes held the VIP for', overlap, OVERLAP_MS);
    assert.ok(overlap <= OVERLAP_MS, `two holders for ${overlap} ms`);
    await sleep(2 * B_DOWN_MS);
    assert.deepEqual(watch.holders(), ['b']);
    assert.equal(await lab.exec('c', 'curl', ['-s', '-m', '2', TARGET]), 'S1\n');
  });

  await Promise.all([a.stop(), b.stop()]);
});
