/**
 * Passive health (outlier detection) and retries through the real HTTP proxy.
 */
import assert from 'node:assert/strict';
import type net from 'node:net';
import { test } from 'node:test';
import { closedPort } from '../helpers/ports.js';
import { rawBackend, poolBackends } from '../helpers/backends.js';
import { readRequest, type SocketReader, keepAliveAgent, send } from '../helpers/http-client.js';
import { sleep } from '../helpers/wait.js';
import { poolYaml, proxyFor } from '../helpers/proxies.js';
import { recordEvents, tally, recordUpstreamErrors } from '../helpers/pools-util.js';
import { upstreamErrorBody } from '../../src/proxy/http/local-response.js';

test('outlier: a server answering 500 is ejected after 3 errors in a row, gets nothing for base_ejection, then returns (one event each)', async (t) => {
  const [s1, s2] = await poolBackends(t, ['s1', 's2']);
  s1!.status = 500;
  const ev = recordEvents(t, 'olr');
  let seenAtEjection = -1;
  ev.onState = (e) => {
    if (e.server === 's1' && e.state === 'ejected') {
      seenAtEjection = s1!.seen.length;
      s1!.status = 200; // it recovers meanwhile: no second ejection after it returns
    }
  };
  const p = await proxyFor(
    t,
    poolYaml({
      pool: 'olr',
      servers: [{ name: 's1', port: s1!.port }, { name: 's2', port: s2!.port }],
      poolLines: ['    outlier: { consecutive_errors: 3, base_ejection: 500ms, max_ejection_percent: 50 }'],
    }),
  );
  const agent = keepAliveAgent(t);
  // round robin: s1 s2 s1 s2 s1 -> the 5th request is s1's third 500 in a row
  const first = [];
  for (let i = 0; i < 5; i++) first.push(await send(p.port, { agent }));
  assert.deepEqual(
    first.map((r) => `${r.by} ${r.status}`),
    ['s1 500', 's2 200', 's1 500', 's2 200', 's1 500'],
    'the 500s are relayed as they are',
  );
  const ejected = await ev.waitState('s1', 'ejected', 500);
  assert.equal(seenAtEjection, 3, 'ejected at its third consecutive error');
  assert.match(ejected.reason, /3 consecutive errors/, ejected.reason);

  // steady traffic until well after it returned
  const log: Array<{ at: number; by: string }> = [];
  const until = Date.now() + 1000;
  while (Date.now() < until) {
    const r = await send(p.port, { agent });
    assert.equal(r.status, 200);
    log.push({ at: Date.now(), by: r.by });
    await sleep(5);
  }
  const returned = await ev.waitState('s1', 'returned', 500);
  const away = returned.at - ejected.at;
  t.diagnostic(`s1 ejected for ${away} ms (base_ejection 500 ms)`);
  assert.ok(away >= 490 && away < 900, `ejected for about base_ejection (${away} ms)`);
  const during = log.filter((x) => x.at < returned.at);
  const after = log.filter((x) => x.at > returned.at + 20);
  assert.ok(during.length >= 20, `traffic while ejected: ${during.length}`);
  assert.deepEqual(tally(during.map((x) => x.by)), { s2: during.length }, 'no request to s1 while ejected');
  assert.ok(after.filter((x) => x.by === 's1').length >= after.length / 4, `s1 serves again after it returned: ${JSON.stringify(tally(after.map((x) => x.by)))}`);
  assert.deepEqual(
    ev.states.map((e) => `${e.server} ${e.state}`),
    ['s1 ejected', 's1 returned'],
    'one ejected and one returned event',
  );
});

test('outlier: max_ejection_percent 50 with 2 servers: only one is ejected even when both fail', async (t) => {
  const [s1, s2] = await poolBackends(t, ['s1', 's2'], { status: 500 });
  const ev = recordEvents(t, 'olm');
  const p = await proxyFor(
    t,
    poolYaml({
      pool: 'olm',
      servers: [{ name: 's1', port: s1!.port }, { name: 's2', port: s2!.port }],
      poolLines: ['    outlier: { consecutive_errors: 3, base_ejection: 5s, max_ejection_percent: 50 }'],
    }),
  );
  const agent = keepAliveAgent(t);
  const replies = [];
  for (let i = 0; i < 24; i++) replies.push(await send(p.port, { agent }));
  assert.ok(replies.every((r) => r.status === 500), 'every answer is the server 500, relayed');
  const ejections = ev.states.filter((e) => e.state === 'ejected');
  assert.equal(ejections.length, 1, `exactly one ejection: ${JSON.stringify(ev.states)}`);
  const out = ejections[0]!.server;
  const kept = out === 's1' ? 's2' : 's1';
  assert.deepEqual(tally(replies.slice(8).map((r) => r.by)), { [kept]: 16 }, `the other server (${kept}) keeps serving, never ejected`);
});

test('outlier: connect errors count too; retries hide them from clients', async (t) => {
  const dead = await closedPort();
  const [s2] = await poolBackends(t, ['s2']);
  const ev = recordEvents(t, 'olc');
  const p = await proxyFor(
    t,
    poolYaml({
      pool: 'olc',
      servers: [{ name: 's1', port: dead }, { name: 's2', port: s2!.port }],
      poolLines: ['    outlier: { consecutive_errors: 2, base_ejection: 5s, max_ejection_percent: 50 }'],
    }),
  );
  for (let i = 0; i < 10; i++) {
    const r = await send(p.port);
    assert.equal(r.status, 200);
    assert.equal(r.by, 's2');
  }
  const e = await ev.waitState('s1', 'ejected', 500);
  assert.match(e.reason, /connect-error/, e.reason);
  assert.equal(ev.of('s1', 'ejected').length, 1);
});

test('retries: 0: requests that land on a refusing server get 503 at once (no retry); retries: 2: no failure', async (t) => {
  const errors = recordUpstreamErrors(t);
  const dead = await closedPort();
  const [s2] = await poolBackends(t, ['s2']);
  for (const retries of [0, 2]) {
    const pool = `rt${retries}`;
    const p = await proxyFor(t, poolYaml({ pool, servers: [{ name: 's1', port: dead }, { name: 's2', port: s2!.port }], poolLines: [`    retries: ${retries}`] }));
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) {
      const r = await send(p.port);
      statuses.push(r.status);
      if (r.status === 503) {
        assert.equal(r.headers['retry-after'], '1');
        assert.match(errors.last(503), /s1/);
        assert.match(errors.last(503), /ECONNREFUSED/);
        assert.equal(r.body, upstreamErrorBody(503), 'the body names no server, pool or address');
      } else {
        assert.equal(r.status, 200);
        assert.equal(r.by, 's2');
      }
    }
    if (retries === 0) assert.deepEqual(tally(statuses.map(String)), { '503': 10, '200': 10 }, `retries 0: the s1 turns of round robin fail: ${statuses}`);
    else assert.deepEqual(tally(statuses.map(String)), { '200': 20 }, `retries 2: zero failures: ${statuses}`);
  }
});

test('retries: a request with a body whose connection is reset after the body arrived is never replayed (502); a bodiless GET is', async (t) => {
  // s1 answers GETs (keep-alive) but reads a POST/PUT, or GET /reset, and then resets the connection
  const got: string[] = [];
  const rst = await rawBackend((sock: net.Socket, reader: SocketReader) => {
    void (async () => {
      for (;;) {
        let req;
        try {
          req = await readRequest(reader, 3000);
        } catch {
          sock.destroy();
          return;
        }
        got.push(`${req.method} ${req.target} ${req.body.length}`);
        if (req.method !== 'GET' || req.target === '/reset') {
          sock.resetAndDestroy();
          return;
        }
        sock.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Served-By: s1\r\n\r\nok');
      }
    })();
  });
  t.after(() => rst.close());
  const [s2] = await poolBackends(t, ['s2']);
  const p = await proxyFor(
    t,
    poolYaml({
      pool: 'rtb',
      balance: 'first', // s1 first, always
      servers: [{ name: 's1', port: rst.port, extra: 'max_conn: 100' }, { name: 's2', port: s2!.port }],
      poolLines: ['    retries: 2'],
    }),
  );
  const ok = await send(p.port);
  assert.equal(ok.by, 's1');

  const small = 'x'.repeat(1000);
  const large = 'y'.repeat(200_000);
  // the GET above left an idle upstream connection to s1; each reset closes it
  const cases: Array<{ method: string; body: string; what: string; warm: boolean }> = [
    { method: 'POST', body: small, what: 'POST on a reused upstream connection', warm: true },
    { method: 'POST', body: small, what: 'POST on a fresh upstream connection', warm: false },
    { method: 'POST', body: large, what: 'POST with a 200 kB body', warm: true },
    { method: 'PUT', body: small, what: 'PUT (idempotent, but with a body) on a reused connection', warm: true },
    { method: 'PUT', body: small, what: 'PUT (idempotent, but with a body) on a fresh connection', warm: false },
  ];
  for (const c of cases) {
    if (c.warm) assert.equal((await send(p.port)).by, 's1');
    got.length = 0;
    const connsBefore = rst.connections;
    const r = await send(p.port, { method: c.method, path: '/upload', body: c.body, headers: { 'Content-Type': 'text/plain' } });
    assert.equal(rst.connections - connsBefore, c.warm ? 0 : 1, `${c.what}: upstream connections opened`);
    assert.equal(r.status, 502, `${c.what}: 502 (${r.body.trim()})`);
    assert.deepEqual(got, [`${c.method} /upload ${c.body.length}`], `${c.what}: the server saw it exactly once`);
    assert.equal(s2!.seen.length, 0, `${c.what}: not replayed on s2`);
  }

  // contrast: an idempotent GET without a body that meets a reset is tried again, on s2 in the end
  got.length = 0;
  const g = await send(p.port, { path: '/reset' });
  assert.equal(g.status, 200);
  assert.equal(g.by, 's2');
  assert.deepEqual(s2!.seen, ['/reset']);
  assert.ok(got.every((x) => x === 'GET /reset 0') && got.length >= 1, `s1 saw ${JSON.stringify(got)}`);
});

test('outlier with active checks: a passing check ends an ejection at once (uneject_on_active_pass, on by default); off, the ejection runs its time', async (t) => {
  for (const uneject of [true, false]) {
    const pool = uneject ? 'ola' : 'olb';
    const [s1, s2] = await poolBackends(t, [`${pool}1`, `${pool}2`]);
    s1!.status = 500; // real requests fail, health checks pass
    const ev = recordEvents(t, pool);
    const p = await proxyFor(
      t,
      poolYaml({
        pool,
        servers: [{ name: 's1', port: s1!.port }, { name: 's2', port: s2!.port }],
        poolLines: [
          `    outlier: { consecutive_errors: 2, base_ejection: 30s${uneject ? '' : ', uneject_on_active_pass: false'} }`,
          '    health: { type: http, interval: 100ms, timeout: 100ms, jitter: 0, http: { path: /health } }',
        ],
      }),
    );
    const agent = keepAliveAgent(t);
    for (let i = 0; i < 4 && ev.of('s1', 'ejected').length === 0; i++) await send(p.port, { agent });
    const ejected = await ev.waitState('s1', 'ejected', 1000);
    if (uneject) {
      const back = await ev.waitState('s1', 'returned', 1000);
      assert.match(back.reason, /an active health check passed/, back.reason);
      assert.ok(back.at - ejected.at < 500, `returned within a check interval or so (${back.at - ejected.at} ms)`);
    } else {
      await sleep(600);
      assert.deepEqual(ev.of('s1', 'returned'), [], 'still ejected: base_ejection is 30 s');
    }
  }
});
