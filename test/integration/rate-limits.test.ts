/**
 * Rate limits and per-client connection limits, counted for the balancer rather than per
 * worker: a route's `rate_limit` (429 with Retry-After, over HTTP/1.1 and HTTP/2 alike,
 * keyed by client, header or route), its accuracy with two workers, buckets that survive a
 * reload, and `max_connections_per_client` / `new_connections_per_client` on HTTP and TCP
 * listeners.
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { test, type TestContext } from 'node:test';
import { NO_OPENSSL } from '../helpers/certs.js';
import { echoBackend, echoServer } from '../helpers/backends.js';
import { configOk } from '../helpers/config.js';
import { tempDir } from '../helpers/files.js';
import { h2Request, h2Session, httpsRequest, rawConnect, readResponse, type Client } from '../helpers/http-client.js';
import { policyProxy, proxyFor, tcpProxy, tcpYaml } from '../helpers/proxies.js';
import { sleep, waitForAsync } from '../helpers/wait.js';
import { Primary, setupWorkers } from '../../src/runtime/primary.js';
import { parseSamples, promtoolCheck, sum } from '../helpers/metrics.js';

test('rate_limit: 429 with Retry-After over HTTP/1.1 and HTTP/2 from one bucket; keyed by header or by route', { skip: NO_OPENSSL }, async (t) => {
  const proxy = await policyProxy(
    t,
    () => `    routes:
      - { path: /client/, pool: web, rate_limit: { rate: 6/m, burst: 3 } }
      - { path: /key/, pool: web, rate_limit: { rate: 1/m, burst: 1, key: { header: X-Api-Key } } }
      - { path: /all/, pool: web, rate_limit: { rate: 1/m, burst: 2, key: route } }
      - pool: web`,
  );
  const session = await h2Session(t, proxy.port);
  const h1 = (path: string, headers: Record<string, string> = {}) => httpsRequest(proxy.port, { path, headers });
  const h2 = (path: string, headers: Record<string, string> = {}) => h2Request(session, { ':path': path, ...headers });

  // one bucket of 3 for this client, whatever protocol it speaks
  const statuses = [(await h1('/client/a')).status, (await h2('/client/b')).status, (await h1('/client/c')).status];
  assert.deepEqual(statuses, [200, 200, 200]);
  const over1 = await h1('/client/d');
  const over2 = await h2('/client/e');
  for (const r of [over1, over2]) {
    assert.equal(r.status, 429);
    const wait = Number(r.headers['retry-after']);
    assert.ok(wait >= 1 && wait <= 10, `Retry-After ${String(r.headers['retry-after'])}: one request every 10 s`);
    assert.match(r.body.toString(), /429 Too Many Requests/);
  }
  assert.equal((await h1('/other')).status, 200, 'routes without a limit are not limited');

  // one bucket per header value (requests without it share one)
  assert.equal((await h1('/key/1', { 'x-api-key': 'alpha' })).status, 200);
  assert.equal((await h2('/key/2', { 'x-api-key': 'alpha' })).status, 429);
  assert.equal((await h1('/key/3', { 'x-api-key': 'beta' })).status, 200);
  assert.equal((await h1('/key/4')).status, 200);
  assert.equal((await h2('/key/5')).status, 429);

  // one bucket for the whole route
  assert.deepEqual([(await h1('/all/1')).status, (await h2('/all/2')).status, (await h1('/all/3')).status], [200, 200, 429]);
});

/** A primary with two workers, stopped after the test. */
async function twoWorkers(t: TestContext, text: () => string) {
  const dir = tempDir('fulcrum-limits-', t);
  const file = dir.write('fulcrum.yaml', text());
  setupWorkers([]);
  const primary = new Primary(configOk(text(), file), { workers: 2, reload: async () => ({ config: configOk(text(), file), issues: [] }) });
  await primary.start();
  t.after(() => primary.stop());
  return { primary, port: primary.listeners()[0]!.port };
}

/** Sends one keep-alive GET on `c` and reads its status. */
async function get(c: Client, path: string): Promise<number> {
  c.sock.write(`GET ${path} HTTP/1.1\r\nHost: www.example.com\r\n\r\n`);
  return (await readResponse(c.reader)).status;
}

test('rate_limit with two workers: within 5% of the configured rate over 10 s, and the buckets survive a reload', { timeout: 60_000 }, async (t) => {
  const web = await echoBackend(t, 'web');
  const { primary, port } = await twoWorkers(
    t,
    () => `listeners:
  - name: www
    bind: 127.0.0.1:0
    routes:
      - { path: /fast/, pool: web, rate_limit: { rate: 50/s } }
      - { path: /slow/, pool: web, rate_limit: { rate: 1/m, burst: 2 } }
pools:
  web:
    servers: [{ name: s1, address: "127.0.0.1:${web.port}" }]
runtime: { workers: 2, control_socket: false }
logging: { level: warn }
`,
  );
  // connections on both workers (the kernel spreads them; more are opened until each has
  // some), each sending as fast as it is answered: counted per worker, twice the rate would pass
  const conns: Client[] = [];
  let spread: number[] = [];
  while (conns.length < 40) {
    for (let i = 0; i < 4; i++) conns.push(await rawConnect(port, { t }));
    spread = await waitForAsync(async () => {
      const active = (await primary.freshStatus()).workers.map((w) => w.active);
      return active.reduce((a, b) => a + b, 0) === conns.length ? active : null;
    }, 5000, 'the connections counted by the workers');
    if (spread.length === 2 && spread.every((n) => n >= 1)) break;
  }
  assert.ok(spread.every((n) => n >= 1), `connections on both workers (${spread.join(' + ')})`);

  // the burst (a second's worth) goes first; then what passes in 10 s is the rate's
  for (let i = 0; i < 200 && (await get(conns[0]!, '/fast/burst')) === 200; i++);
  const durationMs = 10_000;
  const start = Date.now();
  let ok = 0;
  let limited = 0;
  let sent = 0;
  await Promise.all(
    conns.map(async (c) => {
      while (Date.now() - start < durationMs && sent < 400_000) {
        sent++;
        const s = await get(c, '/fast/x');
        if (s === 200) ok++;
        else if (s === 429) limited++;
        else assert.fail(`status ${s}`);
      }
    }),
  );
  const elapsed = (Date.now() - start) / 1000;
  const expected = 50 * elapsed;
  assert.ok(limited > ok, `the clients sent faster than the limit (${ok} passed, ${limited} limited)`);
  const scrape = await primary.metrics(false);
  const check = promtoolCheck(scrape.body);
  if (check !== null) assert.equal(check.code, 0, check.output);
  assert.equal(sum(parseSamples(scrape.body), 'fulcrum_listener_limited_total', { listener: 'www', limit: 'requests' }), limited + 1, 'every 429 counted once, over both workers (one ended the burst)');
  assert.ok(Math.abs(ok - expected) <= expected * 0.05, `${ok} requests passed in ${elapsed.toFixed(2)} s; the limit allows ${expected.toFixed(0)} (±5%); per worker it would be twice that`);
  t.diagnostic(`rate limit 50/s over two workers: ${ok} passed in ${elapsed.toFixed(2)} s (${(ok / elapsed).toFixed(1)}/s), ${limited} limited`);

  // the slow bucket: two, then 429; a reload (new workers) keeps the count
  assert.deepEqual([await get(conns[0]!, '/slow/1'), await get(conns[1]!, '/slow/2'), await get(conns[2]!, '/slow/3')], [200, 200, 429]);
  for (const c of conns) c.sock.destroy();
  const answer = await primary.reload();
  assert.equal(answer.ok, true, JSON.stringify(answer));
  const after = await rawConnect(primary.listeners()[0]!.port, { t });
  assert.equal(await get(after, '/slow/4'), 429, 'the bucket is the balancer\'s, not the old workers\'');
});

/** Whether the listener on `port` serves a request on a new connection (false: it closed the connection unanswered). */
async function served(port: number, t: TestContext): Promise<Client | null> {
  const c = await rawConnect(port, { t });
  c.sock.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
  try {
    const r = await readResponse(c.reader, 'GET', 2000);
    return r.status === 200 ? c : null;
  } catch {
    return null;
  }
}

test('max_connections_per_client: counted over both workers; a closed connection frees its place', { timeout: 60_000 }, async (t) => {
  const web = await echoBackend(t, 'web');
  const { primary, port } = await twoWorkers(
    t,
    () => `listeners:
  - name: www
    bind: 127.0.0.1:0
    max_connections_per_client: 3
    routes: [{ pool: web }]
pools:
  web:
    servers: [{ name: s1, address: "127.0.0.1:${web.port}" }]
runtime: { workers: 2, control_socket: false }
logging: { level: warn }
`,
  );
  const held = [await served(port, t), await served(port, t), await served(port, t)];
  assert.ok(held.every((c) => c !== null), 'three connections are served');
  assert.equal(await served(port, t), null, 'a fourth is closed at accept (the three are on two workers)');
  held[0]!.sock.destroy();
  const again = await waitForAsync(async () => served(port, t), 3000, 'a new connection once one closed');
  assert.ok(again !== null);
  const m = parseSamples((await primary.metrics(false)).body);
  assert.ok(sum(m, 'fulcrum_listener_limited_total', { listener: 'www', limit: 'connections' }) >= 1, 'the refusal is counted');
  assert.equal(sum(m, 'fulcrum_listener_limited_total', { listener: 'www', limit: 'requests' }), 0);
});

test('new_connections_per_client on an HTTP listener, and both limits on a tcp listener', async (t) => {
  const web = await echoBackend(t, 'web');
  const http = await proxyFor(
    t,
    `listeners:
  - name: www
    bind: 127.0.0.1:0
    new_connections_per_client: 2/s
    routes: [{ pool: web }]
pools:
  web:
    servers: [{ name: s1, address: "127.0.0.1:${web.port}" }]
`,
  );
  assert.ok((await served(http.port, t)) !== null);
  assert.ok((await served(http.port, t)) !== null);
  assert.equal(await served(http.port, t), null, 'a third connection within the second is closed');
  await sleep(600);
  assert.ok((await served(http.port, t)) !== null, 'one more after half a second');

  const echo = await echoServer(t);
  const tcp = await tcpProxy(t, tcpYaml({ echo: { servers: [echo.port] } }, { listener: ['    max_connections_per_client: 1'] }));
  const first = await tcpEcho(tcp.port);
  assert.ok(first !== null, 'the first connection relays');
  assert.equal(await tcpEcho(tcp.port), null, 'a second one at the same time is closed');
  first.destroy();
  await waitForAsync(async () => {
    const s = await tcpEcho(tcp.port);
    s?.destroy();
    return s !== null;
  }, 3000, 'a connection relays again once the first closed');
});

/** A tcp connection that echoes "ping" back (kept open), or null when the listener closed it. */
async function tcpEcho(port: number): Promise<net.Socket | null> {
  const sock = net.connect({ host: '127.0.0.1', port });
  sock.on('error', () => {});
  return new Promise((resolve) => {
    let got = '';
    const timer = setTimeout(() => resolve(null), 2000);
    sock.on('data', (d) => {
      got += d.toString();
      if (got === 'ping') {
        clearTimeout(timer);
        resolve(sock);
      }
    });
    sock.on('close', () => {
      clearTimeout(timer);
      resolve(null);
    });
    sock.on('connect', () => sock.write('ping'));
  });
}
