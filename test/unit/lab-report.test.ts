/**
 * The lab's pure parts: --modes and --sizes parsing, and the table, JSON and HTML made
 * from a result (the lab itself runs in test/privileged/lab.test.ts).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseModes, parseSizes } from '../../src/cli/lab.js';
import type { LabResult, Measurement } from '../../src/lab/lab.js';
import { jsonReport } from '../../src/lab/json.js';
import { htmlReport } from '../../src/lab/report-html.js';
import { textReport } from '../../src/lab/report-text.js';

function row(mode: Measurement['mode'], transfer: Measurement['transfer'], share: number): Measurement {
  const reference = transfer === 'download' ? 1 << 20 : 1 << 18;
  return { mode, transfer, ok: true, reference, payload: reference, client: reference, balancerIn: Math.round(reference * share), balancerOut: Math.round(reference * share), backup: 120, cpuMs: 2, ms: 40, servers: { S1: 1 }, redirects: 0 };
}

const RESULT: LabResult = {
  started: '2026-01-01T00:00:00.000Z',
  seconds: 3,
  sizes: { upload: 1 << 18, download: 1 << 20, requests: 10 },
  modes: ['http', 'dsr'],
  skipped: [{ mode: 'nat', reason: 'needs nftables' }],
  cleaned: [],
  measurements: [row('http', 'upload', 1), row('http', 'download', 1), row('http', 'requests', 1.1), row('dsr', 'upload', 1), row('dsr', 'download', 0.001), { ...row('dsr', 'requests', 0.4), ok: false, error: 'HTTP 502' }],
};

test('--modes and --sizes: defaults, units, and usage errors that name the problem', () => {
  assert.deepEqual(parseModes(undefined), ['http', 'https', 'tcp', 'udp', 'redirect', 'dns', 'nat', 'fullnat', 'dsr', 'ecmp']);
  assert.deepEqual(parseModes('dsr, http'), ['dsr', 'http']);
  assert.throws(() => parseModes('http,lvs'), /unknown mode lvs/);
  assert.deepEqual(parseSizes(undefined), { upload: 1 << 20, download: 10 << 20, requests: 200 });
  assert.deepEqual(parseSizes('256KiB,1MB,50'), { upload: 256 * 1024, download: 1_000_000, requests: 50 });
  assert.throws(() => parseSizes('1MiB,2MiB'), /upload size, the download size and the number/);
  assert.throws(() => parseSizes('1MiB,2MiB,0'), /from 1 to 100000/);
  assert.throws(() => parseSizes('1MiB,2XB,5'), /unknown unit/);
});

test('the table gives each transfer\'s share per direction, failures and skipped modes', () => {
  const text = textReport(RESULT);
  assert.match(text, /^http\s+upload 256 KiB\s+100%\s+100%/m);
  assert.match(text, /^dsr\s+download 1 MiB\s+0\.1%\s+0\.1%/m);
  assert.match(text, /^dsr\s+10 requests\s+failed.*HTTP 502/m);
  assert.match(text, /skipped nat \(kernel NAT\): needs nftables/);
});

const DRILLS: LabResult = {
  ...RESULT,
  drills: [
    { mode: 'http', kind: 'server', ok: true, killed: 'S1', killedAt: 520, download: { server: 'S1', start: 10, end: 530, bytes: 400_000, expected: 1_600_000, outcome: 'cut', error: 'ECONNRESET' }, requests: [{ t: 0, ms: 3, server: 'S1' }, { t: 600, ms: 4, server: 'S2' }] },
    {
      mode: 'http',
      kind: 'balancer',
      ok: true,
      killed: 'balancer A',
      killedAt: 560,
      takeover: 880,
      masterDownMs: 360.9,
      download: { server: 'S1', start: 10, end: 570, bytes: 400_000, expected: 1_600_000, outcome: 'cut', error: 'ECONNRESET' },
      requests: [{ t: 500, ms: 3, server: 'S1' }, { t: 570, ms: 1, error: 'ECONNREFUSED' }, { t: 850, ms: 1, error: 'ECONNREFUSED' }, { t: 900, ms: 5, server: 'S2' }],
    },
    { mode: 'dsr', kind: 'balancer', ok: false, error: 'needs iputils-arping', requests: [] },
  ],
};

test('the drills: a table per kind; the balancer\'s says when the partner took over and requests were answered again, counted from the kill', () => {
  const text = textReport(DRILLS);
  assert.match(text, /^http\s+S1 at 0\.52 s\s+cut at 0\.53 s\s+2\s+0/m);
  assert.match(text, /Master_Down_Interval 360\.9 ms/);
  assert.match(text, /^http\s+balancer A at 0\.56 s\s+cut at 0\.57 s\s+2\s+2\s+0\.57-0\.85 s\s+\+320 ms\s+\+345 ms\s+5 ms\s+ECONNREFUSED$/m);
  assert.match(text, /^dsr\s+drill failed.*needs iputils-arping/m);
  const html = htmlReport(DRILLS);
  assert.equal(html.match(/<g class="drill" data-kind="server"/g)?.length, 1);
  assert.equal(html.match(/<g class="drill" data-kind="balancer"/g)?.length, 2);
  assert.equal(html.match(/<line class="takeover"/g)?.length, 1);
  assert.match(html, /B took the VIP \(\+320 ms\)/);
  assert.match(html, /<td>320 ms<\/td><td>345 ms<\/td>/);
});

test('the HTML report is self-contained, with a bar group per mode in each chart', () => {
  const html = htmlReport(RESULT);
  assert.doesNotMatch(html, /<script|src=|href="(?!data:)/);
  const charts = html.split('<svg class="chart"').slice(1);
  assert.equal(charts.length, 4);
  for (const c of charts) assert.deepEqual([...c.matchAll(/<g class="mode" data-mode="(\w+)"/g)].map((m) => m[1]), ['http', 'dsr']);
  assert.match(html, /Direct server return/);
  assert.match(html, /failed: HTTP 502/);
  const json = JSON.parse(jsonReport(RESULT)) as { version: number; about: Record<string, { title: string }> };
  assert.equal(json.version, 1);
  assert.equal(json.about.dsr!.title, 'kernel DSR');
});
