/**
 * Active health checks seen through the real HTTP proxy: state events, backup servers,
 * "nothing usable" answers, `initial: down`, `check_port` / `check_address` and slow
 * start. Backends answer Fulcrum's checks (User-Agent fulcrum-health) with a status the
 * test sets, and real traffic with 200, so only the checks decide.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';
import { rawBackend, poolBackends } from '../helpers/backends.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { keepAliveAgent, send } from '../helpers/http-client.js';
import { poolYaml, proxyFor } from '../helpers/proxies.js';
import { recordEvents, tally, recordUpstreamErrors } from '../helpers/pools-util.js';
import { upstreamErrorBody } from '../../src/proxy/http/local-response.js';

/** Fast checks: every 100 ms, no jitter. */
const fastHealth = (extra = '') => `    health: { type: http, interval: 100ms, timeout: 100ms, jitter: 0, http: { path: /health }${extra ? `, ${extra}` : ''} }`;

async function burst(port: number, n: number, agent?: http.Agent): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const r = await send(port, { agent });
    assert.equal(r.status, 200, `request ${i}: ${r.status} ${r.body}`);
    out.push(r.by);
  }
  return out;
}

test('backup: idle while a primary is up; takes everything when both are down (backup-active once); primary-back once when one returns', async (t) => {
  const [p1, p2, bk] = await poolBackends(t, ['p1', 'p2', 'bk']);
  const ev = recordEvents(t, 'bku');
  const p = await proxyFor(
    t,
    poolYaml({
      pool: 'bku',
      servers: [
        { name: 'p1', port: p1!.port },
        { name: 'p2', port: p2!.port },
        { name: 'bk', port: bk!.port, extra: 'backup: true' },
      ],
      poolLines: [fastHealth('fall: 1, rise: 1')],
    }),
  );
  const agent = keepAliveAgent(t);
  assert.deepEqual(tally(await burst(p.port, 20, agent)), { p1: 10, p2: 10 }, 'the backup gets nothing while primaries are up');
  assert.equal(ev.pools.length, 0);

  p1!.healthStatus = 503;
  await ev.waitState('p1', 'down', 2000);
  assert.deepEqual(tally(await burst(p.port, 10, agent)), { p2: 10 }, 'one primary left: still no backup');
  assert.equal(ev.poolEvents('backup-active').length, 0);

  p2!.healthStatus = 503;
  await ev.waitState('p2', 'down', 2000);
  const active = await ev.waitPool('backup-active', 1000);
  assert.match(active.reason, /backup/);
  assert.deepEqual(tally(await burst(p.port, 20, agent)), { bk: 20 }, 'the backup takes all traffic');

  p1!.healthStatus = 200;
  await ev.waitState('p1', 'up', 2000);
  const back = await ev.waitPool('primary-back', 1000);
  assert.ok(back.at >= active.at);
  const bkBefore = bk!.seen.length;
  assert.deepEqual(tally(await burst(p.port, 20, agent)), { p1: 20 }, 'traffic goes back to the returning primary');
  assert.equal(bk!.seen.length, bkBefore);

  await sleep(300); // several more check rounds: no repeated or flapping events
  assert.equal(ev.poolEvents('backup-active').length, 1, `backup-active once: ${JSON.stringify(ev.pools)}`);
  assert.equal(ev.poolEvents('primary-back').length, 1, `primary-back once: ${JSON.stringify(ev.pools)}`);
  assert.equal(ev.poolEvents('no-server').length, 0, 'a usable backup means the pool never had no server');
  assert.equal(ev.of('p1', 'down').length, 1);
  assert.equal(ev.of('p1', 'up').length, 1);
  assert.equal(ev.of('p2', 'down').length, 1);
  assert.equal(ev.of('bk').length, 0);
});

test('nothing usable: every server down by checks gives 503, Retry-After: 1 and a body naming why, at once and without connecting', async (t) => {
  const errors = recordUpstreamErrors(t);
  // the servers' own ports count connections; their checks go to other ports (check_port)
  let conns = 0;
  const main1 = await rawBackend((s) => (conns++, s.destroy()));
  const main2 = await rawBackend((s) => (conns++, s.destroy()));
  t.after(() => Promise.all([main1.close(), main2.close()]));
  const [h1, h2] = await poolBackends(t, ['h1', 'h2'], { healthStatus: 503 });
  const ev = recordEvents(t, 'none');
  const p = await proxyFor(
    t,
    poolYaml({
      pool: 'none',
      servers: [
        { name: 's1', port: main1.port, extra: `check_port: ${h1!.port}` },
        { name: 's2', port: main2.port, extra: `check_port: ${h2!.port}` },
      ],
      poolLines: [fastHealth('fall: 1, rise: 1')],
    }),
  );
  await ev.waitState('s1', 'down', 2000);
  await ev.waitState('s2', 'down', 2000);
  const none = await ev.waitPool('no-server', 1000);
  assert.match(none.reason, /s1 down/);

  for (let i = 0; i < 3; i++) {
    const t0 = Date.now();
    const r = await send(p.port, { path: `/x${i}` });
    const took = Date.now() - t0;
    assert.equal(r.status, 503);
    assert.equal(r.headers['retry-after'], '1');
    assert.match(errors.last(503), /s1 down/);
    assert.match(errors.last(503), /s2 down/);
    assert.equal(r.body, upstreamErrorBody(503), 'the body names no server, pool or address');
    assert.ok(took < 300, `answered at once (${took} ms)`);
  }
  assert.equal(conns, 0, 'no connection was attempted to a server that is down');
});

test('health events: a server whose check answers 503 goes down after `fall` checks and up after `rise`, one event each, with reasons', async (t) => {
  const [s1, s2] = await poolBackends(t, ['s1', 's2']);
  const ev = recordEvents(t, 'hev');
  const failedAt: number[] = [];
  const passedAt: number[] = [];
  ev.onState = (e) => {
    if (e.server !== 's1') return;
    if (e.state === 'down') failedAt.push(s1!.checksByStatus.get(503) ?? 0);
    if (e.state === 'up') passedAt.push(s1!.checksByStatus.get(200) ?? 0);
  };
  const p = await proxyFor(
    t,
    poolYaml({ pool: 'hev', servers: [{ name: 's1', port: s1!.port }, { name: 's2', port: s2!.port }], poolLines: [fastHealth('fall: 2, rise: 2')] }),
  );
  await waitFor(() => s1!.checks >= 2, 2000, 'first checks');
  const agent = keepAliveAgent(t);
  assert.deepEqual(tally(await burst(p.port, 10, agent)), { s1: 5, s2: 5 });

  s1!.healthStatus = 503;
  const down = await ev.waitState('s1', 'down', 2000);
  assert.ok(failedAt[0]! >= 2, `down only after 2 failed checks (saw ${failedAt[0]})`);
  assert.match(down.reason, /^2 checks failed/, down.reason);
  assert.match(down.reason, /503/, down.reason);
  assert.deepEqual(tally(await burst(p.port, 10, agent)), { s2: 10 }, 'no traffic to a server that is down');

  const passedBefore = s1!.checksByStatus.get(200) ?? 0;
  s1!.healthStatus = 200;
  const up = await ev.waitState('s1', 'up', 2000);
  assert.ok(passedAt[0]! - passedBefore >= 2, `up only after 2 passed checks (saw ${passedAt[0]! - passedBefore})`);
  assert.match(up.reason, /^2 checks passed/, up.reason);
  assert.ok(up.at > down.at);
  assert.deepEqual(tally(await burst(p.port, 10, agent)), { s1: 5, s2: 5 });

  await sleep(300);
  assert.deepEqual(
    ev.states.map((e) => `${e.server} ${e.state}`),
    ['s1 down', 's1 up'],
    'one down and one up event, none for s2',
  );
});

test('initial: down: no traffic to a server until `rise` checks pass; one that never passes never gets any', async (t) => {
  const errors = recordUpstreamErrors(t);
  const [s1, s2] = await poolBackends(t, ['s1', 's2']);
  s2!.healthStatus = 503;
  const ev = recordEvents(t, 'ini');
  const passedAt: number[] = [];
  ev.onState = (e) => {
    if (e.server === 's1' && e.state === 'up') passedAt.push(s1!.checksByStatus.get(200) ?? 0);
  };
  const p = await proxyFor(
    t,
    poolYaml({ pool: 'ini', servers: [{ name: 's1', port: s1!.port }, { name: 's2', port: s2!.port }], poolLines: [fastHealth('rise: 3, fall: 1, initial: down')] }),
  );
  const early = await send(p.port);
  assert.equal(early.status, 503, 'nothing usable before the first checks pass');
  assert.equal(early.headers['retry-after'], '1');
  assert.match(errors.last(503), /s1 down, s2 down/);

  const up = await ev.waitState('s1', 'up', 3000);
  assert.ok(passedAt[0]! >= 3, `up only after 3 passed checks (saw ${passedAt[0]})`);
  assert.match(up.reason, /^3 checks passed/);
  assert.deepEqual(tally(await burst(p.port, 10)), { s1: 10 });
  assert.equal(s2!.seen.length, 0);
  await sleep(200);
  assert.deepEqual(
    ev.states.map((e) => `${e.server} ${e.state}`),
    ['s1 up'],
    'the initial state is not an event; s2 stays down without one',
  );
});

test('check_port / check_address: checks go to the other port, the main port sees only real traffic, and the check port alone decides', async (t) => {
  const [m1, c1, m2, c2, m3] = await poolBackends(t, ['s1', 's1-check', 's2', 's2-check', 's3']);
  const ev = recordEvents(t, 'chp');
  const p = await proxyFor(
    t,
    poolYaml({
      pool: 'chp',
      servers: [
        { name: 's1', port: m1!.port, extra: `check_port: ${c1!.port}` },
        { name: 's2', port: m2!.port, extra: `check_address: "127.0.0.1:${c2!.port}"` },
        { name: 's3', port: m3!.port },
      ],
      poolLines: [fastHealth('fall: 1, rise: 1')],
    }),
  );
  await waitFor(() => c1!.checks >= 3 && c2!.checks >= 3 && m3!.checks >= 3, 2000, 'three checks of each server');
  assert.equal(m1!.checks, 0, 's1 main port gets no checks');
  assert.equal(m2!.checks, 0, 's2 main port gets no checks');
  assert.equal(c1!.seen.length + c2!.seen.length, 0, 'check ports get no real traffic');
  const agent = keepAliveAgent(t);
  assert.deepEqual(tally(await burst(p.port, 9, agent)), { s1: 3, s2: 3, s3: 3 });

  // the check port fails while the main port is fine: down all the same
  c1!.healthStatus = 503;
  c2!.healthStatus = 503;
  await ev.waitState('s1', 'down', 2000);
  await ev.waitState('s2', 'down', 2000);
  assert.deepEqual(tally(await burst(p.port, 6, agent)), { s3: 6 });
  c1!.healthStatus = 200;
  await ev.waitState('s1', 'up', 2000);
  assert.deepEqual(tally(await burst(p.port, 6, agent)), { s1: 3, s3: 3 });
  assert.equal(m1!.checks + m2!.checks, 0);
});

test('slow start: a server back from down takes clearly less than its share at first and its full share by the end of slow_start', { timeout: 20_000 }, async (t) => {
  const [s1, s2] = await poolBackends(t, ['s1', 's2']);
  const ev = recordEvents(t, 'slw');
  const p = await proxyFor(
    t,
    poolYaml({
      pool: 'slw',
      servers: [{ name: 's1', port: s1!.port }, { name: 's2', port: s2!.port }],
      poolLines: [fastHealth('fall: 1, rise: 1'), '    slow_start: 2s'],
    }),
  );
  s1!.healthStatus = 503;
  await ev.waitState('s1', 'down', 2000);
  s1!.healthStatus = 200;
  const up = await ev.waitState('s1', 'up', 2000);
  const t0 = up.at;

  // 4 keep-alive clients in a loop for 2.7 s after the server came back
  const agent = keepAliveAgent(t, 4);
  const log: Array<{ at: number; by: string }> = [];
  const end = t0 + 2700;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (Date.now() < end) {
        const r = await send(p.port, { agent });
        assert.equal(r.status, 200);
        log.push({ at: Date.now() - t0, by: r.by });
      }
    }),
  );
  const share = (from: number, to: number) => {
    const w = log.filter((x) => x.at >= from && x.at < to);
    return { n: w.length, s1: w.filter((x) => x.by === 's1').length / Math.max(1, w.length) };
  };
  const windows = [
    [0, 500],
    [500, 1000],
    [1000, 1500],
    [1500, 2000],
    [2100, 2700],
  ].map(([a, b]) => ({ from: a!, to: b!, ...share(a!, b!) }));
  t.diagnostic(`s1 share per window after it came back (weight share 0.5): ${windows.map((w) => `${w.from}-${w.to} ms: ${(w.s1 * 100).toFixed(1)}% of ${w.n}`).join('; ')}`);
  const first = windows[0]!;
  const last = windows[4]!;
  assert.ok(first.n >= 20 && last.n >= 20, `enough requests per window: ${JSON.stringify(windows)}`);
  assert.ok(first.s1 < 0.25, `first 500 ms: s1 well below its 50% share (${(first.s1 * 100).toFixed(1)}%)`);
  assert.ok(last.s1 > 0.4 && last.s1 < 0.6, `after slow_start: s1 at its 50% share (${(last.s1 * 100).toFixed(1)}%)`);
  assert.ok(windows[2]!.s1 > first.s1, 'the share grows');
  const done = await ev.waitState('s1', 'slow-start-done', 1000);
  const after = done.at - t0;
  assert.ok(after >= 1900 && after < 2600, `slow-start-done about 2 s after up (${after} ms)`);
  assert.equal(ev.of('s1', 'slow-start-done').length, 1);
});
