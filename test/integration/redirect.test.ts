import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { httpBackend } from '../helpers/backends.js';
import { rawExchange } from '../helpers/http-client.js';
import { simpleYaml, startProxy } from '../helpers/proxies.js';

const run = promisify(execFile);

/** Redirect mode as the configuration loader would produce it (mode and redirect status). */
function redirectYaml(ports: number[], status?: number): string {
  return simpleYaml(ports.map((port, i) => ({ port, name: `S${i + 1}` })), {}).replace(
    '    mode: http',
    `    mode: redirect${status === undefined ? '' : `\n    redirect: {status: ${status}}`}`,
  );
}

test('redirect mode: each request gets a 307 to the chosen server, path and query kept; the client then talks to it directly', async (t) => {
  let served = 0;
  const s1 = await httpBackend((req, res) => {
    served++;
    res.end(`S1 ${req.url}\n`);
  });
  const s2 = await httpBackend((req, res) => {
    served++;
    res.end(`S2 ${req.url}\n`);
  });
  const p = await startProxy(redirectYaml([s1.port, s2.port]));
  t.after(() => Promise.all([p.stop(), s1.close(), s2.close()]));

  const a = await rawExchange(p.port, 'GET /upload/file.bin?x=1&y=2 HTTP/1.1\r\nHost: www.example.com\r\n\r\n');
  const b = await rawExchange(p.port, 'GET /upload/file.bin?x=1&y=2 HTTP/1.1\r\nHost: www.example.com\r\n\r\n');
  assert.equal(a.status, 307);
  assert.equal(b.status, 307);
  const locations = [a, b].map((r) => r.headers.find(([n]) => n.toLowerCase() === 'location')![1]);
  assert.deepEqual(locations, [`http://127.0.0.1:${s1.port}/upload/file.bin?x=1&y=2`, `http://127.0.0.1:${s2.port}/upload/file.bin?x=1&y=2`]);
  assert.equal(served, 0, 'the balancer itself never talks to the servers in redirect mode');

  // A real client follows it: curl -L lands on S1 or S2 directly.
  try {
    const { stdout } = await run('curl', ['-sL', `http://127.0.0.1:${p.port}/hello?a=b`], { encoding: 'utf8' });
    assert.match(stdout, /^S[12] \/hello\?a=b\n$/);
    assert.equal(served, 1);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    t.diagnostic('curl not installed: follow-up check skipped');
  }
});

test('redirect mode: configured status, absolute-form targets, 503 with Retry-After when no server is usable', async (t) => {
  const s1 = await httpBackend((_req, res) => res.end('S1\n'));
  const p = await startProxy(redirectYaml([s1.port], 308));
  t.after(() => Promise.all([p.stop(), s1.close()]));
  const r = await rawExchange(p.port, 'GET http://www.example.com/a/b?c HTTP/1.1\r\nHost: www.example.com\r\n\r\n');
  assert.equal(r.status, 308);
  assert.equal(r.headers.find(([n]) => n.toLowerCase() === 'location')![1], `http://127.0.0.1:${s1.port}/a/b?c`);

  const none = await startProxy(redirectYaml([s1.port]).replace(/weight: 1/g, 'weight: 0'));
  t.after(() => none.stop());
  const r2 = await rawExchange(none.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  assert.equal(r2.status, 503);
  assert.ok(r2.headers.some(([n, v]) => n.toLowerCase() === 'retry-after' && v === '1'));
});
