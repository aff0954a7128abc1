/**
 * The dashboard in a real browser: headless Chromium (the Debian package) loads it from
 * `fulcrum run` (two workers, real backends on 127.0.0.1), sees its live numbers move
 * under a bounded load, and clicks Drain on s2: afterwards s2 (counted at its backend)
 * receives no new requests while s1 does; Ready brings it back. No console errors. A
 * screenshot is kept in $FULCRUM_TEST_ARTIFACTS (else test-artifacts/, ignored by git).
 * With a token file, the page asks for the token, a call without it changes nothing, and
 * the token typed is kept for the tab.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { adminCall, startAdminInstance } from '../helpers/admin.js';
import { spread } from '../helpers/backends.js';
import { tempDir } from '../helpers/files.js';
import { loadLoop } from '../helpers/http-client.js';

const CHROMIUM = '/usr/bin/chromium';
const NO_BROWSER = existsSync(CHROMIUM) ? false : `${CHROMIUM} is not installed (Debian package chromium): the dashboard is not tested in a browser`;
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** Where the screenshot goes: $FULCRUM_TEST_ARTIFACTS, else test-artifacts/ at the package root. */
function artifactDir(): string {
  const dir = process.env.FULCRUM_TEST_ARTIFACTS || fileURLToPath(new URL('../../../test-artifacts/', import.meta.url));
  mkdirSync(dir, { recursive: true });
  return dir;
}

/**
 * Headless Chromium with a fresh profile, closed (then its profile removed) after the test: its page,
 * and the problems seen (console errors, page errors, failed requests, and any request
 * off the admin listener on 127.0.0.1:`port`, which is refused).
 */
async function openBrowser(t: TestContext, port: number): Promise<{ page: Page; problems: string[] }> {
  const profile = tempDir('fulcrum-chromium-');
  const context: BrowserContext = await chromium.launchPersistentContext(profile.dir, {
    executablePath: CHROMIUM,
    args: ARGS,
    headless: true,
    viewport: { width: 1280, height: 900 },
  });
  // One hook, in this order: Chromium writes to its profile until it is closed.
  t.after(async () => {
    await context.close();
    profile.cleanup();
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} (${r.failure()?.errorText})`));
  // Nothing but the admin listener: a request anywhere else fails the test.
  await page.route((url) => url.origin !== `http://127.0.0.1:${port}`, (route) => {
    problems.push(`request off the admin listener: ${route.request().url()}`);
    return route.abort();
  });
  return { page, problems };
}

test('dashboard in headless Chromium: live numbers under load, Drain keeps new requests off s2, Ready brings it back', { timeout: 90_000, skip: NO_BROWSER }, async (t) => {
  const { cli, port, s1, s2 } = await startAdminInstance(t, { prefix: 'fulcrum-dashboard-', admin: '  listen: 127.0.0.1:0', checkInterval: '1s' });

  const { page, problems } = await openBrowser(t, port);
  await page.goto(`http://127.0.0.1:${port}/`);
  const row = (server: string) => page.locator(`tr[data-server="web/${server}"]`);
  await row('s2').waitFor({ timeout: 10_000 });
  const total = async (server: string) => Number(await row(server).locator('.total').textContent());
  const before = [await total('s1'), await total('s2')];

  // a bounded load: the live numbers move
  const load = loadLoop(cli.port, { concurrency: 4, maxMs: 4000, maxRequests: 400 });
  await page.waitForFunction(() => Number((document.getElementById('rps')?.textContent ?? '').replace(/,/g, '')) > 0, null, { timeout: 10_000 });
  const result = await load.stop();
  assert.equal(result.failed, 0, result.errors.join('; '));
  // every request answered shows in the servers' counts (workers report once a second)
  await page.waitForFunction(
    ([a, b, ok]) => {
      const n = (s: string) => Number(document.querySelector(`tr[data-server="web/${s}"] .total`)?.textContent);
      return n('s1') > a! && n('s2') > b! && n('s1') + n('s2') >= a! + b! + ok!;
    },
    [before[0]!, before[1]!, result.ok],
    { timeout: 10_000 },
  );

  // Drain on s2: the API answers, the row shows it, and no new request reaches s2
  await row('s2').locator('button[data-action="drain"]').click();
  await page.locator('tr[data-server="web/s2"][data-state="drain"]').waitFor({ timeout: 10_000 });
  assert.match((await page.locator('#message').textContent()) ?? '', /s2/);
  const drained = await spread(cli.port, [s1, s2], 60);
  assert.deepEqual(drained, [60, 0], 's2 gets no new requests after Drain; s1 gets them all');
  await page.waitForTimeout(1500); // a poll or two: the charts and counters after the drain
  const shot = join(artifactDir(), 'dashboard.png');
  await page.screenshot({ path: shot, fullPage: true });
  t.diagnostic(`screenshot: ${shot}`);
  console.log(`dashboard screenshot: ${shot}`);

  // Ready brings it back
  await row('s2').locator('button[data-action="ready"]').click();
  await page.locator('tr[data-server="web/s2"][data-state="ready"]').waitFor({ timeout: 10_000 });
  assert.ok((await spread(cli.port, [s1, s2], 20))[1]! > 0, 's2 takes requests again after Ready');

  // A build without metrics answers /metrics with 503, which the browser logs once; the
  // dashboard then goes on without them (the request counts come from the status report).
  const metrics = await adminCall(port, 'GET', '/metrics');
  if (metrics.status === 503) {
    t.diagnostic(`no metrics in this build (${metrics.json?.message}): the dashboard ran without them`);
    const unavailable = 'console: Failed to load resource: the server responded with a status of 503 (Service Unavailable)';
    assert.deepEqual(problems.filter((p) => p !== unavailable), []);
  } else {
    assert.equal(metrics.status, 200);
    assert.deepEqual(problems, []);
  }
});

test('dashboard with a token: the field asks for it, a call without it changes nothing, the token is kept for the tab', { timeout: 60_000, skip: NO_BROWSER }, async (t) => {
  const { cli, port, s1, s2 } = await startAdminInstance(t, { prefix: 'fulcrum-dashboard-token-', admin: '  listen: 127.0.0.1:0\n  token_file: admin.token', checkInterval: '1s', token: 'tab-token\n' });
  const { page, problems } = await openBrowser(t, port);
  await page.goto(`http://127.0.0.1:${port}/`);
  const drain = page.locator('tr[data-server="web/s2"] button[data-action="drain"]');
  await drain.waitFor({ timeout: 10_000 });
  assert.equal(await page.locator('#token').isVisible(), true, 'the token field shows');

  await drain.click();
  await page.locator('#message', { hasText: 'needs the access token' }).waitFor({ timeout: 5000 });
  assert.equal((await adminCall(port, 'GET', '/api/pools/web/servers/s2')).json!.data.state, 'ready', 'nothing changed');

  await page.locator('#token').fill('tab-token');
  await drain.click();
  await page.locator('tr[data-server="web/s2"][data-state="drain"]').waitFor({ timeout: 10_000 });
  assert.deepEqual(await spread(cli.port, [s1, s2], 10), [10, 0]);

  await page.reload();
  await page.locator('tr[data-server="web/s2"]').waitFor({ timeout: 10_000 });
  assert.equal(await page.locator('#token').inputValue(), 'tab-token', 'kept in the tab\'s session storage');

  // Expected: the refused call's 401 (the browser logs every one), /metrics' 503 in a build
  // without metrics, and a poll cut short by the page reload.
  const expected = /^console: Failed to load resource: the server responded with a status of (401 \(Unauthorized\)|503 \(Service Unavailable\))$|^request failed: .* \(net::ERR_ABORTED\)$/;
  assert.deepEqual(problems.filter((p) => !expected.test(p)), []);
});
