/**
 * examples/policy.yaml as the file says it behaves, over real backends on free ports:
 * the stripped prefix and added header, the 90/10 canary split, the allow list, the rate
 * limit, gzip for text of 1 KB or more, and everything else to web.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import type http from 'node:http';
import { gunzipSync } from 'node:zlib';
import { echoBackend, type Echo } from '../helpers/backends.js';
import { request, send } from '../helpers/http-client.js';
import { proxyFor } from '../helpers/proxies.js';

const EXAMPLE = fileURLToPath(new URL('../../../examples/policy.yaml', import.meta.url));

/** 2 KB of HTML at /page.html (the rest is the echo backend's): what the example's compression is for. */
const PAGE = '<p>a page of text</p>\n'.repeat(100);
function withPage(s: http.Server): void {
  const [echo] = s.listeners('request') as http.RequestListener[];
  s.removeAllListeners('request');
  s.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (req.url !== '/page.html') return echo!(req, res);
    res.writeHead(200, { 'content-type': 'text/html', 'content-length': PAGE.length });
    res.end(PAGE);
  });
}

test('examples/policy.yaml: prefix stripped, X-Frame-Options added, a 90/10 canary, /admin/ refused to loopback, /limited/ at 10/s, gzip for text', async (t) => {
  const [s1, s2, c1] = [await echoBackend(t, 's1', withPage), await echoBackend(t, 's2', withPage), await echoBackend(t, 'c1')];
  const yaml = readFileSync(EXAMPLE, 'utf8')
    .replaceAll('127.0.0.1:8080', '127.0.0.1:0')
    .replaceAll('127.0.0.1:9001', `127.0.0.1:${s1.port}`)
    .replaceAll('127.0.0.1:9002', `127.0.0.1:${s2.port}`)
    .replaceAll('127.0.0.1:9003', `127.0.0.1:${c1.port}`);
  const proxy = await proxyFor(t, yaml);
  const echo = (body: string) => JSON.parse(body.toString()) as Echo;

  const api = await send(proxy.port, { path: '/api/x?y=1' });
  assert.equal(api.status, 200);
  assert.equal(echo(api.body).url, '/x?y=1');
  assert.equal(api.headers['x-frame-options'], 'DENY');
  assert.equal((await send(proxy.port, { path: '/other' })).headers['x-frame-options'], undefined, 'only the api route adds it');

  const served = new Map<string, number>();
  for (let i = 0; i < 400; i++) {
    const name = echo((await send(proxy.port, { path: `/canary/${i}` })).body).name;
    served.set(name, (served.get(name) ?? 0) + 1);
  }
  const canary = served.get('c1') ?? 0;
  assert.ok(canary >= 20 && canary <= 65, `about 10% of 400 to the canary, got ${canary}`);
  assert.equal((served.get('s1') ?? 0) + (served.get('s2') ?? 0), 400 - canary);

  const admin = await send(proxy.port, { path: '/admin/' });
  assert.equal(admin.status, 403);

  const statuses: number[] = [];
  for (let i = 0; i < 15; i++) statuses.push((await send(proxy.port, { path: '/limited/' })).status);
  assert.deepEqual(statuses.slice(0, 10), Array(10).fill(200), 'a burst of one second\'s worth');
  assert.ok(statuses.slice(10).filter((s) => s === 429).length >= 4, `then 429s: ${statuses.join(' ')}`);

  const page = await request(proxy.port, { path: '/page.html', headers: { 'accept-encoding': 'gzip, br' } });
  assert.equal(page.headers['content-encoding'], 'gzip', 'text of 1 KB or more, gzip only');
  assert.equal(gunzipSync(page.body).toString(), PAGE);
  const json = await send(proxy.port, { path: '/json', headers: { 'accept-encoding': 'gzip' } });
  assert.equal(json.headers['content-encoding'], undefined, 'JSON is not text/*');
});
