/**
 * examples/policy.yaml as the file says it behaves, over real backends on free ports:
 * the stripped prefix and added header, the 90/10 canary split, the allow list, the rate
 * limit, and everything else to web.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { echoBackend, type Echo } from '../helpers/backends.js';
import { send } from '../helpers/http-client.js';
import { proxyFor } from '../helpers/proxies.js';

const EXAMPLE = fileURLToPath(new URL('../../../examples/policy.yaml', import.meta.url));

test('examples/policy.yaml: prefix stripped, X-Frame-Options added, a 90/10 canary, /admin/ refused to loopback, /limited/ at 10/s', async (t) => {
  const [s1, s2, c1] = [await echoBackend(t, 's1'), await echoBackend(t, 's2'), await echoBackend(t, 'c1')];
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
});
