/**
 * `fulcrum lab` end to end, as root: a short lab (256 KiB up, 1 MiB down, 50 requests)
 * through every mode, run by the CLI as a user would, and the facts it must show (not
 * fixed numbers): DSR carries under 5% of a download and about all of an upload; the
 * proxies and NAT carry every byte in and out; DNS balancing carries nothing but the
 * query; redirect carries the first request only; the VRRP backup carries nothing. The
 * drills: a killed server cuts its download; a killed active balancer is replaced by its
 * partner within Master_Down_Interval, after which requests are answered again. The report opens in headless Chromium
 * without a console error, its charts have one bar group per mode, and a screenshot is
 * kept (in $FULCRUM_TEST_ARTIFACTS, else test-artifacts/). A lab left by a crash is
 * removed first, Ctrl-C removes everything, and nothing is left behind.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { DrillResult } from '../../src/lab/drills.js';
import type { LabResult, Measurement } from '../../src/lab/lab.js';
import { MODE_NAMES } from '../../src/lab/modes.js';
import { hasTool } from '../../src/lab/topology.js';
import { privilegedSkip, sh, shResult } from '../helpers/netns.js';
import { CLI_PATH } from '../helpers/spawn.js';

const SKIP = privilegedSkip(['ip', 'nft']);
/** The modes the lab runs here: ecmp needs BIRD, https openssl (the lab skips them without). */
const MODES_HERE = MODE_NAMES.filter((mode) => (mode !== 'ecmp' || hasTool('bird')) && (mode !== 'https' || hasTool('openssl')));
const CHROMIUM = '/usr/bin/chromium';
const ARTIFACTS = process.env.FULCRUM_TEST_ARTIFACTS ?? new URL('../../../test-artifacts/', import.meta.url).pathname;
const UP = 256 * 1024;
/** dist/src/lab/: the lab's servers and clients run from here. */
const LAB_DIST = fileURLToPath(new URL('../../src/lab/', import.meta.url));
const DOWN = 1024 * 1024;

async function labNamespaces(): Promise<string[]> {
  return (await sh('ip', ['netns', 'list'])).split('\n').map((l) => l.split(' ')[0]!).filter((n) => n.startsWith('fulab-'));
}

/** Processes whose command line names `text` (the lab's output directory). */
function processesNaming(text: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').includes(text)) pids.push(Number(name));
    } catch {
      /* gone */
    }
  }
  return pids;
}

describe('fulcrum lab', { skip: SKIP ?? false }, () => {
  let dir: string;
  let result: LabResult;
  let exit: { code: number; stdout: string; stderr: string };
  let hostTablesBefore: string;

  const m = (mode: string, transfer: Measurement['transfer']): Measurement => {
    const found = result.measurements.find((x) => x.mode === mode && x.transfer === transfer);
    assert.ok(found, `no ${mode} ${transfer} in the result`);
    assert.ok(found.ok, `${mode} ${transfer} failed: ${found.error}`);
    return found;
  };
  const share = (x: Measurement, bytes: number) => (100 * bytes) / x.reference;

  /**
   * The lab's names (fulab-*, /run/fulcrum-lab.pid) are the same for every checkout: a
   * second copy of this test (another worktree's suite) waits for this one to end, since
   * its fake leftovers and clean-ups would tear down a lab in progress.
   */
  let held: ReturnType<typeof spawn> | undefined;

  before(async () => {
    held = spawn('flock', ['-x', '-w', '900', '/run/fulcrum-lab-test.lock', 'sh', '-c', 'echo locked; exec cat >/dev/null'], { stdio: ['pipe', 'pipe', 'ignore'] });
    await new Promise<void>((resolve, reject) => {
      held!.stdout!.once('data', () => resolve());
      held!.once('exit', (code) => reject(new Error(`could not take /run/fulcrum-lab-test.lock (flock exited with ${code})`)));
    });
    dir = mkdtempSync(join(tmpdir(), 'fulcrum-lab-'));
    hostTablesBefore = await sh('nft', ['list', 'tables']);
    // what a crashed run leaves: a lab namespace with a process in it
    await sh('ip', ['netns', 'add', 'fulab-c']);
    spawn('ip', ['netns', 'exec', 'fulab-c', 'sleep', '60'], { stdio: 'ignore', detached: true }).unref();
    await new Promise((r) => setTimeout(r, 200));
    exit = await shResult(process.execPath, [CLI_PATH, 'lab', '--sizes', `${UP},${DOWN},50`, '--out', join(dir, 'out'), '--json'], { timeoutMs: 120_000 });
    result = JSON.parse(exit.stdout) as LabResult;
  });

  after(async () => {
    await shResult(process.execPath, [CLI_PATH, 'lab', '--clean']);
    if (dir) rmSync(dir, { recursive: true, force: true });
    held?.stdin?.end(); // cat ends, and flock lets the lock go
  });

  it('runs every mode, and removes what a crashed run left first', () => {
    assert.equal(exit.code, 0, exit.stderr);
    assert.deepEqual(result.modes, MODES_HERE);
    assert.equal(result.measurements.length, MODES_HERE.length * 3);
    assert.ok(result.measurements.every((x) => x.ok), JSON.stringify(result.measurements.filter((x) => !x.ok)));
    assert.ok(result.cleaned.includes('namespace fulab-c'), result.cleaned.join(', '));
    assert.ok(result.cleaned.some((c) => c.startsWith('process ')), result.cleaned.join(', '));
  });

  it('proxies and NAT carry every byte in and out (at least 200% of the transfer)', () => {
    for (const mode of MODES_HERE.filter((x) => ['http', 'https', 'tcp', 'udp', 'nat', 'fullnat'].includes(x))) {
      for (const t of ['upload', 'download'] as const) {
        const x = m(mode, t);
        assert.ok(share(x, x.balancerIn + x.balancerOut) >= 200, `${mode} ${t}: ${share(x, x.balancerIn + x.balancerOut).toFixed(1)}%`);
      }
    }
  });

  it('the VRRP backup carries nothing of any transfer: the master holds the VIP', () => {
    for (const x of result.measurements.filter((m) => m.mode !== 'ecmp')) {
      // the master's advertisements (one a second) and a broadcast ARP reach it, nothing more
      assert.ok(x.backup < 3000, `${x.mode} ${x.transfer}: ${x.backup} bytes on the backup`);
    }
  });

  it('DSR, alone or behind ECMP: the download\'s answer bypasses the balancers, the upload crosses them', () => {
    for (const mode of MODES_HERE.filter((x) => x === 'dsr' || x === 'ecmp')) {
      const down = m(mode, 'download');
      assert.ok(down.balancerIn + down.balancerOut < 0.05 * DOWN, `${mode} download: ${down.balancerIn} in, ${down.balancerOut} out`);
      const up = m(mode, 'upload');
      assert.ok(share(up, up.balancerIn) >= 95 && share(up, up.balancerIn) <= 115, `${mode} upload in: ${share(up, up.balancerIn).toFixed(1)}%`);
    }
  });

  it('DNS balancing: only the query and its answer cross the balancer', () => {
    for (const t of ['upload', 'download', 'requests'] as const) {
      const x = m('dns', t);
      // the query and answer (about 100 bytes each), an ARP exchange: far from the transfer
      assert.ok(x.balancerIn + x.balancerOut < 1500, `dns ${t}: ${x.balancerIn} in, ${x.balancerOut} out`);
    }
  });

  it('redirect: only the first request crosses the balancer', () => {
    for (const t of ['upload', 'download', 'requests'] as const) {
      const x = m('redirect', t);
      assert.equal(x.redirects, 1, `redirect ${t}: ${x.redirects} redirects`);
      assert.ok(x.balancerIn + x.balancerOut < 3000, `redirect ${t}: ${x.balancerIn} in, ${x.balancerOut} out`);
    }
    const r = m('redirect', 'requests');
    assert.deepEqual(Object.values(r.servers), [50], 'all 50 answers from the server the redirect chose');
    assert.ok(r.client > 10 * (r.balancerIn + r.balancerOut));
  });

  it('the report opens in headless Chromium without console errors, one bar group per mode in each chart', async (t) => {
    if (!existsSync(CHROMIUM)) return t.skip(`needs ${CHROMIUM} (Debian: apt install chromium)`);
    const { chromium } = await import('playwright-core');
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    try {
      const page = await browser.newPage({ viewport: { width: 1150, height: 900 } });
      const errors: string[] = [];
      const requests: string[] = [];
      page.on('console', (msg) => void (msg.type() === 'error' && errors.push(msg.text())));
      page.on('pageerror', (e) => errors.push(String(e)));
      page.on('request', (r) => void (!r.url().startsWith('file:') && !r.url().startsWith('data:') && requests.push(r.url())));
      await page.goto(`file://${join(dir, 'out', 'lab.html')}`);
      const charts = await page.$$eval('svg.chart', (svgs) => svgs.map((s) => ({ groups: [...s.querySelectorAll('g.mode')].map((g) => g.getAttribute('data-mode')), bars: s.querySelectorAll('rect.bar').length })));
      assert.equal(charts.length, 4, 'upload, download, requests and CPU');
      for (const [i, c] of charts.entries()) {
        assert.deepEqual(c.groups, MODES_HERE);
        assert.equal(c.bars, MODES_HERE.length * (i < 3 ? 2 : 1));
      }
      mkdirSync(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: join(ARTIFACTS, 'lab-report.png'), fullPage: true });
      assert.deepEqual(errors, []);
      assert.deepEqual(requests, [], 'the report fetches nothing');
    } finally {
      await browser.close();
    }
  });

  it('leaves no namespace, nftables table or process behind', async () => {
    assert.deepEqual(await labNamespaces(), []);
    assert.equal(await sh('nft', ['list', 'tables']), hostTablesBefore);
    assert.deepEqual(processesNaming(join(dir, 'out')), [], 'no fulcrum run of the lab');
    assert.deepEqual(processesNaming(LAB_DIST), [], 'no server or client of the lab');
    assert.ok(!existsSync('/run/fulcrum-lab.pid'));
  });

  it('Ctrl-C in the middle removes everything it made', async () => {
    const child = spawn(process.execPath, [CLI_PATH, 'lab', '--modes', 'http,nat', '--sizes', `${UP},${DOWN},20`, '--out', join(dir, 'int')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
    const exited = new Promise<number | null>((r) => child.once('exit', r));
    for (let i = 0; i < 600 && !/nat: starting fulcrum/.test(err); i++) await new Promise((r) => setTimeout(r, 50));
    assert.match(err, /nat: starting fulcrum/);
    child.kill('SIGINT');
    assert.equal(await exited, 130, err);
    assert.deepEqual(await labNamespaces(), []);
    assert.deepEqual(processesNaming(join(dir, 'int')), []);
  });

  it('--drills: the killed server cuts its download; the HTTP proxy hides it from later requests, DNS cannot; a killed active balancer is replaced within Master_Down_Interval', async () => {
    const out = join(dir, 'drills');
    // DSR behind ECMP when BIRD is here (the same drills as DSR, and the router's withdrawal), else DSR alone
    const third = MODES_HERE.includes('ecmp') ? 'ecmp' : 'dsr';
    const r = await shResult(process.execPath, [CLI_PATH, 'lab', '--modes', `http,dns,${third}`, '--sizes', '64KiB,256KiB,10', '--drills', '--out', out, '--json'], { timeoutMs: 120_000 });
    assert.equal(r.code, 0, r.stderr);
    const all = (JSON.parse(r.stdout) as LabResult).drills!;
    const drills = all.filter((d) => d.kind === 'server');
    assert.deepEqual(drills.map((d) => d.mode), ['http', 'dns', third]);
    for (const d of drills) {
      assert.ok(d.ok, `${d.mode}: ${d.error}`);
      assert.equal(d.download!.server, d.killed);
      assert.notEqual(d.download!.outcome, 'completed', `${d.mode}: the download outlived its server`);
      assert.ok(d.requests.length > 50, `${d.mode}: ${d.requests.length} requests`);
    }
    const http = drills[0]!;
    assert.deepEqual(http.requests.filter((q) => q.error !== undefined), [], 'the proxy answers every request from a living server');
    const dns = drills[1]!;
    const afterKill = dns.requests.filter((q) => q.t > dns.killedAt! + 50);
    assert.ok(afterKill.length > 20 && afterKill.every((q) => q.error !== undefined), 'the client keeps its DNS answer: every later request fails');

    const balancers = all.filter((d) => d.kind === 'balancer');
    assert.deepEqual(balancers.map((d) => d.mode), ['http', 'dns', third]);
    const failed = (d: DrillResult) => d.requests.filter((q) => q.error !== undefined);
    for (const d of balancers) {
      assert.ok(d.ok, `${d.mode}: ${d.error}`);
      assert.ok(d.requests.length > 50, `${d.mode}: ${d.requests.length} requests`);
      assert.ok(d.requests.filter((q) => q.t + q.ms < d.killedAt!).every((q) => q.error === undefined), `${d.mode}: a request failed before the kill`);
      assert.ok(d.takeover !== undefined, `${d.mode}: the traffic never moved to B`);
      const took = d.takeover - d.killedAt!;
      if (d.mode === 'ecmp') {
        // A's BGP session ends with its process (the kernel closes the connection): the router withdraws its route at once
        assert.equal(d.takeoverBy, 'bgp');
        assert.ok(took <= 1000, `ecmp: the router dropped A's route ${took} ms after the kill`);
        continue;
      }
      // B takes over when it has heard no advertisement for Master_Down_Interval, counted
      // from A's last one (which a loaded A may have sent late, so no lower bound); 300 ms
      // of slack for a loaded machine
      assert.equal(d.takeoverBy, 'vrrp');
      assert.ok(took <= d.masterDownMs! + 300, `${d.mode}: B took over ${took} ms after the kill (Master_Down_Interval ${d.masterDownMs} ms)`);
    }
    for (const d of balancers) assert.equal(d.requests[d.requests.length - 1]!.error, undefined, `${d.mode}: the last request failed`);
    const [viaProxy, viaDns, viaDsr] = balancers as [DrillResult, DrillResult, DrillResult];
    // the proxy's connections end with its process: the download is cut, requests fail until B holds the VIP
    assert.notEqual(viaProxy.download!.outcome, 'completed');
    const gap = failed(viaProxy);
    assert.ok(gap.length > 0, 'requests failed while no balancer held the VIP');
    const again = viaProxy.requests.find((q) => q.t > gap[gap.length - 1]!.t && q.error === undefined)!;
    assert.ok(again.t + again.ms - viaProxy.killedAt! <= viaProxy.masterDownMs! + 500, `answered again ${again.t + again.ms - viaProxy.killedAt!} ms after the kill`);
    assert.ok(viaProxy.requests.filter((q) => q.t > again.t).every((q) => q.error === undefined), 'every request after B took over is answered');
    // DNS balancing: the client talks to the servers, the balancer is off the path
    assert.equal(viaDns.download!.outcome, 'completed');
    assert.deepEqual(failed(viaDns), []);
    // DSR: A's kernel forwards on after Fulcrum dies (or, behind ECMP, the router moves A's flows to B), and B sends each flow to the same server (Maglev)
    assert.equal(viaDsr.download!.outcome, 'completed', JSON.stringify(viaDsr.download));
    assert.deepEqual(failed(viaDsr), []);

    const html = readFileSync(join(out, 'lab.html'), 'utf8');
    assert.equal(html.match(/<g class="drill" data-kind="server" data-mode="/g)?.length, 3);
    assert.equal(html.match(/<g class="drill" data-kind="balancer" data-mode="/g)?.length, 3);
    assert.equal(html.match(/<line class="takeover"/g)?.length, 3);
    assert.deepEqual(await labNamespaces(), []);
  });
});
